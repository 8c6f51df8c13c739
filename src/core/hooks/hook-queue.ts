/**
 * One hook's run queue, as a pure state machine (no timers, no processes): the driver
 * (system/hooks.ts) feeds it events, finished runs and clock ticks, and performs what it says.
 *
 * - One run at a time per hook: an event that arrives while the hook runs waits in a queue.
 * - The queue is bounded: when it is full the OLDEST waiting event is dropped (and reported), so
 *   a hook that is slow or stuck always gets the latest state of the cluster next, and a burst of
 *   events (a whole rack dying) costs bounded memory.
 * - A run past its deadline is killed once (the driver kills its process group); the queue moves
 *   on only when the driver reports the run finished.
 */

export interface HookLimits {
  /** events that may wait while the hook runs */
  maxQueued: number;
  /** a run that takes longer is killed */
  timeoutMs: number;
}

export const DEFAULT_HOOK_LIMITS: Readonly<HookLimits> = Object.freeze({ maxQueued: 32, timeoutMs: 30_000 });

export type HookAction<T> =
  | { type: 'start'; job: T; deadline: number }
  | { type: 'drop'; job: T }
  | { type: 'kill' };

export class HookQueue<T> {
  private current: { job: T; deadline: number; killed: boolean } | undefined;
  private readonly waiting: T[] = [];

  constructor(private readonly limits: HookLimits) {
    if (!(limits.maxQueued >= 0) || !(limits.timeoutMs > 0)) throw new Error('hook limits: maxQueued >= 0 and timeoutMs > 0');
  }

  get running(): T | undefined {
    return this.current?.job;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** A new event for this hook. */
  offer(job: T, now: number): HookAction<T>[] {
    if (!this.current) return [this.begin(job, now)];
    if (this.limits.maxQueued === 0) return [{ type: 'drop', job }];
    const out: HookAction<T>[] = [];
    if (this.waiting.length >= this.limits.maxQueued) out.push({ type: 'drop', job: this.waiting.shift()! });
    this.waiting.push(job);
    return out;
  }

  /** The running job ended (exited, was killed, or never started): start the next one. */
  finished(now: number): HookAction<T>[] {
    if (!this.current) return [];
    this.current = undefined;
    const next = this.waiting.shift();
    return next === undefined ? [] : [this.begin(next, now)];
  }

  /** The clock moved: kill a run past its deadline (once). */
  tick(now: number): HookAction<T>[] {
    const c = this.current;
    if (!c || c.killed || now < c.deadline) return [];
    c.killed = true;
    return [{ type: 'kill' }];
  }

  /** Whether the running job was killed for its timeout (its outcome is then "timeout"). */
  get timedOut(): boolean {
    return this.current?.killed ?? false;
  }

  private begin(job: T, now: number): HookAction<T> {
    const deadline = now + this.limits.timeoutMs;
    this.current = { job, deadline, killed: false };
    return { type: 'start', job, deadline };
  }
}

export type HookOutcome = 'ok' | 'failed' | 'timeout' | 'error';

/** How a run ended: killed at its timeout, could not start, exited non-zero or by a signal, or fine. */
export function hookOutcome(r: { timedOut: boolean; spawnError?: string; exitCode: number | null; signal: string | null }): HookOutcome {
  if (r.timedOut) return 'timeout';
  if (r.spawnError !== undefined) return 'error';
  return r.exitCode === 0 && r.signal === null ? 'ok' : 'failed';
}

/**
 * Which directory entries are hooks: run-parts' convention, so editor backups, dotfiles and
 * dpkg's leftovers (a conffile's .dpkg-old, .dpkg-dist) are never run.
 */
export function isHookName(name: string): boolean {
  if (name.startsWith('.') || name.endsWith('~')) return false;
  return !/\.(dpkg-(old|new|dist|tmp|bak)|ucf-(old|new|dist)|swp|disabled|bak|orig|rej)$/.test(name);
}
