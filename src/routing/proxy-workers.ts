/**
 * The agent's proxy worker processes: the proxy's data plane on more than one core. The agent
 * keeps its own proxy server; each worker (proxy-worker.ts, a small bundle: no gossip, etcd or
 * Docker code) serves connections it accepts on the same listening socket, handed to it over
 * IPC, so the kernel spreads the accepts over the processes. Each worker routes from a copy of
 * the route table: a full snapshot is sent on every change (coalesced to one per event-loop
 * turn, unchanged ones skipped); what a worker's proxy reports (an unreachable container
 * address) comes back here. Counters are collected on request (GET /metrics) and every second.
 *
 * Workers run under `setpriv --pdeathsig SIGKILL` (as etcd does), so an agent killed with -9
 * leaves none behind, and exit on IPC disconnect. One that exits on its own is restarted
 * after a back-off (100 ms doubling to 5 s; reset after 30 s up).
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { LogLevel } from '../core/agent-config.ts';
import type { Logger } from '../system/logger.ts';
import { diesWithParent } from '../system/child-guard.ts';
import type { Backend, ProxyStats } from './proxy-types.ts';
import type { ServiceCert } from './service-certs.ts';
import { demandStep, initialDemand } from '../core/proxy-demand.ts';
import { addStats, parseFromWorker, sameSnapshot, zeroStats, type RouteSnapshot, type ToWorker } from './route-snapshot.ts';
import { monoNow } from '../system/clock.ts';

const READY_TIMEOUT_MS = 15_000;
const STABLE_AFTER_MS = 30_000;

export interface ProxyWorkersOptions {
  count: number;
  /** the agent's listening proxy server: its handle is shared */
  server: Server;
  domain: string;
  /** the agent's bind address: connections to other nodes leave from it (proxy-source.ts) */
  source?: string;
  logLevel: LogLevel;
  name: string;
  logger: Logger;
  snapshot(): RouteSnapshot;
  unreachable(b: Backend): void;
  /** the agent's HTTPS listener, shared like `server` (workers terminate TLS themselves) */
  https?: { server: Server; port: number };
  /** a service's certificate for a worker's TLS handshake */
  cert?(service: string): Promise<ServiceCert | undefined>;
}

export interface WorkerStats {
  worker: number;
  pid: number | undefined;
  stats: ProxyStats;
}

interface Slot {
  index: number;
  child: ChildProcess | undefined;
  pid: number | undefined;
  ready: boolean;
  startedAt: number;
  restarts: number;
  timer: NodeJS.Timeout | undefined;
  /** last counters this worker reported */
  stats: ProxyStats;
}

/** restart delay after `n` quick restarts in a row */
export function workerRestartDelayMs(n: number): number {
  return Math.min(100 * 2 ** Math.min(n, 6), 5_000);
}

/** The worker's entry point: the bundle's sibling (dist/proxy-worker.mjs) or the source under tsx. */
function workerEntry(): string {
  const here = import.meta.url;
  return fileURLToPath(new URL(here.endsWith('.ts') ? './proxy-worker.ts' : './proxy-worker.mjs', here));
}

export class ProxyWorkers {
  private readonly slots: Slot[] = [];
  private closing = false;
  private last: RouteSnapshot | undefined;
  private scheduled = false;
  private seq = 0;
  private readonly waiters = new Map<number, { left: Set<number>; done: () => void }>();
  /** counters of workers that exited (so the totals never go back) */
  private readonly retired = zeroStats();
  restarts = 0;

  constructor(private readonly o: ProxyWorkersOptions) {}

  private demandTimer: NodeJS.Timeout | undefined;

  /**
   * `--proxy-workers auto`: starts the workers only once the agent's own proxy is busy
   * (core/proxy-demand.ts), sampling its request counter once a second until then. Once started
   * they stay (stopping one would cut its live connections).
   */
  startOnDemand(requests: () => number, now: () => number = monoNow): void {
    let state = initialDemand();
    this.demandTimer = setInterval(() => {
      const step = demandStep(state, requests(), now());
      state = step.state;
      if (!step.start || this.closing) return;
      clearInterval(this.demandTimer);
      this.demandTimer = undefined;
      this.o.logger.info({ workers: this.o.count }, 'proxy: busy, starting the proxy workers');
      void this.start();
    }, 1000);
    this.demandTimer.unref();
  }

  /** Starts every worker and waits until each accepts connections. */
  async start(): Promise<void> {
    if (this.slots.length > 0) return;
    for (let i = 0; i < this.o.count; i++) {
      this.slots.push({ index: i + 1, child: undefined, pid: undefined, ready: false, startedAt: 0, restarts: 0, timer: undefined, stats: zeroStats() });
    }
    // one that fails is restarted like a crashed one: the agent's own proxy serves meanwhile
    await Promise.all(this.slots.map((s) => this.spawn(s).catch((err: Error) => this.o.logger.warn({ worker: s.index, err: err.message }, 'proxy worker did not start'))));
  }

  get running(): number {
    return this.slots.filter((s) => s.ready).length;
  }

