import { existsSync, statfsSync } from 'node:fs';
import { PassThrough, pipeline, type Readable, Transform } from 'node:stream';
import { UserError, messageOf } from '../core/errors.ts';
import { newestSnapshot } from '../core/volumes/copy-choice.ts';
import { manifestChunks, type Manifest } from '../core/volumes/manifest.ts';
import { roomFor } from '../core/volumes/chunk-need.ts';
import { VOLUME_KEYS, type VolumeMeta } from '../core/volumes/volume-records.ts';
import { volumeUsers } from '../core/volumes/stack-volumes.ts';
import type { ChunkStore } from '../volumes/chunk-store.ts';
import { httpTransport, pushSnapshot } from '../volumes/replication.ts';
import { exportTar, importTar } from '../volumes/tar.ts';
import { checkVolumeName, type SnapshotRecord } from '../volumes/volume-store.ts';
import { LABELS } from './docker-engine.ts';
import type { VolumeDriver } from './volume-driver.ts';
import { registerFenced } from './volume-fenced.ts';
import { askHandover, HANDOVER_MS } from './volume-handover.ts';
import type { CloneResult, ExportStream, ImportResult, RestoreResult } from './volume-ops-results.ts';
import { monoNow } from '../system/clock.ts';

/** How long retention keeps the state a restore replaced (`before`): the daily window. */
export const KEEP_BEFORE_MS = 7 * 24 * 3_600_000;
/** Import: the disk's free space is checked again after every this many bytes of tar. */
const IMPORT_CHECK_BYTES = 16 * 2 ** 20;
/** A new volume (clone, import) waits this long at most for its first 2 copies. */
const FIRST_COPIES_MS = 15_000;

const stats = (skipped: string[] = []) => ({ files: 0, changed: 0, frozenCopyBytes: 0, directBytes: 0, reusedBytes: 0, refused: [], skipped });

/**
 * Restore, clone, export and import of replicated volumes, carried out on this node (the HTTP
 * side, src/runtime/volume-ops-api.ts, sends each to the node that can do it). Built beside the
 * driver (src/runtime/volume-driver.ts), whose lock (`lock`, volume-lock.ts), start holds, copy records and
 * replication it uses.
 */
export class VolumeOps {
  constructor(private readonly driver: VolumeDriver) {
    driver.handover = (name, meta) => askHandover(driver.d, name, meta);
    driver.keptFenced = (name, rec) => registerFenced(driver, (m, r) => this.firstCopies(m, r), name, rec);
  }

  private get d() {
    return this.driver.d;
  }

  private get store() {
    return this.driver.store;
  }

  /** the volume's record, unless it is absent or a removal's tombstone */
  meta(name: string): VolumeMeta | undefined {
    const m = this.d.catalog.maps.volumeMeta.get(name)?.value;
    return m && !m.removed ? m : undefined;
  }

  private mustMeta(name: string): VolumeMeta {
    const m = this.meta(name);
    if (!m) throw new UserError('not_found', `no volume "${name}" (see warren volume ls)`, 404);
    return m;
  }

  /** this node's store holds the snapshot */
  holds(name: string, snapshot: string): boolean {
    return this.store.list(name).some((r) => r.id === snapshot);
  }

  /** The newest snapshot of the volume in this node's store (the lineage's order: epoch, then seq). */
  newestLocal(name: string): SnapshotRecord | undefined {
    return newestSnapshot(this.store.list(name));
  }

  private pick(name: string, snapshot: string | undefined): SnapshotRecord {
    if (snapshot !== undefined) return this.store.record(name, snapshot);
    const r = this.newestLocal(name);
    if (!r) throw new UserError('no_such_snapshot', `volume ${name} has no snapshot on this node yet`, 404);
    return r;
  }

