import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import {
  planReconcile,
  replicaKey,
  restartDelayMs,
  type ActualContainer,
  type DesiredReplica,
  type ReconcileAction,
  type ReplicaMemory,
} from '../core/reconcile-plan.ts';
import { messageOf } from '../core/errors.ts';
import type { Catalog } from './catalog.ts';
import type { ContainerAddresses } from './container-addresses.ts';
import type { StackHostPorts } from './host-ports.ts';
import type { DockerEngine, EngineIdentity } from './docker-engine.ts';
import { QuorumWatch } from './quorum-watch.ts';
import { desiredReplicas, gateReplicas } from './desired-replicas.ts';
import { stopGracefully } from './graceful-stop.ts';
import { ReplicaReporter } from './replica-report.ts';
import { LocalVolumeSweeper } from './local-volume-sweeper.ts';
import { HostListenPorts } from './host-listen-ports.ts';
import { removalHold } from '../core/compose/local-volume-removal.ts';
import { monoNow } from '../system/clock.ts';

export interface ReconcilerDeps {
  engine: DockerEngine;
  catalog: Catalog;
  /** undefined until this node is a member of a cluster */
  identity: () => EngineIdentity | undefined;
  client: () => Etcd3 | undefined;
  /** one client per etcd endpoint, for the quorum probe (empty: it uses `client`) */
  probeClients?: () => Etcd3[];
  logger: Logger;
  event: (name: 'service.started' | 'service.failed', payload: Record<string, unknown>) => void;
  fenceAfterMs: number;
  resyncMs?: number;
  /** kept current from every listing and Docker event (the proxy's direct container addresses) */
  addresses?: ContainerAddresses;
  /** a stack container's host ports are the mesh's guards' (Docker publishes its internal ports nowhere) */
  stackPorts?: StackHostPorts;
  /** replicated volumes: made ready (taken over, warm copy applied) before a container is created */
  volumes?: { prepare(r: DesiredReplica): Promise<{ binds: string[] } | { wait: string }> };
}

/** A failed pull is retried after this long (doubling to 5 min): never a loop that hammers Docker. */
const PULL_RETRY_MS = 15_000;
/** Docker's container list lagging its events: list again after this long. */
const LAG_RELIST_MS = 30;
/** A replica running this long is considered recovered: its crash back-off starts over. */
const STABLE_MS = 30_000;

/**
 * Makes Docker on this node match its assignments, level-triggered: on every catalog change,
 * Docker event and periodic resync it lists the node's containers, asks the pure planner what to
 * do, does it, and reports each replica's state to etcd.
 */
export class Reconciler {
  private readonly memory = new Map<string, ReplicaMemory & { runningSince?: number; pulls?: number }>();
  private readonly busy = new Set<string>();
  private readonly progress = new Map<string, string>();
  private readonly reporter: ReplicaReporter;
  /** replicas held back by their depends_on gate, with the reason */
  private readonly held = new Map<string, string>();
  /** replicas waiting for their volumes' data (no live copy here or anywhere), with the reason */
  private readonly volumeWait = new Map<string, string>();
  private readonly quorum: QuorumWatch;
  private readonly sweeper: LocalVolumeSweeper;
  private readonly listenPorts: HostListenPorts;
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = false;
  /** the Docker event subscription (one at a time), while it is open or being opened */
  private events: NodeJS.ReadableStream | undefined;
  private subscribing = false;
  private dockerUp = true;
  /** the event stream ended: the engine may have restarted faster than a pass could see it down */
  private engineLost = false;
  /** managed containers running on this node, for the health heartbeat */
  containers = 0;

  constructor(private readonly d: ReconcilerDeps) {
    this.reporter = new ReplicaReporter({
      ...d,
      listening: (containerId) => this.listenPorts.get(containerId),
      facts: (key) => ({ memory: this.memory.get(key), progress: this.progress.get(key), held: this.held.get(key) ?? this.volumeWait.get(key) }),
    });
    this.sweeper = new LocalVolumeSweeper(d);
    this.listenPorts = new HostListenPorts(d.engine.docker);
    this.quorum = new QuorumWatch(() => {
      const each = d.probeClients?.() ?? [];
      const one = d.client();
      return each.length > 0 ? each : one ? [one] : [];
    }, d.fenceAfterMs, (fenced) => {
      d.logger[fenced ? 'warn' : 'info']({ graceMs: d.fenceAfterMs }, fenced ? 'fenced: no etcd quorum for longer than the grace; stopping this node\'s replicas' : 'etcd quorum reachable again; converging to this node\'s assignments');
      // back from a fence, the watch may have missed the moves made meanwhile: re-read before
      // acting (the read's 'change' kicks the reconciler; until it lands, reconcile waits)
      if (fenced) this.kick();
      else void d.catalog.reload();
    }, (err) => d.logger.debug({ err }, 'etcd quorum read failed'));
  }

