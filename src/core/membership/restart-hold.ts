/**
 * Restart holds: whether the cluster keeps a stopping node's replicas where they are, or fails
 * them over. Pure and synchronous like the membership machine (src/core/membership.ts); the gossip
 * driver feeds it the notices it receives and its own clock, and overlays its verdict on the
 * membership state it reports (`liveness()`, `GET /v1/members`).
 *
 * Why: a graceful stop (SIGTERM from `systemctl restart warren` or a package upgrade) is almost
 * always a restart. Failing over every replica of that machine would move every app, and those
 * with replicated volumes onto a warm copy, losing up to one snapshot interval of writes. So the
 * stopping agent sends one last heartbeat carrying a restart notice `{ graceMs }` (an optional
 * field older agents ignore: for them the node simply dies and fails over, as before), stops its
 * containers (a replica never runs twice) and exits. Every node that hears the notice holds that
 * node for `graceMs` from the moment it heard it (its own clock: no clock agreement needed):
 * the node reads 'restarting', which the scheduler treats as "keep its replicas, place nothing
 * new there" and the voter manager as "not dead yet". Membership itself goes on as for any
 * silent node (suspect, then dead, ~2 s): the hold only covers it.
 *
 * A hold ends (verdict 'none': the plain membership state counts again) when:
 *   - the node is back: first-hand evidence of a HIGHER incarnation (a restarted agent starts
 *     from a new, larger incarnation; see "States and incarnations" in membership.ts). A later
 *     death of that new incarnation (kill -9 of the restarted agent) fails over at once.
 *   - the node left (`warren leave`): a leave moves its services at once.
 *   - the node is no longer a member (removed).
 * and it runs out (verdict 'expired', then dropped by `sweep`) when `graceMs` has passed without
 * the node coming back: its replicas fail over as on a death, its voter seat is replaced.
 *
 * A notice is refused when it cannot be about the node's present life: the sender is not a
 * known member, it is older than the incarnation we know, the node is already held dead or left
 * at that incarnation (a verdict already reached — its replicas may have moved — is not undone),
 * or its grace is not a positive number. Graces are capped at MAX_RESTART_GRACE_MS so that one
 * node cannot pin its replicas for ever.
 */
import type { MemberState } from './types.ts';

/** The longest hold a notice may ask for (a larger grace is cut to this). */
export const MAX_RESTART_GRACE_MS = 10 * 60_000;

/** The default `--restart-grace-ms`: a restart of the agent (etcd, libp2p, Docker reconnect) takes a few seconds. */
export const DEFAULT_RESTART_GRACE_MS = 30_000;

/** What the membership machine holds about the node (its `get(id)`), undefined if unknown. */
export interface MemberFact {
  state: MemberState;
  incarnation: number;
}

export interface RestartNotice {
  /** the incarnation the node announced its restart from */
  incarnation: number;
  /** when it was heard (driver clock) */
  at: number;
  /** end of the hold (exclusive, driver clock) */
  until: number;
}

export type RestartVerdict = 'none' | 'holding' | 'expired';

/** The decision for one node: hold its replicas ('holding'), fail over ('expired'), or no hold at all. */
export function restartVerdict(notice: RestartNotice | undefined, member: MemberFact | undefined, now: number): RestartVerdict {
  if (!notice || !member) return 'none';
  if (member.incarnation > notice.incarnation) return 'none'; // back (or a later life): the notice is stale
  if (member.state === 'left') return 'none'; // a leave moves services at once
  return now < notice.until ? 'holding' : 'expired';
}

/** Whether a notice `{ incarnation, graceMs }` from `member` may start a hold (see the module comment). */
export function acceptsNotice(member: MemberFact | undefined, incarnation: number, graceMs: number): boolean {
  if (!member) return false;
  if (!(Number.isFinite(graceMs) && graceMs > 0)) return false;
  if (!(Number.isSafeInteger(incarnation) && incarnation >= member.incarnation)) return false;
  return member.state === 'alive' || member.state === 'suspect';
}

/** The notices a node has heard, by member id. */
export class RestartHolds {
  private readonly notices = new Map<string, RestartNotice>();

  /** A restart notice from `id` itself, heard at `now`; true when it starts (or renews) a hold. */
  notice(id: string, n: { incarnation: number; graceMs: number; now: number }, member: MemberFact | undefined): boolean {
    if (!Number.isFinite(n.now)) throw new RangeError('now must be a finite number');
    if (!acceptsNotice(member, n.incarnation, n.graceMs)) return false;
    const prev = this.notices.get(id);
    if (prev && prev.incarnation > n.incarnation) return false;
    this.notices.set(id, { incarnation: n.incarnation, at: n.now, until: n.now + Math.min(n.graceMs, MAX_RESTART_GRACE_MS) });
    return true;
  }

  /** The verdict for `id` now, with the notice behind it. */
  verdict(id: string, member: MemberFact | undefined, now: number): { verdict: RestartVerdict; notice?: RestartNotice } {
    const notice = this.notices.get(id);
    const verdict = restartVerdict(notice, member, now);
    return verdict === 'none' ? { verdict } : { verdict, notice };
  }

  /**
   * Drops every notice that no longer holds anything; returns the ids whose hold ran out (the
   * driver reports them: their replicas fail over now) and those that ended because the node
   * came back or left.
   */
  sweep(now: number, memberOf: (id: string) => MemberFact | undefined): { expired: string[]; ended: string[] } {
    const expired: string[] = [];
    const ended: string[] = [];
    for (const [id, notice] of [...this.notices].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const v = restartVerdict(notice, memberOf(id), now);
      if (v === 'holding') continue;
      this.notices.delete(id);
      (v === 'expired' ? expired : ended).push(id);
    }
    return { expired, ended };
  }

  /** ids with a notice on record (holding, or not swept yet) */
  ids(): string[] {
    return [...this.notices.keys()].sort();
  }
}