  /** Takes the volume's lock (the driver's: no scheduled snapshot cycle starts while it waits or runs), runs fn, gives it back. */
  private async locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (!(await this.driver.lock.take(name, 120_000))) throw new UserError('busy', `volume ${name} is busy (a snapshot or transfer takes long): try again`, 409);
    try {
      return await fn();
    } finally {
      this.driver.lock.release(name);
    }
  }

  /** Keeps a snapshot's chunks from GC (retention may delete the snapshot itself meanwhile). */
  private async pinned<T>(name: string, rec: SnapshotRecord, fn: () => Promise<T>): Promise<T> {
    const key = `ops:${name}/${rec.id}/${Math.random()}`;
    const hashes = new Set(rec.manifest.map((c) => c.hash));
    for (const c of manifestChunks(this.store.manifest(name, rec.id))) hashes.add(c.hash);
    this.store.pin(key, hashes, 24 * 3_600_000);
    try {
      return await fn();
    } finally {
      this.store.unpin(key);
    }
  }

  // ---- restore ----------------------------------------------------------------------------------

  /**
   * Rolls the volume back to `snapshot` on this node, its owner: the replica mounting it is removed
   * (and held from starting), the data is snapshotted as it is (`before`, kept a week), the snapshot
   * applied to the live copy, and the result snapshotted again: a new seq in the current epoch, so
   * it is the newest of the lineage everywhere and the peers' warm copies follow it. The replica
   * starts again once the hold is lifted. A volume no service owns has no live copy: its lineage
   * gets the same two records (`before`, restored) and every copy follows.
   */
  async restore(name: string, snapshot: string): Promise<RestoreResult> {
    const m = this.mustMeta(name);
    if (m.owner && m.owner !== this.d.selfId) throw new UserError('not_owner', `volume ${name} is not live on this node`, 409);
    const target = this.store.record(name, snapshot);
    return this.locked(name, () => this.pinned(name, target, async () => {
      const result = m.owner ? await this.restoreLive(m, target) : await this.restoreLineage(m, target);
      this.d.event('volume.restored', { volume: name, service: m.service || null, snapshot, before: result.before.id, restored: result.restored.id, node: this.d.selfId });
      this.d.logger.info({ volume: name, snapshot, before: result.before.id, restored: result.restored.id }, 'volume restored');
      return { volume: name, restored: snapshot, before: result.before.id, snapshot: result.restored.id, replicated: result.replicated };
    }));
  }

  private async restoreLive(m: VolumeMeta, target: SnapshotRecord): Promise<{ before: SnapshotRecord; restored: SnapshotRecord; replicated: string[] }> {
    const name = m.name;
    const dir = this.driver.liveDir(name);
    if (!existsSync(dir)) throw new UserError('no_live_copy', `volume ${name}: no live copy on this node`, 409);
    let before: SnapshotRecord, restored: SnapshotRecord;
    this.driver.holds.set(name, `volume ${name} is being restored to snapshot ${target.id}`);
    try {
      await this.removeReplica(m);
      before = await this.store.snapshot(name, dir, { epoch: m.epoch, keepUntil: Date.now() + KEEP_BEFORE_MS });
      await this.store.restore(name, target.id, dir);
      restored = await this.store.snapshot(name, dir, { epoch: m.epoch });
      await this.driver.record(name, restored, true);
      // a container the reconciler made meanwhile would hold the replaced directory
      await this.removeReplica(m);
    } finally {
      this.driver.holds.delete(name);
    }
    // the peers get `before` first (so it is kept beyond this node), then the newest
    await this.driver.replicate(m, before);
    const replicated = await this.driver.replicate(m, restored);
    return { before, restored, replicated };
  }

  private async restoreLineage(m: VolumeMeta, target: SnapshotRecord): Promise<{ before: SnapshotRecord; restored: SnapshotRecord; replicated: string[] }> {
    const name = m.name;
    const newest = this.newestLocal(name)!;
    const now = Date.now();
    const before = await this.store.save(name, { ...this.store.manifest(name, newest.id), createdAt: now }, stats(), 0, { epoch: m.epoch, keepUntil: now + KEEP_BEFORE_MS });
    const restored = await this.store.save(name, { ...this.store.manifest(name, target.id), createdAt: now }, stats(), 0, { epoch: m.epoch });
    await this.store.applyTo(name, restored.id, this.driver.liveDir(name));
    await this.driver.record(name, restored, true);
    await this.driver.replicate(m, before);
    return { before, restored, replicated: await this.driver.replicate(m, restored) };
  }

  /**
   * Stops and removes this node's containers of the replica mounting the volume (any state); one
   * the reconciler removed meanwhile is gone all the same.
   */
  private async removeReplica(m: VolumeMeta): Promise<void> {
    // every replica that mounts it: a stack's volume may be shared by several of its services
    const users = new Set(volumeUsers(m.name, this.d.catalog.services()).map((u) => `${u.service}/${u.slot}`));
    if (m.service) users.add(`${m.service}/${m.slot}`);
    if (users.size === 0) return;
    const engine = this.d.engine;
    const all = await engine.docker.listContainers({ all: true, filters: { label: [`${LABELS.node}=${this.d.selfId}`] } });
    const list = all.filter((c) => users.has(`${c.Labels[LABELS.service]}/${c.Labels[LABELS.slot]}`));
    for (const c of list) {
      if (c.State === 'running' || c.State === 'paused' || c.State === 'restarting') await engine.stop(c.Id, 10).catch(() => undefined);
      await engine.remove(c.Id).catch((err: unknown) => {
        if (!/no such container|is already in progress/i.test(messageOf(err))) throw err;
      });
    }
  }

  // ---- a planned move: the old owner hands its last writes over (the new one asks: volume-handover.ts)

  /**
   * On the owner, asked by the node the volume's replica moved to: stops and removes the replica
   * here (it is no longer assigned here: the reconciler would too), snapshots the live copy (its
   * last writes) and pushes that snapshot to the new node before answering.
   */
  async handOver(name: string, to: string): Promise<{ snapshot: string; sentBytes: number }> {
    const m = this.mustMeta(name);
    if (m.owner !== this.d.selfId) throw new UserError('not_owner', `volume ${name} is not live on this node`, 409);
    const slot = this.d.catalog.assignment(m.service)?.slots.find((s) => s.index === m.slot);
    if (slot?.nodeId === this.d.selfId) throw new UserError('still_assigned', `volume ${name}: its replica is still assigned to this node`, 409);
    const api = this.d.catalog.maps.nodes.get(to)?.value.api;
    if (!api) throw new UserError('node_unknown', `node ${to} is not a known member`, 404);
    const dir = this.driver.liveDir(name);
    if (!existsSync(dir)) throw new UserError('no_live_copy', `volume ${name}: no live copy on this node`, 409);
    return this.locked(name, async () => {
      await this.removeReplica(m);
      const rec = await this.store.snapshot(name, dir, { epoch: m.epoch, skipUnchanged: true });
      await this.driver.record(name, rec, true).catch(() => undefined);
      const res = await pushSnapshot(this.store, rec, httpTransport(api, this.d.sign, { timeoutMs: HANDOVER_MS }));
      this.driver.counters.sentBytes += res.sentBytes;
      // the new owner has every write: nothing to keep aside when this copy follows its lineage
      this.driver.handedOver(name);
      this.d.logger.info({ volume: name, to, snapshot: rec.id, sentBytes: res.sentBytes }, 'volume handed over to its new node');
      return { snapshot: rec.id, sentBytes: res.sentBytes };
    });
  }

  // ---- clone and import: a new volume -----------------------------------------------------------

  /** A new volume, `to`, whose first snapshot is `snapshot` of `name` (its newest here when none is named). */
  async clone(name: string, snapshot: string | undefined, to: string): Promise<CloneResult> {
    this.mustMeta(name);
    checkVolumeName(to);
    const src = this.pick(name, snapshot);
    return this.pinned(name, src, () => this.locked(to, async () => {
      const manifest = this.store.manifest(name, src.id);
      const { rec, replicated } = await this.createVolume(to, { ...manifest, createdAt: Date.now() }, 0, []);
      this.d.logger.info({ volume: to, from: name, snapshot: src.id, as: rec.id }, 'volume cloned');
      return { volume: to, from: name, snapshot: src.id, replicated };
    }));
  }

  /**
   * A new volume from a tar (src/volumes/tar.ts): refused (409) when the name is taken, whatever it
   * holds; the disk is checked before (from the size the caller announces) and while the tar
   * streams in: 507 when it would leave less than the replication reserve free.
   */
  async importTar(name: string, input: Readable, announcedBytes?: number): Promise<ImportResult> {
    try {
      return await this.importWith(name, announcedBytes, (pinning) => {
        // pipeline, not pipe: a client that goes away mid-upload must end the import (and free the name)
        const guarded = pipeline(input, this.roomGuard(name), () => undefined);
        return importTar(pinning, guarded);
      });
    } catch (err) {
      input.destroy();
      throw err;
    }
  }

  /**
   * A new volume from what `fill` stores (a tar, a directory): refused when the name is taken or
   * `announcedBytes` would not fit. `pinning` stores a chunk and pins it, and `pinKey` pins a set
   * (VolumeStore.pin): a GC meanwhile must leave the new volume's chunks.
   */
  async importWith(name: string, announcedBytes: number | undefined, fill: (pinning: ChunkStore, pinKey: string) => Promise<{ manifest: Manifest; newBytes: number; skipped: string[] }>): Promise<ImportResult> {
    checkVolumeName(name);
    this.checkFree(name);
    if (announcedBytes !== undefined) this.checkRoom(name, announcedBytes);
    return this.locked(name, async () => {
      this.checkFree(name);
      const hashes = new Set<string>();
      const key = `import:${name}/${Math.random()}`;
      this.store.pin(key, hashes, 24 * 3_600_000);
      try {
        const chunks = this.store.chunks;
        const pinning = { put: (hash: string, data: Uint8Array) => (hashes.add(hash), chunks.put(hash, data)) } as unknown as ChunkStore;
        const { manifest, newBytes, skipped } = await fill(pinning, key);
        const { rec, replicated } = await this.createVolume(name, manifest, newBytes, skipped);
        this.d.logger.info({ volume: name, snapshot: rec.id, sizeBytes: rec.sizeBytes, newBytes }, 'volume imported');
        return { volume: name, snapshot: rec.id, sizeBytes: rec.sizeBytes, files: rec.files, skipped, replicated };
      } finally {
        this.store.unpin(key);
      }
    });
  }

  checkRoom(name: string, bytes: number): void {
    const s = statfsSync(this.store.dataDir);
    const room = roomFor(bytes, s.bavail * s.bsize, this.driver.receiver.reserveBytes);
    if (!room.ok) throw new UserError('insufficient_storage', `volume ${name}: ${room.reason}`, 507);
  }

  /** Passes the tar through, checking the disk every IMPORT_CHECK_BYTES (a 507 stops the import). */
  private roomGuard(name: string): Transform {
    let since = 0;
    return new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        since += chunk.length;
        if (since >= IMPORT_CHECK_BYTES) {
          since = 0;
          try {
            this.checkRoom(name, IMPORT_CHECK_BYTES);
          } catch (err) {
            return cb(err as Error);
          }
        }
        cb(null, chunk);
      },
    });
  }

  /** 409 when the name is taken (a record in etcd, or snapshots of that name on this node). */
  private checkFree(name: string): void {
    if (this.meta(name)) throw new UserError('volume_exists', `volume ${name} exists: choose another name, or remove it first (warren volume rm ${name})`, 409);
    const tombstone = this.d.catalog.maps.volumeMeta.get(name)?.value.removed;
    if (!tombstone && this.store.list(name).length) throw new UserError('volume_exists', `this node holds snapshots of a volume named ${name}: choose another name`, 409);
  }

  /**
   * Claims the name in etcd (no owner yet: the first service that mounts it takes it, on a node
   * holding a copy), stores the snapshot, applies it to this node's copy and sends it to 2 peers.
   */
  private async createVolume(name: string, manifest: Manifest, newBytes: number, skipped: string[]): Promise<{ rec: SnapshotRecord; replicated: string[] }> {
    this.checkFree(name);
    const client = this.d.client();
    if (!client) throw new UserError('not_ready', 'this node has no etcd connection', 503);
    // a removed volume's snapshots this node has not deleted yet: they are not this volume's
    const stale = this.store.list(name).map((r) => r.id);
    if (stale.length) await this.store.deleteMany(name, stale);
    const meta: VolumeMeta = { name, service: '', slot: 0, volume: name, owner: '', epoch: 1, since: Date.now() };
    const key = VOLUME_KEYS.metaPrefix + name;
    const raw = this.d.catalog.maps.volumeMeta.get(name);
    const txn = raw ? client.if(key, 'Mod', '==', raw.modRevision) : client.if(key, 'Create', '==', 0);
    const res = await txn.then(client.put(key).value(JSON.stringify(meta))).commit();
    if (!res.succeeded) throw new UserError('volume_exists', `volume ${name} was created meanwhile`, 409);
    await this.seen(name);
    const rec = await this.store.save(name, manifest, stats(skipped), newBytes, { epoch: 1 });
    await this.store.applyTo(name, rec.id, this.driver.liveDir(name));
    await this.driver.record(name, rec, true);
    return { rec, replicated: await this.firstCopies(meta, rec) };
  }

  /** Waits until this node's catalog has the new record (the driver's removal sweep reads it). */
  private async seen(name: string): Promise<void> {
    const until = monoNow() + 5_000;
    while (!this.meta(name) && monoNow() < until) await new Promise((r) => setTimeout(r, 20));
  }

  /** Replicates a new volume's first snapshot, again while a peer has not seen its record yet. */
  private async firstCopies(m: VolumeMeta, rec: SnapshotRecord): Promise<string[]> {
    const until = monoNow() + FIRST_COPIES_MS;
    const live = this.d.liveness();
    const others = this.d.catalog.nodes().filter((n) => n.id !== this.d.selfId && live[n.id]?.state === 'alive').length;
    const want = Math.min(2, others);
    for (;;) {
      const done = await this.driver.replicate(m, rec);
      if (done.length >= want || monoNow() > until) {
        if (done.length < want) this.d.logger.warn({ volume: m.name, peers: done }, 'a new volume reached fewer than 2 peers; its next snapshot tries again');
        return done;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  // ---- export ----------------------------------------------------------------------------------

  /** `snapshot` of the volume (its newest here when none is named) as a pax tar stream. */
  exportTar(name: string, snapshot: string | undefined): ExportStream {
    this.mustMeta(name);
    const rec = this.pick(name, snapshot);
    const manifest = this.store.manifest(name, rec.id);
    const out = new PassThrough();
    void this.pinned(name, rec, () => exportTar(this.store.chunks, manifest, out)).catch((err: unknown) => {
      this.d.logger.warn({ volume: name, snapshot: rec.id, err: messageOf(err) }, 'volume export failed');
      out.destroy(err as Error);
    });
    return { snapshot: rec.id, sizeBytes: rec.sizeBytes, body: out };
  }
}