  get fenced(): boolean {
    return this.quorum.fenced;
  }

  /** ms since this node last read from the etcd quorum */
  get quorumSinceOkMs(): number {
    return this.quorum.sinceOkMs;
  }

  start(): void {
    this.quorum.start();
    this.d.catalog.on('change', () => this.kick());
    this.d.stackPorts?.on('change', () => this.kick());
    this.timer = setInterval(() => this.kick(), this.d.resyncMs ?? 2000);
    this.kick();
  }

  /** Stops reconciling; with `stopContainers`, stops this node's replicas too (graceful shutdown). */
  async stop(stopContainers: boolean): Promise<void> {
    this.stopped = true;
    this.quorum.stop();
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    if (this.lagTimer) clearTimeout(this.lagTimer);
    (this.events as unknown as { destroy(): void } | undefined)?.destroy();
    this.d.addresses?.clear();
    const id = this.d.identity();
    if (!stopContainers || !id) return;
    const actual = await this.d.engine.list(id).catch(() => [] as ActualContainer[]);
    // a paused container (a snapshot's freeze, or someone's `docker pause`) is running too: thawed
    // first, or Docker's stop waits out its whole timeout before it can kill it
    await Promise.all(actual.filter((c) => c.state === 'paused').map((c) => this.d.engine.docker.getContainer(c.id).unpause().catch(() => undefined)));
    await Promise.all(actual.filter((c) => c.state === 'running' || c.state === 'paused').map((c) => this.d.engine.stop(c.id, 5).catch(() => undefined)));
  }

