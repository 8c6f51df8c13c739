import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { messageOf, UserError } from '../core/errors.ts';
import type { DesiredReplica } from '../core/reconcile-plan.ts';
import { VOLUME_KEYS, type CopyRecord, type VolumeMeta } from '../core/volumes/volume-records.ts';
import { slotVolumes, volumeUsers } from '../core/volumes/stack-volumes.ts';
import { newestSnapshot } from '../core/volumes/copy-choice.ts';
import type { EffectivePolicy } from '../core/volumes/volume-policy.ts';
import type { NodeState } from '../core/views.ts';
import { SnapshotReceiver, type CallAuth } from '../volumes/replication.ts';
import { VolumeStore, type SnapshotRecord } from '../volumes/volume-store.ts';
import type { Catalog } from './catalog.ts';
import { freeze, slotContainers, thaw, type Frozen } from './container-freeze.ts';
import type { DockerEngine, EngineIdentity } from './docker-engine.ts';
import { PushLedger, replicateSnapshot, type PushFailure } from './volume-replicate.ts';
import { finalCycles, SnapshotSchedule } from './volume-schedule.ts';
import { deleteCopy, keepFencedWrites, retainSnapshots, volumePolicy } from './volume-upkeep.ts';
import { takeVolume } from './volume-take.ts';
import { monoNow } from '../system/clock.ts';
import { VolumeLock } from './volume-lock.ts';
import { cycleAnswersAsk } from '../core/volumes/snapshot-ask.ts';

export interface VolumeDriverDeps {
  dataDir: string;
  selfId: string;
  catalog: Catalog;
  engine: DockerEngine;
  client: () => Etcd3 | undefined;
  identity: () => EngineIdentity | undefined;
  liveness: () => Record<string, { state: NodeState } | undefined>;
  /** signs a node-to-node call (src/http/node-auth.ts) */
  sign: Exclude<CallAuth, string>;
  event: (name: 'volume.snapshot' | 'volume.replicated' | 'volume.replication_failed' | 'volume.restored' | 'volume.at_risk' | 'volume.fenced', payload: Record<string, unknown>) => void;
  intervalMs: number;
  /** --volume-reserve: what a snapshot from a peer must leave free */
  reserveBytes: number;
  logger: Logger;
}

export type Prepared = { binds: string[] } | { wait: string };

/** A snapshot taken, the peers that hold it, and those the push did not reach (why: their answer). */
export interface Snapshotted {
  snapshot: SnapshotRecord;
  replicated: string[];
  failed: PushFailure[];
}

/** how often retention (volume-upkeep.ts) runs */
const RETAIN_EVERY_MS = 60_000;

/**
 * The agent side of replicated volumes (DESIGN.md "Volumes"). On the node running a replica:
 * takes its volumes over (owner epoch +1 in etcd, its warm copy brought up to date) before the
 * container starts, then snapshots every `intervalMs`, or the volume's own interval (`warren volume
 * policy`: volume-policy.ts), the containers paused only for the freeze
 * step) and pushes each snapshot to 2 other nodes. On the others: receives snapshots (refusing an
 * older epoch than etcd's), records the copy in etcd and keeps a warm copy applied.
 *
 * The push to peers is volume-replicate.ts; retention and an old owner's kept writes volume-upkeep.ts.
 *
 *   DATA/volume-store/     the node's chunk store and snapshot records (src/volumes/volume-store.ts)
 *   DATA/volume-data/NAME  the volume's copy on this node: live (bind-mounted) on its owner, warm elsewhere
 */