  private spawn(slot: Slot): Promise<void> {
    const { o } = this;
    const cfg = JSON.stringify({ domain: o.domain, ...(o.source ? { source: o.source } : {}), logLevel: o.logLevel, name: o.name, worker: slot.index, ...(o.https ? { httpsPort: o.https.port } : {}) });
    // fork runs `execPath execArgv entry`: setpriv in front of node when it is there
    const [execPath, execArgv] = diesWithParent(process.execPath, process.execArgv);
    const child = fork(workerEntry(), [cfg], {
      execPath,
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    slot.child = child;
    slot.pid = child.pid;
    slot.ready = false;
    slot.startedAt = monoNow();
    slot.stats = zeroStats();
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`proxy worker ${slot.index} did not start within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      child.on('message', (raw: unknown) => {
        const m = parseFromWorker(raw);
        if (m === undefined) return;
        if (m.t === 'hello') {
          // its message handler is in place: its routes first, then the listening socket (handed
          // over before, the socket was polled by the child while it was still loading, and the
          // connections it accepted then were never answered)
          this.last ??= o.snapshot();
          this.post(child, { t: 'routes', snapshot: this.last });
          child.send('listen', o.server, (err) => {
            if (err && !this.closing) o.logger.warn({ err: err.message, worker: slot.index }, 'proxy worker: could not hand over the listening socket');
          });
          if (o.https) {
            child.send('listen-https', o.https.server, (err) => {
              if (err && !this.closing) o.logger.warn({ err: err.message, worker: slot.index }, 'proxy worker: could not hand over the https socket');
            });
          }
        } else if (m.t === 'ready') {
          slot.ready = true;
          clearTimeout(timer);
          resolve();
        } else if (m.t === 'stats') {
          slot.stats = m.stats;
          const w = this.waiters.get(m.seq);
          if (w) {
            w.left.delete(slot.index);
            if (w.left.size === 0) w.done();
          }
        } else if (m.t === 'unreachable') {
          o.unreachable(m.backend);
        } else if (m.t === 'cert') {
          const answer = (cert: ServiceCert | undefined) => this.post(child, { t: 'cert', seq: m.seq, cert: cert ?? null });
          (o.cert ? o.cert(m.service) : Promise.resolve(undefined)).then(answer, () => answer(undefined));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`proxy worker ${slot.index} exited (code ${code}, signal ${signal}) before it was ready`));
        this.exited(slot, child, code, signal);
      });
    });
    child.on('error', (err) => o.logger.warn({ err: err.message, worker: slot.index }, 'proxy worker: process error'));
    return ready;
  }

  private exited(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    addStats(this.retired, slot.stats);
    slot.stats = zeroStats();
    slot.child = undefined;
    slot.ready = false;
    for (const w of this.waiters.values()) {
      w.left.delete(slot.index);
      if (w.left.size === 0) w.done();
    }
    if (this.closing) return;
    if (monoNow() - slot.startedAt > STABLE_AFTER_MS) slot.restarts = 0;
    const delay = workerRestartDelayMs(slot.restarts++);
    this.restarts++;
    this.o.logger.warn({ worker: slot.index, pid: slot.pid, code, signal, restartInMs: delay }, 'proxy worker exited; restarting it');
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.closing) return;
      this.spawn(slot).then(
        () => this.o.logger.info({ worker: slot.index, pid: slot.pid }, 'proxy worker restarted'),
        (err: Error) => this.o.logger.warn({ worker: slot.index, err: err.message }, 'proxy worker restart failed'),
      );
    }, delay);
  }

  private post(child: ChildProcess, m: ToWorker): void {
    if (!child.connected) return;
    child.send(m, (err) => {
      if (err && !this.closing) this.o.logger.debug({ err: err.message }, 'proxy worker: send failed');
    });
  }

  /** The route table changed: every worker gets the new snapshot (once per event-loop turn). */
  routesChanged(): void {
    if (this.scheduled || this.closing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closing) return;
      const snap = this.o.snapshot();
      if (sameSnapshot(this.last, snap)) return;
      this.last = snap;
      for (const s of this.slots) if (s.child) this.post(s.child, { t: 'routes', snapshot: snap });
    });
  }

  /** Every worker's counters, fresh (each is asked; one that does not answer within `timeoutMs` gives its last ones). */
  async stats(timeoutMs = 250): Promise<{ total: ProxyStats; workers: WorkerStats[] }> {
    const live = this.slots.filter((s) => s.child?.connected && s.ready);
    if (live.length > 0) {
      const seq = ++this.seq;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, timeoutMs);
        function finish(): void {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.set(seq, { left: new Set(live.map((s) => s.index)), done: finish });
        for (const s of live) this.post(s.child!, { t: 'stats', seq });
      });
      this.waiters.delete(seq);
    }
    const total = addStats(zeroStats(), this.retired);
    const workers = this.slots.map((s) => ({ worker: s.index, pid: s.child ? s.pid : undefined, stats: { ...s.stats } }));
    for (const w of workers) addStats(total, w.stats);
    return { total, workers };
  }

  /** Stops every worker (before the agent closes its own listener). */
  async close(): Promise<void> {
    clearInterval(this.demandTimer);
    this.closing = true;
    const exits: Promise<unknown>[] = [];
    for (const s of this.slots) {
      if (s.timer) clearTimeout(s.timer);
      const c = s.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) continue;
      exits.push(
        new Promise<void>((resolve) => {
          const kill = setTimeout(() => c.kill('SIGKILL'), 2_000);
          c.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          if (c.connected) c.disconnect();
          else c.kill('SIGTERM');
        }),
      );
    }
    await Promise.all(exits);
  }
}
