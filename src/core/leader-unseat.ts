/**
 * A Warren leader that gossip has declared dead loses its election key at once, instead of when
 * its lease expires. etcd restarts every lease's time to live when its own leader changes, so a
 * Warren leader that was also etcd's leader kept its seat ~3 s past etcd's election, and the
 * failover of its services waited for the next leader (~6 s from kill -9 to serving instead of
 * ~3 s). Removing the key is safe on a wrong verdict: a live leader's writes compare its key
 * (consensus/leadership.ts), so one that lost it is deposed at its next write and campaigns again.
 */
import type { LivenessMap } from './views.ts';

/** Members gossip holds dead now, other than this node, each with when it died (its verdict). */
export function deadMembers(liveness: LivenessMap, selfId: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, l] of Object.entries(liveness)) if (l?.state === 'dead' && id !== selfId) out.set(id, l.since);
  return out;
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