export class VolumeDriver {
  readonly store: VolumeStore;
  readonly receiver: SnapshotReceiver;
  /** the owner's snapshot timer: which volumes are due (each by its own interval) */
  readonly schedule: SnapshotSchedule;
  /** volumes this node owns and whose live copy is ready, with the epoch it owns them at */
  readonly owned = new Map<string, number>();
  /** a snapshot, restore or removal under way (volume-ops.ts takes it too) */
  readonly lock = new VolumeLock();
  /** volumes whose replica must not start, with why (a restore under way: volume-ops.ts) */
  readonly holds = new Map<string, string>();
  /** before taking a volume over from a live owner: its final snapshot handed over (volume-ops.ts) */
  handover: ((name: string, meta: VolumeMeta) => Promise<void>) | undefined;
  /** an old owner's writes kept as `NAME.fenced-...`: made a volume of their own (volume-fenced.ts) */
  keptFenced: ((name: string, rec: SnapshotRecord) => Promise<void>) | undefined;
  /** each volume's last cycle that made a new snapshot: when its freeze began, and what it gave (snapshotNow may answer with it) */
  private readonly lastCycle = new Map<string, { frozenAt: number; result: Snapshotted }>();
  /** warm applies under way, one per volume */
  readonly applying = new Map<string, Promise<void>>();
  /** take-overs in flight: a stack's services sharing a volume prepare it one at a time */
  private readonly taking = new Map<string, Promise<string | undefined>>();
  private stopped = false;
  private retainedAt = monoNow();
  /** for /metrics */
  readonly counters = { sentBytes: 0, receivedBytes: 0, pauseMs: new Map<string, number>(), applyMs: new Map<string, number>(),
    /** when (monoNow) the live copy was last captured in a snapshot that is on a peer too (an unchanged volume's cycle counts) */
    safeAt: new Map<string, number>() };
  /** pushes under way, and the peers each volume's last push did not reach (volume-replicate.ts) */
  readonly pushes = new PushLedger();

  /** `d` is read by volume-ops.ts (restore, clone, export, import) too */
  constructor(readonly d: VolumeDriverDeps) {
    this.schedule = new SnapshotSchedule(d.intervalMs, () => void this.tick());
    this.store = new VolumeStore(join(d.dataDir, 'volume-store'));
    this.receiver = new SnapshotReceiver(this.store, { reserveBytes: d.reserveBytes });
    const receive = this.receiver.receive.bind(this.receiver);
    this.receiver.receive = async (body) => {
      const r = await receive(body);
      this.counters.receivedBytes += r.bytes;
      return r;
    };
    const applyTo = this.store.applyTo.bind(this.store);
    this.store.applyTo = async (volume, id, target, opts) => {
      const t0 = performance.now();
      await applyTo(volume, id, target, opts);
      this.counters.applyMs.set(volume, Math.round(performance.now() - t0));
    };
  }

  liveDir(name: string): string {
    return resolve(this.d.dataDir, 'volume-data', name);
  }

  start(): void {
    this.schedule.start();
  }

  /** the volume's interval and retention: its own policy's fields over the agent's defaults */
  policy(name: string): EffectivePolicy {
    return volumePolicy(this.d.catalog, name, this.d.intervalMs);
  }

  /** Stops snapshotting; a snapshot in flight finishes first (at most `waitMs`), so no container stays paused. */
  async pause(waitMs = 10_000): Promise<void> {
    this.stopped = true;
    this.schedule.stop();
    const deadline = monoNow() + waitMs;
    while (this.lock.size > 0 && monoNow() < deadline) await new Promise((r) => setTimeout(r, 25));
  }

  /**
   * After a graceful stop stopped this node's containers: one last snapshot of every volume it
   * owns, replicated, within `timeoutMs`. Nothing writes any more, so the copies elsewhere then
   * hold every write: if the node does not come back within its restart grace, its services fail
   * over losing nothing (a crash still loses up to one snapshot interval).
   */
  async finalSnapshots(timeoutMs = 15_000): Promise<void> {
    const owned = [...this.owned].flatMap(([name, epoch]) => {
      const m = this.meta(name)?.value;
      return m && m.owner === this.d.selfId && m.epoch === epoch ? [m] : [];
    });
    await finalCycles(owned, (m) => this.snapshotAndReplicate(m), this.d.logger, timeoutMs);
  }

  async stop(): Promise<void> {
    await this.pause();
    await this.store.close().catch(() => undefined);
  }

  /** the volume's record, unless it is a removal's tombstone */
  meta(name: string) {
    const m = this.d.catalog.maps.volumeMeta.get(name);
    return m?.value.removed ? undefined : m;
  }

  /** the volume's copies on nodes of the registry */
  copies(name: string): CopyRecord[] {
    return [...this.d.catalog.maps.volumeCopies.values()].map((v) => v.value).filter((c) => c.volume === name && this.d.catalog.maps.nodes.has(c.node));
  }

