/**
 * When an idle admission leader may plan from its last etcd read instead of reading again.
 *
 * Why: the leader plans every second while idle (dead voters are replaced from gossip's liveness
 * and the clock, which change without any etcd write), and every plan read etcd four times (the
 * member list, linearizable, plus the nodes, the queue and the admission in flight): most of an
 * idle cluster's etcd requests, and CPU for the leader's agent and every etcd member. The etcd
 * half only changes on an admission (whose keys the leader watches: a change makes it busy) or on
 * the leader's own actions (they make it busy too). So while the cluster is settled the plan
 * takes fresh liveness and time and the etcd half of a read at most `maxAgeMs` old; a plan that
 * wants to act is made again from a fresh read before anything is done (driver: consensus/leader.ts).
 */
import type { PlanInput } from './admission-plan.ts';

/** The longest an idle leader plans from one etcd read. */
export const IDLE_READ_MAX_AGE_MS = 5000;

/** Nothing under way in etcd's half of the input: no joiner queued or in flight, no learner, every member started. */
export function settled(input: Pick<PlanInput, 'queue' | 'inflight' | 'members'>): boolean {
  return input.queue.length === 0 && input.inflight === undefined && input.members.every((m) => !m.isLearner && m.name !== '');
}

export interface ReadState {
  /** when the last read was made (undefined: none yet, or dropped) */
  readAt: number | undefined;
  /** whether that read was settled */
  settled: boolean;
  /** the leader is busy (it acted or was woken recently): it reads every step */
  busy: boolean;
  now: number;
}

/** Whether this step may reuse the last read (see the module comment). */
export function reuseRead(s: ReadState, maxAgeMs = IDLE_READ_MAX_AGE_MS): boolean {
  if (s.readAt === undefined || s.busy || !s.settled) return false;
  const age = s.now - s.readAt;
  return age >= 0 && age < maxAgeMs;
}
