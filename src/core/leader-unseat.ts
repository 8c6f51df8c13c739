/**
 * A Warren leader that gossip has declared dead loses its election key at once, instead of when
 * its lease expires. etcd restarts every lease's time to live when its own leader changes, so a
 * Warren leader that was also etcd's leader kept its seat ~3 s past etcd's election, and the
 * failover of its services waited for the next leader (~6 s from kill -9 to serving instead of
 * ~3 s). Removing the key is safe on a wrong verdict: a live leader's writes compare its key
 * (consensus/leadership.ts), so one that lost it is deposed at its next write and campaigns again.
 */
import type { LivenessMap } from './views.ts';

/**
 * Members gossip holds dead now, other than this node, each with when it died (its verdict), for
 * verdicts reached from `from` on (wall-clock ms, as `since`): the driver moves `from` to when this
 * node may last have been cut off (its candidacy failed, or it held most members dead: see
 * viewHoldsMajority). Back from a partition its gossip still holds the others dead while etcd
 * answers again. Seen: a healed node removed the real leader's key on such a verdict, was elected
 * on that view and moved a service onto itself.
 */
export function deadMembers(liveness: LivenessMap, selfId: string, from = -Infinity): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, l] of Object.entries(liveness)) if (l?.state === 'dead' && id !== selfId && l.since >= from) out.set(id, l.since);
  return out;
}

/** a member dead for longer than this is gone for the majority count (a machine that died for good) */
export const RECENT_DEATH_MS = 30_000;

/**
 * Whether this node holds fewer than half of the members it knows down (suspect, or dead within
 * the last RECENT_DEATH_MS at `now`, wall-clock ms): one that holds most of the cluster freshly
 * down is more likely the one cut off (a partition shorter than its lease leaves its candidacy as
 * it was), so the verdicts it holds then are never acted on, and a leader that did die loses its
 * seat when its lease expires.
 * Suspects count: a node cut off learns the deaths one by one, and between the first and the
 * second its view held one of three dead, enough to act on (CI: an agent cut from gossip alone,
 * its etcd still answering, removed the live leader's key there). Every peer falls silent at
 * the cut, so all are suspect (after 1 s) well before the first is dead (1.85 s).
 * Itself counts alive; members that left, and those dead for longer (a machine gone for good that
 * nobody removed yet), count neither way: with them, one lasting death blocked every unseat.
 */
export function viewHoldsMajority(liveness: LivenessMap, selfId: string, now: number): boolean {
  let members = 1;
  let down = 0;
  for (const [id, l] of Object.entries(liveness)) {
    if (id === selfId || !l || l.state === 'left') continue;
    if (l.state === 'dead' && now - l.since > RECENT_DEATH_MS) continue;
    members++;
    if (l.state === 'dead' || l.state === 'suspect') down++;
  }
  return down * 2 < members;
}

/** Whether a verdict is new: a member dead since another moment than the one last acted on. */
export function newVerdicts(dead: ReadonlyMap<string, number>, actedOn: ReadonlyMap<string, number>): boolean {
  for (const [id, since] of dead) if (actedOn.get(id) !== since) return true;
  return false;
}

/** Whether the holder of the first election key (the leader) is to be unseated. */
export function unseatable(holder: string | undefined, dead: ReadonlyMap<string, number>): boolean {
  return holder !== undefined && dead.has(holder);
}