  /** Newest local snapshot of the volume's lineage as etcd knows it (a later epoch is not trusted). */
  newestLocal(name: string, maxEpoch: number): SnapshotRecord | undefined {
    return newestSnapshot(this.store.list(name).filter((r) => (r.epoch ?? 0) <= maxEpoch));
  }

  // ---- the reconciler's hook: before a replica's container is created ------------------------

  /** The binds for a replica's volumes, once this node owns its replicated ones; or why it waits. */
  async prepare(r: DesiredReplica): Promise<Prepared> {
    const id = this.d.identity();
    if (!id) return { wait: 'not a cluster member yet' };
    const binds: string[] = [];
    for (const v of r.spec.volumes) {
      // not replicated: a Docker volume of this node's own (several agents may share one engine)
      if (v.local) binds.push(`warren_${r.service}_${v.name}_${id.nodeId.slice(-8).toLowerCase()}:${v.path}`);
    }
    for (const v of slotVolumes(r.service, r.slot, r.spec)) {
      // a restore holds the replica (volume-ops.ts); otherwise take the volume over, one taker at a time
      const why = this.holds.get(v.name) ?? (await this.takeSerially(v.name, r));
      if (why) return { wait: why };
      binds.push(`${this.liveDir(v.name)}:${v.path}${v.readOnly ? ':ro' : ''}`);
    }
    return { binds };
  }

  private async takeSerially(name: string, r: DesiredReplica): Promise<string | undefined> {
    for (let p = this.taking.get(name); p; p = this.taking.get(name)) await p.catch(() => undefined);
    const p = takeVolume(this, name, r);
    this.taking.set(name, p);
    try {
      return await p;
    } finally {
      if (this.taking.get(name) === p) this.taking.delete(name);
    }
  }

  /** the replica slots whose spec mounts the volume (several for a stack's shared volume) */
  users(name: string) {
    return volumeUsers(name, this.d.catalog.services());
  }

  /** This node's copy record of the volume: its etcd key and value. */
  copyRecord(name: string, rec: SnapshotRecord, applied: boolean): { key: string; value: string } {
    const copy: CopyRecord = { volume: name, node: this.d.selfId, snapshot: rec.id, seq: rec.seq, epoch: rec.epoch ?? 0, createdAt: rec.createdAt, sizeBytes: rec.sizeBytes, applied, updatedAt: Date.now() };
    return { key: `${VOLUME_KEYS.copyPrefix}${name}/${this.d.selfId}`, value: JSON.stringify(copy) };
  }

  async record(name: string, rec: SnapshotRecord, applied: boolean): Promise<void> {
    const client = this.d.client();
    if (!client) return;
    const { key, value } = this.copyRecord(name, rec, applied);
    await client.put(key).value(value).exec();
  }

  // ---- the owner: snapshot, then replicate ---------------------------------------------------

  private async tick(): Promise<void> {
    if (this.stopped) return;
    this.adoptRunning();
    const toSnapshot = new Map<string, { m: VolumeMeta; intervalMs: number }>();
    for (const [name, epoch] of this.owned) {
      const m = this.meta(name)?.value;
      if (!m || m.owner !== this.d.selfId || m.epoch !== epoch) {
        this.owned.delete(name); // another node took it over
        this.lastCycle.delete(name);
        continue;
      }
      if (this.users(name).length === 0) continue; // its service (or stack) is gone: nothing writes to it
      toSnapshot.set(name, { m, intervalMs: this.policy(name).intervalMs });
    }
    const due = this.schedule.due([...toSnapshot].map(([name, v]) => ({ name, intervalMs: v.intervalMs })), monoNow(), (name) => !this.lock.mayStart(name));
    for (const name of due) {
      const { m, intervalMs } = toSnapshot.get(name)!;
      this.lock.tryTake(name);
      const started = performance.now();
      void this.snapshotAndReplicate(m).catch((err: unknown) => this.d.logger.warn({ volume: name, err: messageOf(err) }, 'volume snapshot failed')).finally(() => {
        this.lock.release(name);
        // a cycle longer than the interval (a loaded machine): the next one starts at once, not at the next tick
        if (performance.now() - started >= intervalMs && !this.stopped) setImmediate(() => void this.tick());
      });
    }
  }

