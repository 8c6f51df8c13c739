/**
 * Probe rounds of src/core/membership.ts ("Evidence and suspicion" in its module comment): a
 * silent member is pinged directly, then through helpers, and a round that fails makes it
 * suspect. The machine decides when; these functions change the round and the member's record.
 */
import { setState } from './precedence.ts';
import type { Entry, Output, ProbeRound } from './types.ts';

/** A round's first phase: a direct probe, answered by `deadline`. */
export function directRound(t: number, deadline: number): ProbeRound {
  return {
    phase: 'direct',
    directSentAt: t,
    indirectSentAt: null,
    deadline,
    via: [],
    failedHelpers: new Set(),
    done: false,
  };
}

/** Up to `n` alive members to ask for an indirect probe: those following `target` in id order. */
export function helpersFor<TInfo>(sorted: readonly Entry<TInfo>[], target: string, n: number): string[] {
  if (n === 0) return [];
  const alive = sorted.filter((m) => m.state === 'alive' && m.id !== target).map((m) => m.id);
  if (alive.length === 0) return [];
  let start = alive.findIndex((id) => id > target);
  if (start < 0) start = 0;
  const via: string[] = [];
  for (let k = 0; k < Math.min(n, alive.length); k++) via.push(alive[(start + k) % alive.length]!);
  return via;
}

/** The direct probe failed: ask the helpers `via` (answered by `deadline`); with none, the round fails. */
export function escalate<TInfo>(e: Entry<TInfo>, r: ProbeRound, t: number, via: string[], deadline: number, out: Output[]): void {
  if (via.length === 0) {
    failRound(e, r, t, out);
    return;
  }
  r.phase = 'indirect';
  r.indirectSentAt = t;
  r.deadline = deadline;
  r.via = via;
  out.push({ type: 'probe', target: e.id, mode: 'indirect', via: [...via] });
}

/** Nobody reached the member this round: an alive member becomes suspect, and the suspicion is gossiped. */
export function failRound<TInfo>(e: Entry<TInfo>, r: ProbeRound, t: number, out: Output[]): void {
  r.done = true;
  e.failedRoundAt = t;
  if (e.state === 'alive') {
    setState(e, 'suspect', e.incarnation, t, out, 'local');
    out.push({ type: 'broadcast', about: e.id, state: 'suspect', incarnation: e.incarnation });
  }
}
