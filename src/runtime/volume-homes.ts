import type { SchedNode } from '../core/scheduler.ts';
import type { VolumeHome } from '../core/volumes/volume-home.ts';
import { slotHomes } from '../core/volumes/stack-volumes.ts';
import type { Catalog } from './catalog.ts';

/** Where each replica slot with replicated volumes (its own, or its stack's) may be placed, from the catalog's volume records. */
export function volumeHomesOf(catalog: Catalog, nodes: readonly SchedNode[]): Record<string, VolumeHome> {
  const meta = new Map([...catalog.maps.volumeMeta].filter(([, v]) => !v.value.removed).map(([k, v]) => [k, v.value]));
  const copies = [...catalog.maps.volumeCopies.values()].map((v) => v.value);
  return slotHomes(catalog.services(), meta, copies, nodes.map((n) => ({ id: n.id, name: n.name, alive: n.state === 'alive' })));
}
