import type { SchedNode } from '../core/scheduler.ts';
import { volumeHome, type VolumeHome } from '../core/volumes/volume-home.ts';
import { homeVolumes } from '../core/volumes/stack-volumes.ts';
import type { Catalog } from './catalog.ts';

/** Where each replica slot with replicated volumes (its own, or its stack's) may be placed, from the catalog's volume records. */
export function volumeHomesOf(catalog: Catalog, nodes: readonly SchedNode[]): Record<string, VolumeHome> {
  const out: Record<string, VolumeHome> = {};
  const meta = new Map([...catalog.maps.volumeMeta].filter(([, v]) => !v.value.removed).map(([k, v]) => [k, v.value]));
  const copies = [...catalog.maps.volumeCopies.values()].map((v) => v.value);
  const homeNodes = nodes.map((n) => ({ id: n.id, name: n.name, alive: n.state === 'alive' }));
  const services = catalog.services();
  for (const svc of services) {
    for (let slot = 0; slot < svc.replicas; slot++) {
      // a stack service's slot: its siblings' volumes too (the stack is placed together)
      const volumes = homeVolumes(svc, slot, services);
      if (volumes.length) out[`${svc.name}/${slot}`] = volumeHome({ volumes, meta, copies, nodes: homeNodes });
    }
  }
  return out;
}
