/**
 * Waiting from the CLI until a rollout is done: the verdict on one view of the service, the
 * polling loop that prints each replica change, Ctrl-C handling and --timeout.
 */
import { UserError } from '../core/errors.ts';
import type { ReplicaView, ServiceView } from '../core/service-types.ts';
import { formatDuration } from './output.ts';
import { describeReplica, describeReplicaChange, replicaNode } from './service-render.ts';

export type RolloutVerdict =
  | { kind: 'done' }
  | { kind: 'failed'; message: string }
  | { kind: 'unplaceable'; message: string }
  | { kind: 'waiting'; pending: string[] };

/**
 * Is the service where it was asked to be? Done when `desired` replicas of `generation` (or a
 * later one) run and nothing older is left; failed when one of them failed (or exited with
 * restart "no"); unplaceable when no node can take a replica.
 */
export function rolloutVerdict(view: ServiceView, generation: number): RolloutVerdict {
  const desired = view.spec.replicas;
  const replicas = [...view.replicas].sort((a, b) => a.slot - b.slot);
  const current = (r: ReplicaView) => r.generation >= generation;
  const failed = replicas.find((r) => current(r) && (r.state === 'failed' || (r.state === 'exited' && view.spec.restart === 'no')));
  if (failed) return { kind: 'failed', message: describeReplica(failed) };
  const unplaced = replicas.find((r) => r.state === 'unassigned' && r.reason);
  if (unplaced) return { kind: 'unplaceable', message: `replica ${unplaced.slot} cannot be placed: ${unplaced.reason}` };
  if (view.pending && replicas.filter((r) => r.state !== 'unassigned').length < desired) return { kind: 'unplaceable', message: `cannot place every replica: ${view.pending}` };
  const ready = replicas.filter((r) => current(r) && r.state === 'running');
  const leftovers = replicas.filter((r) => !current(r) && r.state !== 'stopped');
  if (ready.length >= desired && leftovers.length === 0 && replicas.filter((r) => r.state !== 'stopped').length <= desired) return { kind: 'done' };
  const pending = replicas
    .filter((r) => !(current(r) && r.state === 'running'))
    .map((r) => `replica ${r.slot} (${r.state === 'unassigned' ? 'waiting for a node' : `${r.state} on ${replicaNode(r)}${r.progress ? `, ${r.progress}` : ''}`}${current(r) ? '' : `, still generation ${r.generation}`})`);
  if (replicas.length < desired) pending.push(`${desired - replicas.length} replica(s) not scheduled yet`);
  return { kind: 'waiting', pending };
}

export interface WatchOptions {
  /** the service as it is now (GET /v1/services/:name) */
  fetchView(): Promise<ServiceView>;
  /** the spec generation every replica must run */
  generation: number;
  timeoutMs: number;
  intervalMs?: number;
  /** how long "no node can take it" must last before giving up (placement may just be slow) */
  unplaceableGraceMs?: number;
  /** the view before the change: its replicas are not announced again */
  initial?: ServiceView;
  write(line: string): void;
  signal?: AbortSignal;
  now?: () => number;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Polls the service and prints one line per replica change until the rollout is done
 * ('done'), Ctrl-C ('interrupted'), or it fails, cannot be placed or times out (a UserError).
 */
export async function watchRollout(opts: WatchOptions): Promise<{ outcome: 'done' | 'interrupted'; view: ServiceView }> {
  const now = opts.now ?? Date.now;
  const interval = opts.intervalMs ?? 250;
  const grace = opts.unplaceableGraceMs ?? 3000;
  const start = now();
  let prev = new Map<number, ReplicaView>((opts.initial?.replicas ?? []).map((r) => [r.slot, r]));
  const lastLine = new Map<number, number>();
  let unplaceableSince: number | undefined;
  for (;;) {
    const view = await opts.fetchView();
    const t = now();
    const name = view.spec.name;
    const next = new Map(view.replicas.map((r) => [r.slot, r]));
    for (const r of [...view.replicas].sort((a, b) => a.slot - b.slot)) {
      const before = prev.get(r.slot);
      const line = describeReplicaChange(before, r);
      if (line) {
        opts.write(line);
        lastLine.set(r.slot, t);
      } else if (r.state === 'pulling' && r.progress && r.progress !== before?.progress && t - (lastLine.get(r.slot) ?? 0) >= 2000) {
        opts.write(describeReplica(r));
        lastLine.set(r.slot, t);
      }
    }
    for (const [slot, r] of prev) if (!next.has(slot)) opts.write(describeReplicaChange(r, undefined)!);
    prev = next;

    const verdict = rolloutVerdict(view, opts.generation);
    if (verdict.kind === 'done') return { outcome: 'done', view };
    if (verdict.kind === 'failed') throw new UserError('service_failed', `${name} did not start: ${verdict.message} (see warren service inspect ${name})`);
    if (verdict.kind === 'unplaceable') {
      unplaceableSince ??= t;
      if (t - unplaceableSince >= grace) throw new UserError('service_unplaceable', `${name}: ${verdict.message} (it stays pending; see warren service inspect ${name})`);
    } else unplaceableSince = undefined;
    if (t - start >= opts.timeoutMs) {
      const what = verdict.kind === 'waiting' ? verdict.pending.join(', ') : verdict.message;
      throw new UserError('timeout', `timed out after ${formatDuration(opts.timeoutMs)} waiting for ${name}; still pending: ${what || 'nothing reported yet'} (Warren keeps trying; see warren service inspect ${name})`);
    }
    await sleep(interval, opts.signal);
    if (opts.signal?.aborted) return { outcome: 'interrupted', view };
  }
}

/** An AbortSignal that fires on Ctrl-C / SIGTERM while `fn` runs (the default exit is suppressed meanwhile). */
export async function whileInterruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Parses --timeout (seconds) into ms. */
export function parseTimeout(text: string | undefined, fallbackSeconds = 120): number {
  if (text === undefined) return fallbackSeconds * 1000;
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0) throw new UserError('bad_flag', `--timeout must be a number of seconds greater than 0, got "${text}"`);
  return Number(text) * 1000;
}