  /**
   * Volumes this node owns whose replica is assigned here but that no prepare claimed in this
   * process (the agent restarted while its containers ran on): their live copy is the newest.
   */
  private adoptRunning(): void {
    const self = this.d.selfId;
    for (const [name, v] of this.d.catalog.maps.volumeMeta) {
      const m = v.value;
      if (m.removed) continue;
      // a copy with its warm-copy state file is not live yet (a take-over did not complete)
      if (m.owner !== self || this.owned.has(name) || !existsSync(this.liveDir(name)) || existsSync(`${this.liveDir(name)}.warren-state.json`)) continue;
      const here = this.users(name).some((u) => this.d.catalog.assignment(u.service)?.slots.find((s) => s.index === u.slot)?.nodeId === self);
      if (here) this.owned.set(name, m.epoch);
    }
    for (const name of this.store.volumes()) {
      if (this.d.catalog.maps.volumeMeta.get(name)?.value.removed) void this.forgetRemoved(name).catch((err: unknown) => this.d.logger.warn({ volume: name, err: messageOf(err) }, 'removing a volume\'s copy failed'));
    }
    if (monoNow() - this.retainedAt > RETAIN_EVERY_MS) {
      this.retainedAt = monoNow();
      void retainSnapshots(this.store, this.d.catalog, this.d.selfId, this.keptFenced).catch((err: unknown) => this.d.logger.warn({ err: messageOf(err) }, 'snapshot retention failed'));
    }
  }

  /** `warren volume rm` left a tombstone: this node's snapshots and copy of the volume go. */
  private async forgetRemoved(name: string): Promise<void> {
    if (this.meta(name) || !this.d.catalog.maps.volumeMeta.get(name)?.value.removed || !this.lock.tryTake(name)) return;
    try {
      this.owned.delete(name);
      this.lastCycle.delete(name);
      await deleteCopy(this.store, name, this.liveDir(name));
      this.d.logger.info({ volume: name }, 'volume removed: this node\'s copy and snapshots deleted');
    } finally {
      this.lock.release(name);
    }
  }

  /** Containers of this node mounting the volume (its replicas: several for a stack's shared volume), to pause for the freeze step. */
  private async writers(m: VolumeMeta): Promise<string[]> {
    const id = this.d.identity();
    const users = this.users(m.name);
    return id ? slotContainers(this.d.engine.docker, id, users.length ? users : [{ service: m.service, slot: m.slot }]) : [];
  }

  /** `warren volume snapshot`: on the owner, a snapshot now; replicated before the answer unless `wait` is false. */
  async snapshotNow(name: string, wait: boolean): Promise<Snapshotted> {
    const m = this.meta(name)?.value;
    if (!m || m.owner !== this.d.selfId || this.owned.get(name) !== m.epoch) throw new UserError('not_owner', `volume ${name} is not live on this node`, 409);
    const asked = monoNow();
    await this.lock.take(name); // no scheduled cycle starts while the ask waits
    try {
      const last = this.lastCycle.get(name);
      if (last && cycleAnswersAsk(last, asked)) return last.result;
      return await this.snapshotAndReplicate(m, { force: true, wait });
    } finally {
      this.lock.release(name);
    }
  }

  async snapshotAndReplicate(m: VolumeMeta, opts: { force?: boolean; wait?: boolean } = {}): Promise<Snapshotted> {
    const name = m.name;
    const dir = this.liveDir(name);
    if (!existsSync(dir)) throw new UserError('no_live_copy', `volume ${name}: no live copy on this node`, 409);
    let paused: Frozen[] = [];
    let frozenAt = Infinity;
    const docker = this.d.engine.docker;
    const t0 = performance.now();
    const rec = await this.store.snapshot(name, dir, {
      epoch: m.epoch,
      skipUnchanged: !opts.force,
      pause: async () => {
        frozenAt = monoNow();
        paused = await freeze(docker, await this.writers(m));
      },
      resume: async () => {
        await thaw(docker, paused, (container, how) => this.d.logger.warn({ volume: name, container: container.slice(0, 12), how }, 'Docker did not unpause a container in time: thawed it directly'));
      },
    });
    const before = this.d.catalog.maps.volumeCopies.get(`${name}/${this.d.selfId}`)?.value;
    const created = before?.snapshot !== rec.id;
    if (created) {
      await this.record(name, rec, true);
      this.d.event('volume.snapshot', { volume: name, service: m.service, node: this.d.selfId, snapshot: rec.id, seq: rec.seq, epoch: m.epoch, pauseMs: rec.pauseMs, sizeBytes: rec.sizeBytes, newBytes: rec.newBytes });
    }
    const captured = performance.now();
    this.counters.pauseMs.set(name, rec.pauseMs);
    if (opts.wait === false) {
      void this.replicate(m, rec);
      return { snapshot: rec, replicated: [], failed: [] };
    }
    const replicated = await this.replicate(m, rec);
    if (replicated.length) this.counters.safeAt.set(name, monoNow() - (performance.now() - t0));
    this.d.logger.debug({ volume: name, snapshot: rec.id, captureMs: Math.round(captured - t0), ...this.store.lastPhases.get(name), pauseMs: rec.pauseMs, replicateMs: Math.round(performance.now() - captured), peers: replicated.length }, 'snapshot cycle');
    const result = { snapshot: rec, replicated, failed: this.pushes.failures.get(name) ?? [] };
    if (created) this.lastCycle.set(name, { frozenAt, result });
    return result;
  }

