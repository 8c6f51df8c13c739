import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { WarrenEvent } from '../core/gossip-messages.ts';
import { DEFAULT_HOOK_LIMITS, HookQueue, hookOutcome, isHookName, type HookAction, type HookLimits, type HookOutcome } from '../core/hooks/hook-queue.ts';
import type { HookRun, HookView, HooksResponse } from '../core/hooks/hook-views.ts';
import { runHookProcess, type RunningHook } from './hook-process.ts';
import { atDeadline, monoNow } from './clock.ts';

export const SYSTEM_HOOKS_DIR = '/etc/warren/hooks';

export interface HooksOptions {
  /** searched in this order; a missing directory is skipped */
  dirs: string[];
  logger: Logger;
  limits?: Partial<HookLimits>;
  /** added to every hook's environment (besides WARREN_EVENT) */
  env?: Record<string, string>;
}

const KEEP_RUNS = 5;
const TAIL_CHARS = 400;

interface HookState {
  queue: HookQueue<WarrenEvent>;
  proc?: RunningHook;
  /** cancels the run's timeout */
  cancelTimeout?: () => void;
  startedAt: number;
  runs: Record<HookOutcome, number>;
  dropped: number;
  lastRuns: HookRun[];
}

/**
 * Runs the executables of the hook directories on every cluster event: the event as JSON on
 * stdin, WARREN_EVENT=<name> in the environment. The directories are read again for each event,
 * so a hook added or removed takes effect without a restart. Nothing here may block or throw into
 * the agent: every failure becomes a log line and a counter.
 */
export class Hooks {
  private readonly states = new Map<string, HookState>();
  private readonly limits: HookLimits;
  /** events are handed to hooks in the order they arrived, though finding the hooks is async */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: HooksOptions) {
    this.limits = { ...DEFAULT_HOOK_LIMITS, ...opts.limits };
  }

  /** A cluster event: queue it for every hook. Returns at once. */
  onEvent(event: WarrenEvent): void {
    if (this.closed) return;
    this.chain = this.chain
      .then(async () => {
        for (const path of await this.scan()) this.apply(path, this.state(path).queue.offer(event, monoNow()));
      })
      .catch((err: unknown) => this.opts.logger.error({ err, event: event.name }, 'hooks: could not dispatch an event'));
  }

  /** The hooks present now, plus those that ran before and are gone. */
  async view(): Promise<HooksResponse> {
    return { dirs: this.opts.dirs, timeoutMs: this.limits.timeoutMs, hooks: await this.list() };
  }

  private async list(): Promise<HookView[]> {
    const present = new Set(await this.scan());
    const paths = [...new Set([...present, ...this.states.keys()])];
    return paths.map((path) => {
      const s = this.states.get(path);
      const running = s?.queue.running;
      return {
        path,
        present: present.has(path),
        ...(running && s ? { running: { event: running.name, startedAt: s.startedAt } } : {}),
        queued: s?.queue.queued ?? 0,
        runs: { ...(s?.runs ?? zeroRuns()) },
        dropped: s?.dropped ?? 0,
        lastRuns: [...(s?.lastRuns ?? [])],
      };
    });
  }

  /** Counters for /metrics, per hook path. */
  counters(): { hook: string; runs: Record<HookOutcome, number>; dropped: number }[] {
    return [...this.states].map(([hook, s]) => ({ hook, runs: { ...s.runs }, dropped: s.dropped }));
  }

  /** Stops taking events and kills running hooks (the agent is stopping). */
  close(): void {
    this.closed = true;
    for (const s of this.states.values()) {
      s.cancelTimeout?.();
      s.proc?.kill();
    }
  }

  private async scan(): Promise<string[]> {
    const found: string[] = [];
    for (const dir of this.opts.dirs) {
      let names: string[];
      try {
        names = (await readdir(dir)).sort();
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') this.opts.logger.warn({ dir, err: (err as Error).message }, 'hooks: cannot read the hook directory');
        continue;
      }
      for (const name of names.filter(isHookName)) {
        const path = join(dir, name);
        const st = await stat(path).catch(() => undefined);
        if (st?.isFile() && st.mode & 0o111) found.push(path);
      }
    }
    return found;
  }

  private state(path: string): HookState {
    let s = this.states.get(path);
    if (!s) {
      s = { queue: new HookQueue<WarrenEvent>(this.limits), startedAt: 0, runs: zeroRuns(), dropped: 0, lastRuns: [] };
      this.states.set(path, s);
    }
    return s;
  }

  private apply(path: string, actions: HookAction<WarrenEvent>[]): void {
    const s = this.state(path);
    for (const a of actions) {
      if (a.type === 'drop') {
        s.dropped++;
        this.opts.logger.warn({ hook: path, event: a.job.name, eventId: a.job.id, queued: this.limits.maxQueued }, 'hook queue full: dropped its oldest waiting event');
      } else if (a.type === 'kill') {
        this.opts.logger.warn({ hook: path, timeoutMs: this.limits.timeoutMs, pid: s.proc?.pid }, 'hook timed out: killing its process group');
        s.proc?.kill();
      } else this.start(path, s, a.job, a.deadline);
    }
  }

  private start(path: string, s: HookState, event: WarrenEvent, deadline: number): void {
    // startedAt is shown to people (`warren hooks`); the timeout and the duration run on the local clock
    s.startedAt = Date.now();
    const t0 = monoNow();
    const proc = runHookProcess(path, JSON.stringify(event) + '\n', { ...this.opts.env, WARREN_EVENT: event.name });
    s.proc = proc;
    // (a timer that fired early and did nothing left a hanging hook's queue held for good: seen in CI)
    s.cancelTimeout = atDeadline(deadline, () => this.apply(path, s.queue.tick(monoNow())));
    void proc.done.then((r) => {
      s.cancelTimeout?.();
      s.proc = undefined;
      const outcome = hookOutcome({ timedOut: s.queue.timedOut, ...r });
      const run: HookRun = {
        event: event.name,
        eventId: event.id,
        startedAt: s.startedAt,
        durationMs: Math.round(monoNow() - t0),
        outcome,
        exitCode: r.exitCode,
        signal: r.signal,
        output: (r.spawnError ?? (r.stderr.trim() || r.stdout.trim())).slice(-TAIL_CHARS),
      };
      s.runs[outcome]++;
      s.lastRuns = [run, ...s.lastRuns].slice(0, KEEP_RUNS);
      const fields = { hook: path, event: event.name, eventId: event.id, outcome, exitCode: r.exitCode, signal: r.signal, durationMs: run.durationMs, stdout: r.stdout, stderr: r.stderr, ...(r.truncated ? { truncatedBytes: r.truncated } : {}), ...(r.spawnError ? { err: r.spawnError } : {}) };
      if (outcome === 'ok') this.opts.logger.info(fields, 'hook ran');
      else this.opts.logger.warn(fields, `hook ${outcome === 'timeout' ? 'timed out' : outcome === 'error' ? 'could not start' : 'failed'}`);
      if (!this.closed) this.apply(path, s.queue.finished(monoNow()));
    });
  }
}

function zeroRuns(): Record<HookOutcome, number> {
  return { ok: 0, failed: 0, timeout: 0, error: 0 };
}
