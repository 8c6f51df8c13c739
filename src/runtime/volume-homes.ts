import type { SchedNode } from '../core/scheduler.ts';
import { volumeHome, type VolumeHome } from '../core/volumes/volume-home.ts';
import { warrenVolumes } from '../core/volumes/volume-records.ts';
import type { Catalog } from './catalog.ts';

/** Where each replica slot with replicated volumes may be placed, from the catalog's volume records. */
export function volumeHomesOf(catalog: Catalog, nodes: readonly SchedNode[]): Record<string, VolumeHome> {
  const out: Record<string, VolumeHome> = {};
  const meta = new Map([...catalog.maps.volumeMeta].filter(([, v]) => !v.value.removed).map(([k, v]) => [k, v.value]));
  const copies = [...catalog.maps.volumeCopies.values()].map((v) => v.value);
  const homeNodes = nodes.map((n) => ({ id: n.id, name: n.name, alive: n.state === 'alive' }));
  for (const svc of catalog.services()) {
    for (let slot = 0; slot < svc.replicas; slot++) {
      const volumes = warrenVolumes(svc.name, slot, svc.volumes).map((v) => v.name);
      if (volumes.length) out[`${svc.name}/${slot}`] = volumeHome({ volumes, meta, copies, nodes: homeNodes });
    }
  }
  return out;
}
