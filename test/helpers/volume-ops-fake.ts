import { join, resolve } from 'node:path';
import pino from 'pino';
import type { CopyRecord, VolumeMeta } from '../../src/core/volumes/volume-records.ts';
import type { VolumeDriver } from '../../src/runtime/volume-driver.ts';
import { VolumeLock } from '../../src/runtime/volume-lock.ts';
import { VolumeOps } from '../../src/runtime/volume-ops.ts';
import type { SnapshotRecord, VolumeStore } from '../../src/volumes/volume-store.ts';

/**
 * VolumeOps (src/runtime/volume-ops.ts) on a real store and real files, with the cluster around it
 * made of maps: an etcd whose transactions write the catalog's volume records at once, no peers
 * (replication reaches nobody), no Docker (volumes without a service). What it records: events,
 * copy records.
 */
export function opsOnStore(store: VolumeStore, dataDir: string, opts: { reserveBytes?: number } = {}) {
  const volumeMeta = new Map<string, { value: VolumeMeta; modRevision: string }>();
  const volumeCopies = new Map<string, { value: CopyRecord }>();
  const events: { name: string; payload: Record<string, unknown> }[] = [];
  let rev = 1;
  const client = {
    put: (key: string) => ({ value: (text: string) => ({ key, text }) }),
    if: (key: string, what: 'Mod' | 'Create', _op: string, want: string | number) => ({
      then: (op: { key: string; text: string }) => ({
        commit: async () => {
          const name = key.slice('/warren/volume-meta/'.length);
          const cur = volumeMeta.get(name);
          const ok = what === 'Create' ? !cur : cur?.modRevision === want;
          if (ok) volumeMeta.set(name, { value: JSON.parse(op.text) as VolumeMeta, modRevision: String(++rev) });
          return { succeeded: ok };
        },
      }),
    }),
  };
  const catalog = { maps: { volumeMeta, volumeCopies, volumePolicies: new Map(), nodes: new Map() }, nodes: () => [], service: () => undefined, services: () => [] };
  const driver = {
    d: { selfId: 'self', catalog, client: () => client, liveness: () => ({}), event: (name: string, payload: Record<string, unknown>) => events.push({ name, payload }), logger: pino({ level: 'silent' }), intervalMs: 1000 },
    store,
    receiver: { reserveBytes: opts.reserveBytes ?? 0 },
    lock: new VolumeLock(),
    holds: new Map<string, string>(),
    liveDir: (name: string) => resolve(dataDir, 'volume-data', name),
    record: async (name: string, rec: SnapshotRecord, applied: boolean) => {
      volumeCopies.set(`${name}/self`, { value: { volume: name, node: 'self', snapshot: rec.id, seq: rec.seq, epoch: rec.epoch ?? 0, createdAt: rec.createdAt, sizeBytes: rec.sizeBytes, applied, updatedAt: Date.now() } });
    },
    replicate: async () => [],
  };
  const ops = new VolumeOps(driver as unknown as VolumeDriver);
  /** a volume record as a service's take-over writes it (this node the owner) */
  const own = (name: string, service = '') => volumeMeta.set(name, { value: { name, service, slot: 0, volume: name, owner: 'self', epoch: 1, since: Date.now() }, modRevision: String(++rev) });
  return { ops, events, volumeMeta, volumeCopies, driver, own, liveDir: driver.liveDir, storeDir: join(dataDir, 'volume-store') };
}