  /** Runs a pass soon (coalescing bursts of changes). */
  kick(): void {
    if (this.stopped || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.pass();
    }, 10);
  }

  private async pass(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      await this.reconcile();
    } catch (err) {
      this.d.logger.warn({ err: messageOf(err) }, 'reconcile pass failed');
    } finally {
      this.running = false;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    }
  }

  private async reconcile(): Promise<void> {
    const id = this.d.identity();
    if (!id || this.stopped) return;
    this.watchDockerEvents(id);
    const fenced = this.quorum.fenced;
    // without a catalog read since the quorum came back the assignments are unknown (a stale copy
    // would start replicas the cluster moved away meanwhile): touch nothing unless fenced
    if (!fenced && (!this.d.catalog.ready || this.d.catalog.loadedAt < this.quorum.regainedAt)) return;
    let actual: ActualContainer[];
    try {
      actual = await this.list(id);
      if (!this.dockerUp) this.d.logger.info('Docker is answering again');
      if (!this.dockerUp || this.engineLost) {
        // the engine's stop stopped the replicas, and its absence failed their starts: not their
        // apps' crashes, so they start again at once, not after a crash loop's back-off (up to 30 s)
        for (const m of this.memory.values()) {
          m.restarts = 0;
          m.notBefore = 0;
        }
      }
      this.dockerUp = true;
      this.engineLost = false;
    } catch (err) {
      if (this.dockerUp) this.d.logger.warn({ err: messageOf(err) }, 'Docker is not answering; will retry');
      this.dockerUp = false;
      // what this node runs is unknown now, and most likely stopped (a stopped engine stops its
      // containers): say so rather than leave the last "running" standing
      if (!fenced) await this.reporter.report(id, desiredReplicas(this.d.catalog, id.nodeId), [], 'Docker is not answering on this node');
      return;
    }
    const desired = fenced ? [] : desiredReplicas(this.d.catalog, id.nodeId);
    const now = monoNow();
    this.noteRunning(actual, now);
    // stack rm --volumes: this node's old Docker volumes go before a replica may mount that name again
    const removing = fenced ? new Set<string>() : await this.sweeper.sweep(id.nodeId);
    const startable = gateReplicas(this.d.catalog, desired, actual, this.held).filter((r) => {
      const why = removalHold(r.spec.options?.volumes, removing);
      if (why) this.held.set(replicaKey(r), why);
      return why === undefined;
    });
    const actions = planReconcile({ now, fenced, desired: startable, actual, memory: Object.fromEntries(this.memory), busy: this.busy });
    // stops and removals first: a replacement may reuse the published port or the volume
    const first: ReconcileAction[] = actions.filter((a) => a.kind === 'stop' || a.kind === 'remove');
    await Promise.all(first.map((a) => this.perform(a, id)));
    await Promise.all(actions.filter((a) => !first.includes(a)).map((a) => this.perform(a, id)));
    if (actions.length) actual = await this.list(id).catch(() => actual);
    this.containers = actual.filter((c) => c.state === 'running').length;
    await this.listenPorts.refresh(hostNetworkContainers(desired, actual), id.addr);
    if (!fenced) await this.reporter.report(id, desired, actual);
    await this.pruneNetworks(id, desired, actual);
  }

  /** Stack networks on this node whose stack has nothing wanted or left here go (stack-networks.ts). */
  private async pruneNetworks(id: EngineIdentity, desired: DesiredReplica[], actual: ActualContainer[]): Promise<void> {
    const inUse = new Set<string>();
    for (const r of desired) if (r.spec.options?.network) inUse.add(r.spec.options.network.stack);
    for (const c of actual) if (c.stack) inUse.add(c.stack);
    await this.d.engine.networks.prune(id, inUse).catch((err: unknown) => this.d.logger.debug({ err: messageOf(err) }, 'stack network prune failed'));
  }

  /**
   * This node's containers, also told to the container addresses. Docker's list lags its `die`
   * events by a few ms (a container killed a moment ago is still listed running): when it does,
   * another pass runs shortly, so the restart does not wait for the periodic resync.
   */
  private async list(id: EngineIdentity): Promise<ActualContainer[]> {
    const addresses = this.d.addresses;
    const mark = addresses?.mark() ?? 0;
    const actual = await this.d.engine.list(id);
    if (addresses) {
      addresses.observe(actual, mark);
      if (addresses.lagging && !this.lagTimer && !this.stopped) {
        this.lagTimer = setTimeout(() => {
          this.lagTimer = undefined;
          this.kick();
        }, LAG_RELIST_MS);
      }
    }
    return actual;
  }

  /** Resets the crash back-off of replicas that have been running for a while. */
  private noteRunning(actual: ActualContainer[], now: number): void {
    for (const c of actual) {
      const key = replicaKey(c);
      const mem = this.memory.get(key);
      if (!mem) continue;
      if (c.state !== 'running') mem.runningSince = undefined;
      else if (mem.runningSince === undefined) mem.runningSince = now;
      else if (now - mem.runningSince > STABLE_MS && mem.restarts > 0) mem.restarts = 0;
    }
  }

  private mem(key: string): ReplicaMemory & { runningSince?: number; pulls?: number } {
    let m = this.memory.get(key);
    if (!m) this.memory.set(key, (m = { restarts: 0, notBefore: 0 }));
    return m;
  }

  private async perform(a: ReconcileAction, id: EngineIdentity): Promise<void> {
    const log = this.d.logger;
    try {
      if (a.kind === 'stop') {
        log.info({ container: a.containerId.slice(0, 12), reason: a.reason }, 'stopping container');
        await this.d.engine.stop(a.containerId, 5);
      } else if (a.kind === 'remove') {
        log.info({ container: a.containerId.slice(0, 12), reason: a.reason }, 'removing container');
        if (a.graceful) await stopGracefully(this.d.engine, a.containerId);
        await this.d.engine.remove(a.containerId);
      } else if (a.kind === 'start') {
        const key = replicaKey(a.replica);
        const m = this.mem(key);
        if (a.restart) {
          m.restarts++;
          m.notBefore = monoNow() + restartDelayMs(m.restarts);
          log.info({ service: a.replica.service, slot: a.replica.slot, restarts: m.restarts }, 'restarting exited replica');
        }
        await this.d.engine.start(a.containerId).catch(async (err: unknown) => {
          // a task containerd kept across a Docker restart ("task <id>: already exists") blocks
          // this container for good: remove it, and the next pass creates a new one
          if (/task [0-9a-f]+: already exists/.test(messageOf(err))) {
            log.warn({ container: a.containerId.slice(0, 12), err: messageOf(err) }, 'a stale containerd task blocks the container: replacing it');
            await this.d.engine.remove(a.containerId).catch(() => undefined);
          }
          throw err;
        });
        m.failure = undefined;
      } else {
        await this.create(a.replica, id);
      }
    } catch (err) {
      const replica = a.kind === 'create' || a.kind === 'start' ? a.replica : undefined;
      if (replica) this.fail(replica, 'create', messageOf(err), restartDelayMs(this.mem(replicaKey(replica)).restarts++));
      log.warn({ err: messageOf(err), action: a.kind }, 'container action failed');
    }
  }

  private fail(r: DesiredReplica, kind: 'image' | 'create', reason: string, retryInMs: number): void {
    const m = this.mem(replicaKey(r));
    m.failure = { kind, reason };
    m.notBefore = monoNow() + retryInMs;
  }

  /** Image (pulled when missing, with progress in the status), then container create + start. */
  private async create(r: DesiredReplica, id: EngineIdentity): Promise<void> {
    const key = replicaKey(r);
    this.busy.add(key);
    try {
      if (!(await this.d.engine.hasImage(r.spec.image))) {
        this.progress.set(key, 'pulling');
        void this.reporter.report(id, desiredReplicas(this.d.catalog, id.nodeId), await this.d.engine.list(id).catch(() => []));
        try {
          await this.d.engine.pull(r.spec.image, (p) => this.progress.set(key, p));
        } catch (err) {
          const m = this.mem(key);
          m.pulls = (m.pulls ?? 0) + 1;
          const reason = `image ${r.spec.image} is not on this node and could not be pulled: ${messageOf(err).replace(/^\(HTTP code \d+\) [a-z ]+- /, '').trim()}`;
          this.fail(r, 'image', reason, Math.min(300_000, PULL_RETRY_MS * 2 ** (m.pulls - 1)));
          this.d.logger.warn({ service: r.service, slot: r.slot, image: r.spec.image }, reason);
          return;
        } finally {
          this.progress.delete(key);
        }
      }
      const mounts = this.d.volumes ? await this.d.volumes.prepare(r) : undefined;
      if (mounts && 'wait' in mounts) {
        this.volumeWait.set(key, mounts.wait);
        this.mem(key).notBefore = monoNow() + 1000;
        return;
      }
      this.volumeWait.delete(key);
      const containerId = await this.d.engine.create(id, r, mounts?.binds);
      await this.d.engine.start(containerId);
      this.d.logger.info({ service: r.service, slot: r.slot, generation: r.generation, container: containerId.slice(0, 12) }, 'started replica');
      this.mem(key).failure = undefined;
    } finally {
      this.busy.delete(key);
      this.kick();
    }
  }

  /** Docker's events trigger a pass at once (a container that died, or was removed by hand). */
  private watchDockerEvents(id: EngineIdentity): void {
    if (this.events || this.subscribing || this.stopped) return;
    this.subscribing = true;
    this.d.engine
      .events(id)
      .then((stream) => {
        if (this.stopped) return void (stream as unknown as { destroy(): void }).destroy();
        this.events = stream;
        // the container addresses are trusted while the stream is followed: list them now
        this.d.addresses?.follow(stream);
        this.kick();
        stream.on('data', () => this.kick());
        const again = () => {
          this.events = undefined;
          this.engineLost = true;
          if (!this.stopped) setTimeout(() => this.kick(), 1000);
        };
        stream.on('end', again);
        stream.on('error', again);
      })
      .catch(() => undefined)
      .finally(() => (this.subscribing = false));
  }
}

/** The running containers of this node's host-network replicas (their ports are looked up in /proc). */
function hostNetworkContainers(desired: DesiredReplica[], actual: ActualContainer[]): string[] {
  const host = new Set(desired.filter((r) => r.spec.options?.hostNetwork).map(replicaKey));
  return actual.filter((c) => c.state === 'running' && host.has(replicaKey(c))).map((c) => c.id);
}
