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
 * viewStanding). Back from a partition its gossip still holds the others dead while etcd
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
 * How far this node's view can be trusted to unseat, counting the members it knows (itself alive;
 * members that left, and those dead for longer than RECENT_DEATH_MS at `now`, wall-clock ms, count
 * neither way: a machine gone for good that nobody removed yet blocked every unseat).
 * - 'cut-off': half or more of them freshly dead. This node is more likely the one cut off (a
 *   partition shorter than its lease leaves its candidacy as it was): the verdicts it holds then
 *   are never acted on, and a leader that did die loses its seat when its lease expires.
 * - 'unsure': fewer dead, but half or more dead or suspect. Nothing is acted on while it lasts.
 *   A node cut off learns the deaths one by one, and between the first and the second it held
 *   one of three dead, enough to act on (a suite run: an agent cut from gossip alone, its etcd
 *   still answering, removed the live leader's key there). Every peer falls silent at a cut, so
 *   all are suspect (after 1 s) well before the first is dead (1.85 s); a member only slow to be
 *   heard from is alive again soon, and the verdict is acted on then.
 * - 'sound': act on new verdicts.
 */
export type ViewStanding = 'sound' | 'unsure' | 'cut-off';

export function viewStanding(liveness: LivenessMap, selfId: string, now: number): ViewStanding {
  let members = 1;
  let dead = 0;
  let suspect = 0;
  for (const [id, l] of Object.entries(liveness)) {
    if (id === selfId || !l || l.state === 'left') continue;
    if (l.state === 'dead' && now - l.since > RECENT_DEATH_MS) continue;
    members++;
    if (l.state === 'dead') dead++;
    else if (l.state === 'suspect') suspect++;
  }
  if (dead * 2 >= members) return 'cut-off';
  return (dead + suspect) * 2 >= members ? 'unsure' : 'sound';
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
