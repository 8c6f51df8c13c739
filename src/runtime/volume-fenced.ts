/**
 * An old owner's writes that never reached the new lineage (issue 13: "kept as a separate, clearly
 * named snapshot, never merged silently, never deleted, and reported"). The driver stores them as
 * the volume `NAME.fenced-e<EPOCH>-<node>` (src/runtime/volume-driver.ts keepFencedWrites); here
 * that becomes a volume of its own in etcd, owned by no service (as a clone is): `warren volume
 * ls` lists it, export and clone read it, `warren volume rm` removes it (nothing else does), and 2
 * peers get a copy, so the only copy of those writes does not hang on one disk. Event
 * `volume.fenced` `{ volume, from, snapshot, epoch, sizeBytes, node }`.
 */
import { VOLUME_KEYS, type VolumeMeta } from '../core/volumes/volume-records.ts';
import type { SnapshotRecord } from '../volumes/volume-store.ts';
import type { VolumeDriver } from './volume-driver.ts';

/** the volume a `.fenced-` volume's writes were made to */
export const fencedFrom = (name: string): string => name.slice(0, name.indexOf('.fenced-'));

export async function registerFenced(driver: VolumeDriver, firstCopies: (m: VolumeMeta, rec: SnapshotRecord) => Promise<string[]>, name: string, rec: SnapshotRecord): Promise<void> {
  const d = driver.d;
  const client = d.client();
  if (!client) throw new Error('no etcd connection');
  const meta: VolumeMeta = { name, service: '', slot: 0, volume: name, owner: '', epoch: rec.epoch ?? 1, since: Date.now() };
  const key = VOLUME_KEYS.metaPrefix + name;
  // created once: a record there already (this node's earlier try, or a removal's tombstone) stays.
  // This node's copy is recorded in the same transaction: the volume is never listed without the
  // copy that holds its only data (nor left so by a failure between two writes)
  const copy = driver.copyRecord(name, rec, false);
  const res = await client.if(key, 'Create', '==', 0).then(client.put(key).value(JSON.stringify(meta)), client.put(copy.key).value(copy.value)).commit();
  if (!res.succeeded) return;
  const from = fencedFrom(name);
  d.logger.warn({ volume: name, from, snapshot: rec.id, sizeBytes: rec.sizeBytes }, `writes to ${from} the new owner never got are kept as volume ${name} (warren volume export/clone it, or rm it)`);
  d.event('volume.fenced', { volume: name, from, snapshot: rec.id, epoch: meta.epoch, sizeBytes: rec.sizeBytes, node: d.selfId });
  void firstCopies(meta, rec).catch((err: unknown) => d.logger.warn({ volume: name, err: String(err) }, 'the kept writes reached no peer yet'));
}