  /** Pushes the snapshot to the volume's peers (volume-replicate.ts): the peers that hold it now. */
  replicate(m: VolumeMeta, rec: SnapshotRecord): Promise<string[]> {
    return replicateSnapshot(this, m, rec, this.pushes);
  }

  // ---- a peer: receive, record, keep warm ----------------------------------------------------

  /** POST /v1/volume-sync/:volume/commit on this node. */
  async commit(rec: SnapshotRecord): Promise<SnapshotRecord> {
    const m = this.meta(rec.volume)?.value;
    if (!m) throw new UserError('no_such_volume', `volume ${rec.volume}: etcd has no record of it (removed, or not seen here yet)`, 409);
    if (this.owned.has(rec.volume) || m.owner === this.d.selfId) throw new UserError('owner', `volume ${rec.volume}: this node owns it; it takes no snapshot from others`, 409);
    if ((rec.epoch ?? 0) < m.epoch) throw new UserError('stale_epoch', `volume ${rec.volume}: snapshot ${rec.id} is of epoch ${rec.epoch ?? 0}, the volume is at ${m.epoch}`, 409);
    const t0 = performance.now();
    const adopted = await this.receiver.commit(rec);
    const t1 = performance.now();
    await this.record(rec.volume, adopted, false).catch((err: unknown) => this.d.logger.debug({ err: messageOf(err) }, 'copy record write failed'));
    this.d.logger.debug({ volume: rec.volume, snapshot: rec.id, adoptMs: Math.round(t1 - t0), recordMs: Math.round(performance.now() - t1) }, 'snapshot committed here');
    // after the answer has gone: the apply's first step (decoding two manifests, ~0.5 s for a 1 GiB
    // file) held the commit's answer back, and with it the sender's next push
    setImmediate(() => this.warm(rec.volume));
    return adopted;
  }

  /** Applies the newest snapshot to the warm copy (coalesced: one apply at a time per volume). */
  private warm(name: string): void {
    if (this.applying.has(name)) return;
    const run = (async () => {
      for (;;) {
        const m = this.meta(name)?.value;
        if (this.owned.has(name) || m?.owner === this.d.selfId) return;
        const newest = this.newestLocal(name, m?.epoch ?? Infinity);
        if (!newest) return;
        const dir = this.liveDir(name);
        await keepFencedWrites(this.store, this.d.selfId, this.d.logger, name, dir, this.keptFenced);
        await this.store.applyTo(name, newest.id, dir);
        if (this.newestLocal(name, m?.epoch ?? Infinity)?.id !== newest.id) continue;
        await this.record(name, newest, true);
        return;
      }
    })().catch((err: unknown) => this.d.logger.warn({ volume: name, err: messageOf(err) }, 'warm copy apply failed')).finally(() => this.applying.delete(name));
    this.applying.set(name, run);
  }

  /**
   * This node's copy holds no write the new lineage lacks (a hand-over pushed its last snapshot to
   * the new owner): it is a plain copy again, rebuilt without keeping anything aside.
   */
  handedOver(name: string): void {
    rmSync(`${this.liveDir(name)}.warren-owner.json`, { force: true });
  }
}
