/**
 * The agent's side of the mesh's forwarder process (mesh-worker.ts): starts it, sends it every
 * new plan and restarts it (with the last plan) when it exits unexpectedly. `apply` resolves once
 * the worker listens where the plan says, with its guards' ports (or after it failed to start,
 * with the last ports it told: the next plan retries). The worker runs only while the plan has
 * something to forward: a node without stacks (an idle voter) spends no ~45 MB process on it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Forward } from '../core/mesh/forward-plan.ts';
import { diesWithParent } from '../system/child-guard.ts';
import type { ForwarderAccess } from './l4-forwarder.ts';
import type { FromMeshWorker } from './mesh-worker.ts';

const READY_TIMEOUT_MS = 15_000;
const RESTART_DELAY_MS = 500;

/** The worker's entry point: the bundle's sibling (dist/mesh-worker.mjs) or the source under tsx. */
function workerEntry(): string {
  const here = import.meta.url;
  return fileURLToPath(new URL(here.endsWith('.ts') ? './mesh-worker.ts' : './mesh-worker.mjs', here));
}

export class MeshProcess {
  private child: ChildProcess | undefined;
  private starting: Promise<ChildProcess> | undefined;
  private seq = 0;
  private last: { forwards: Forward[]; access: ForwarderAccess } = { forwards: [], access: {} };
  /** each apply sent and not yet answered, with the worker it went to */
  private readonly waiters = new Map<number, { done: () => void; child: ChildProcess }>();
  /** workers stopped because the plan became empty: their exit is no crash */
  private readonly retired = new WeakSet<ChildProcess>();
  private closing = false;
  keys: string[] = [];
  /** each guard's port as the worker last told (a restarted worker starts with none) */
  guards: Record<string, number> = {};

  /** `restarted`: the worker came back after a crash (its guards' ports changed: they must be told again) */
  constructor(private readonly o: { logLevel: string; name: string; logger: Logger; restarted?: () => void }) {}

  async apply(forwards: Forward[], access: ForwarderAccess = {}): Promise<Record<string, number>> {
    this.last = { forwards, access };
    if (forwards.length === 0 && !this.child && !this.starting) {
      this.keys = [];
      this.guards = {};
      return this.guards;
    }
    const child = await this.ensure().catch((err: Error) => {
      this.o.logger.warn({ err: err.message }, 'mesh worker did not start: retried on the next change');
      return undefined;
    });
    if (!child || this.closing) return this.guards;
    const seq = ++this.seq;
    await new Promise<void>((resolve) => {
      this.waiters.set(seq, { done: resolve, child });
      child.send({ t: 'apply', seq, forwards, access }, (err) => {
        if (err) this.settle(seq);
      });
    });
    if (forwards.length === 0) this.retire(child);
    return this.guards;
  }

  /** Stops a worker that has nothing left to forward (it closed its listeners), unless a newer plan needs it. */
  private retire(child: ChildProcess): void {
    if (this.last.forwards.length !== 0 || this.child !== child || this.closing) return;
    this.retired.add(child);
    this.child = undefined;
    this.keys = [];
    this.guards = {};
    child.disconnect();
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  }

  async close(): Promise<void> {
    this.closing = true;
    const child = this.child;
    for (const seq of [...this.waiters.keys()]) this.settle(seq);
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.disconnect();
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    });
  }

  private settle(seq: number): void {
    const w = this.waiters.get(seq);
    this.waiters.delete(seq);
    w?.done();
  }

  /** answers the applies a worker that exited can no longer answer */
  private settleOf(child: ChildProcess): void {
    for (const [seq, w] of [...this.waiters]) if (w.child === child) this.settle(seq);
  }

  private ensure(): Promise<ChildProcess> {
    if (this.child && this.child.connected) return Promise.resolve(this.child);
    this.starting ??= this.spawn().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private spawn(): Promise<ChildProcess> {
    const [execPath, execArgv] = diesWithParent(process.execPath, process.execArgv);
    const child = fork(workerEntry(), [JSON.stringify({ logLevel: this.o.logLevel, name: this.o.name })], { execPath, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the mesh worker did not start within ${READY_TIMEOUT_MS} ms`));
      }, READY_TIMEOUT_MS);
      child.on('message', (raw: unknown) => {
        const m = raw as FromMeshWorker;
        if (m?.t === 'ready') {
          clearTimeout(timer);
          this.child = child;
          resolve(child);
        } else if (m?.t === 'applied') {
          this.keys = m.keys;
          this.guards = m.guards ?? {};
          this.settle(m.seq);
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the mesh worker exited (${signal ?? code}) while starting`));
        this.settleOf(child);
        if (this.retired.has(child)) return;
        if (this.child === child) this.child = undefined;
        this.guards = {};
        if (this.closing) return;
        this.o.logger.warn({ code, signal }, 'mesh worker exited: restarted with the last plan');
        setTimeout(() => void this.apply(this.last.forwards, this.last.access).then(() => this.o.restarted?.()), RESTART_DELAY_MS).unref();
      });
    });
  }
}
