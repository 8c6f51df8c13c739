import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { deadMembers, newVerdicts, unseatable, viewStanding, type ViewStanding } from '../core/leader-unseat.ts';
import type { LivenessMap } from '../core/views.ts';
import { within } from '../system/within.ts';
import { ELECTION_PREFIX, KEYS } from './cluster-store.ts';
import type { Leadership } from './leadership.ts';

type Campaign = ReturnType<ReturnType<Etcd3['election']>['campaign']>;

/** the lease of a campaign: a dead leader is replaced that fast, a busy one is not dethroned (tests may lengthen it) */
const LEASE_S = Number(process.env.WARREN_TEST_LEADER_LEASE_S) || 3;
/** how long one look at the election may take (etcd may be electing its own leader meanwhile) */
const UNSEAT_DEADLINE_MS = 2000;

/**
 * This node's candidacy in the etcd election: campaigns again after any failure, and knows the
 * election key its leadership rests on (see leadership.ts).
 */
export class LeaderCampaign {
  isLeader = false;
  private campaign: Campaign | undefined;
  private electionKey: string | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private depose: (key: string) => void = () => undefined;
  /** the dead members whose verdict this node acted on (core/leader-unseat.ts), and whether it is at it */
  private readonly actedOn = new Map<string, number>();
  private unseating = false;
  /**
   * Verdicts reached before this moment (performance.now()) are not acted on: it is when the
   * current candidacy began, when the last one failed (its lease lost: this node was cut off from
   * etcd), or when this node last held half or more of the members freshly dead (then it was more
   * likely the one cut off: viewStanding). Back from a partition its gossip learns the others alive one by one,
   * and the leader may be the last: a verdict from the cut stays untaken all along.
   */
  private staleBefore = performance.now();

  constructor(private readonly d: { client: Etcd3; selfId: string; logger: Logger; elected: () => void }) {}

  run(): void {
    if (this.stopped) return;
    const campaign = this.d.client.election(KEYS.election, LEASE_S).campaign(this.d.selfId);
    this.campaign = campaign;
    this.staleBefore = performance.now();
    this.electionKey = undefined;
    let failed = false;
    const fail = (why: string) => {
      // a campaign may report several errors: react to its first one only
      if (failed || this.campaign !== campaign) return;
      failed = true;
      this.staleBefore = performance.now();
      const was = this.isLeader;
      this.isLeader = false;
      this.electionKey = undefined;
      void campaign.resign().catch(() => undefined);
      if (this.stopped) return;
      this.d.logger[was ? 'warn' : 'debug']({ err: why }, 'leader campaign failed; campaigning again');
      this.retry = setTimeout(() => this.run(), was ? 200 : 1000);
    };
    campaign.on('elected', () => {
      void campaign.getCampaignKey().then((key) => {
        if (this.campaign !== campaign || failed) return;
        this.electionKey = key;
        this.isLeader = true;
        this.d.logger.info('elected leader');
        this.d.elected();
      }, (err: Error) => fail(err.message));
    });
    campaign.on('error', (err: Error) => fail(err.message));
    this.depose = (key) => {
      if (this.electionKey === key) fail('its election key is gone (its lease expired while this node was cut off, or the key was deleted)');
    };
  }

  /**
   * While this node leads: the election key, for writes to compare, and `deposed` to call when such
   * a compare failed. A leader cut off from the quorum learns that its lease expired only when a
   * keep-alive fails; back from a partition it must not act on its stale view meanwhile.
   */
  get leadership(): Leadership | undefined {
    const key = this.electionKey;
    if (!this.isLeader || key === undefined) return undefined;
    return { key, deposed: () => this.depose(key) };
  }

  /** Whether the election key still exists (a fresh read); deposes this leader when it does not. */
  async confirm(): Promise<boolean> {
    const lead = this.leadership;
    if (!lead) return false;
    if (await this.d.client.get(lead.key).exists()) return true;
    lead.deposed();
    return false;
  }

  /**
   * While this node campaigns without leading: when gossip has a new dead verdict and the leader
   * is one of those members, removes its election key (only if unchanged since read), so the next
   * candidate is elected now rather than when etcd lets the dead leader's lease expire
   * (core/leader-unseat.ts). Not on a verdict older than `staleBefore`: it may be this node's own
   * view from a partition. Reads etcd only on a new verdict; a look that fails is made again.
   */
  async unseatDead(liveness: () => LivenessMap): Promise<void> {
    if (this.isLeader || !this.campaign || this.stopped || this.unseating) {
      this.standing(liveness(), Date.now());
      return;
    }
    const dead = this.deadNow(liveness());
    if (!newVerdicts(dead, this.actedOn)) return;
    this.unseating = true;
    const until = performance.now() + UNSEAT_DEADLINE_MS;
    try {
      const look = async () => {
        const ns = this.d.client.namespace(ELECTION_PREFIX);
        const [first] = (await ns.getAll().sort('Create', 'Ascend').limit(1).exec()).kvs;
        const holder = first?.value.toString();
        // A read past the deadline was given up on: etcd's client retries a request on other
        // members for up to ~15 s, and one sent as a partition began came back after the heal,
        // when the verdict was long stale (it unseated the live leader). Short of that, the
        // verdict must still hold now, not only when the look began.
        if (!first || performance.now() > until || !unseatable(holder, dead) || !unseatable(holder, this.deadNow(liveness()))) return;
        const key = first.key.toString();
        // a retry past the deadline fails at once rather than landing late
        const r = await ns.if(key, 'Mod', '==', first.mod_revision).then(ns.delete().key(key)).options({ deadline: Date.now() + until - performance.now() }).commit();
        if (r.succeeded) this.d.logger.info({ leader: holder }, 'removed the election key of a leader gossip declared dead');
      };
      await within(look(), UNSEAT_DEADLINE_MS, 'looking at the election');
      this.actedOn.clear();
      for (const [id, since] of dead) this.actedOn.set(id, since);
    } catch (err) {
      this.d.logger.debug({ err: (err as Error).message }, 'could not look at the election for a dead leader; looking again');
    } finally {
      this.unseating = false;
    }
  }

  /** The view's standing at `wall`, moving `staleBefore` on while it is cut off (at every step, leading or not). */
  private standing(liveness: LivenessMap, wall: number): ViewStanding {
    const standing = viewStanding(liveness, this.d.selfId, wall);
    if (standing === 'cut-off') this.staleBefore = performance.now();
    return standing;
  }

  /** The verdicts this node may act on in `liveness`: none while its view is not sound. */
  private deadNow(liveness: LivenessMap): Map<string, number> {
    const wall = Date.now();
    if (this.standing(liveness, wall) !== 'sound') return new Map();
    // staleBefore on the wall clock liveness uses (converted now: a clock step cancels out)
    return deadMembers(liveness, this.d.selfId, this.staleBefore + wall - performance.now());
  }

  /** Gives leadership up (to campaign again: run). */
  async resign(): Promise<void> {
    if (this.retry) clearTimeout(this.retry);
    const campaign = this.campaign;
    this.campaign = undefined;
    this.isLeader = false;
    this.electionKey = undefined;
    await campaign?.resign().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.resign();
  }
}
