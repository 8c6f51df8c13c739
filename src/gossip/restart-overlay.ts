import type { Membership, MemberSnapshot } from '../core/membership.ts';
import { RestartHolds } from '../core/membership/restart-hold.ts';
import type { Liveness } from '../core/views.ts';

/**
 * The gossip driver's side of restart holds (src/core/membership/restart-hold.ts): records the
 * restart notices heard from members and overlays 'restarting' on the membership state it
 * reports while a hold lasts. Times are the driver's clock (the membership machine's).
 */
export class RestartOverlay<TInfo> {
  private readonly holds = new RestartHolds();

  constructor(private readonly membership: Membership<TInfo>) {}

  /** A heartbeat from `id` at `incarnation` carried a restart notice; true when a hold starts. */
  heard(id: string, incarnation: number, graceMs: number, now: number): boolean {
    return this.holds.notice(id, { incarnation, graceMs, now }, this.membership.get(id));
  }

  /** Whether `id` is held now (its replicas stay, its seat is kept). */
  holding(id: string, now: number): boolean {
    return this.holds.verdict(id, this.membership.get(id), now).verdict === 'holding';
  }

  /** The state to report for member `m` and since when (driver clock). */
  stateOf(m: MemberSnapshot<TInfo>, now: number): Liveness {
    const v = this.holds.verdict(m.id, m, now);
    return v.verdict === 'holding' ? { state: 'restarting', since: v.notice!.at } : { state: m.state, since: m.stateSince };
  }

  /** Drops finished holds: `expired` ran out (fail over now), `ended` came back or left. */
  sweep(now: number): { expired: string[]; ended: string[] } {
    return this.holds.sweep(now, (id) => this.membership.get(id));
  }
}
