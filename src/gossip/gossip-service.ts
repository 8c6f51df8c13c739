import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import type { Message } from '@libp2p/gossipsub';
import type { Logger } from 'pino';
import { Membership, type MembershipOutput } from '../core/membership.ts';
import { encodeMessage, type Heartbeat, type Rumor, type WarrenEvent } from '../core/gossip-messages.ts';
import { admissionBody, applyGossip, type GossipMemberInfo } from '../core/gossip-acceptance.ts';
import { CLUSTER_EVENT_NAMES, TOPICS, clusterEventTopic, topicFamily, type ClusterEventName } from '../core/topics.ts';
import type { EtcdRole, HealthFigures, MemberState, MemberView } from '../core/views.ts';
import type { VolumeWord } from '../core/volumes/owner-safe-ago.ts';
import { EventHub } from './event-hub.ts';
import { RestartOverlay } from './restart-overlay.ts';
import type { GossipServiceOptions, Liveness } from './gossip-options.ts';
import { GossipIntake, count, type Counters } from './gossip-intake.ts';
import { memberViews } from './member-views.ts';
import { pingPeer } from './ping.ts';
import { watchOutboundStreams } from './pubsub-streams.ts';
import { dialAnnounced } from './dial-announced.ts';
import { UserTopicRefs } from './user-topics.ts';

export type { GossipServiceOptions, Liveness, SelfInfo } from './gossip-options.ts';

type MemberInfo = GossipMemberInfo;

const STATE_EVENTS: Record<MemberState, ClusterEventName> = {
  alive: 'node.alive',
  suspect: 'node.suspect',
  dead: 'node.dead',
  left: 'node.left',
};

/**
 * The gossip driver: feeds the pure Membership machine with heartbeats, rumors, probe results and
 * clock ticks, performs its decisions (probes, rumor broadcasts, refutations), and turns its state
 * changes into cluster events. What comes in is validated first, by its intake (gossip-intake.ts).
 */
export class GossipService extends EventEmitter {
  readonly membership: Membership<MemberInfo>;
  readonly hub = new EventHub();
  /** messages published, by topic family (what came in: `intake`) */
  readonly published: Counters = new Map();
  /** probes this node made, by "direct|indirect ok|failed" */
  readonly probes = new Map<string, number>();
  private readonly log: Logger;
  readonly intake: GossipIntake;
  private readonly userTopics = new UserTopicRefs(
    (t) => this.intake.watch(t),
    (t) => this.intake.unwatch(t),
  );
  /** local subscribers (SSE streams) now open */
  streams = 0;
  private timers: NodeJS.Timeout[] = [];
  private stopStreamWatch: () => void = () => undefined;
  private readonly t0 = performance.now();
  /** the heartbeat interval for clusters up to the detector's scaleFromMembers (stretched beyond) */
  private readonly heartbeatMs: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastHealth: HealthFigures | undefined;
  private selfId: string;
  /** members that announced a restart and are held for their grace (core/membership/restart-hold.ts) */
  private readonly restarts: RestartOverlay<MemberInfo>;

  constructor(private readonly opts: GossipServiceOptions) {
    super();
    this.log = opts.logger;
    this.selfId = opts.p2p.peerId.toString();
    // a restarted node must outrank rumors about its previous life
    this.membership = new Membership<MemberInfo>({ selfId: this.selfId, incarnation: opts.incarnation ?? Date.now(), config: opts.detector });
    this.restarts = new RestartOverlay(this.membership);
    this.heartbeatMs = opts.heartbeatIntervalMs ?? this.membership.config.heartbeatIntervalMs;
    this.intake = new GossipIntake({
      p2p: opts.p2p,
      log: this.log,
      isAdmitted: opts.isAdmitted,
      isKnownMember: (id) => this.membership.get(id) !== undefined,
      now: () => this.now(),
      interval: () => this.interval(),
      deliver: (msg) => this.onMessage(msg),
    });
  }

  private now(): number {
    return performance.now() - this.t0;
  }

  private get pubsub() {
    return this.opts.p2p.services.pubsub;
  }

  async start(): Promise<void> {
    const ps = this.pubsub;
    const fixed = [TOPICS.membership, TOPICS.health, TOPICS.admission, ...CLUSTER_EVENT_NAMES.map(clusterEventTopic)];
    for (const topic of fixed) this.intake.watch(topic);
    ps.addEventListener('message', (evt) => this.onMessage(evt.detail));
    this.lastHealth = await this.opts.collectHealth();
    await this.sendHeartbeat();
    this.scheduleHeartbeat();
    // each tick says how late it fired: a stalled event loop must not read its own stall as
    // everybody else's silence (the machine stretches its thresholds after one)
    const tickMs = this.opts.tickMs ?? 100;
    let lastTick = this.now();
    this.timers.push(
      setInterval(() => {
        const now = this.now();
        const lag = now - lastTick - tickMs;
        lastTick = now;
        this.apply(this.membership.tick(now, lag));
        this.sweepRestarts(now);
      }, tickMs),
    );
    this.timers.push(setInterval(() => void this.refreshHealth(), 2000));
    // repeat suspicions: a suspected node that missed the rumor (it was paused) hears it again
    // and refutes; otherwise a rumor-borne suspicion could outlive the pause forever
    this.timers.push(setInterval(() => this.repeatSuspicions(), 1000));
    this.stopStreamWatch = watchOutboundStreams(ps, this.opts.p2p, this.log);
  }

  /** The next heartbeat, at the interval the membership machine stretches with the cluster's size. */
  private scheduleHeartbeat(): void {
    this.heartbeatTimer = setTimeout(() => {
      this.scheduleHeartbeat();
      void this.sendHeartbeat();
    }, this.interval());
  }

  /** The heartbeat interval now (stretched with the cluster's size). */
  private interval(): number {
    return Math.round(this.heartbeatMs * this.membership.scale);
  }

  private onMessage(msg: Message): void {
    if (msg.type !== 'signed') return;
    const signer = msg.from.toString();
    if (signer === this.selfId) return;
    if (msg.topic === TOPICS.admission) {
      const body = admissionBody(msg.data);
      if (body) this.opts.onAdmission?.(signer, body);
      else count(this.intake.dropped, 'bad_admission');
      return;
    }
    const m = this.intake.value(msg);
    if (!m) return;
    try {
      const done = applyGossip(this.membership, msg.topic, m, this.now(), Date.now());
      if ('event' in done) this.hub.deliver(done.event, done.event.key);
      else this.apply(done.outputs);
      const hb = m as Heartbeat;
      if (msg.topic === TOPICS.health && hb.restart && this.restarts.heard(hb.id, hb.incarnation, hb.restart.graceMs, this.now())) {
        this.log.info({ member: hb.id, memberName: hb.name, graceMs: hb.restart.graceMs }, `member ${hb.name} is restarting: its replicas stay for the grace`);
        this.emit('member', { id: hb.id, from: 'alive', to: 'restarting', incarnation: hb.incarnation });
      }
    } catch (err) {
      count(this.intake.dropped, 'handler_error');
      this.log.warn({ err, topic: msg.topic }, 'gossip message could not be handled');
    }
  }

  /** Performs the machine's decisions. */
  private apply(outputs: MembershipOutput[]): void {
    for (const o of outputs) {
      switch (o.type) {
        case 'state':
          this.onStateChange(o.id, o.from, o.to, o.incarnation);
          break;
        case 'probe':
          if (o.mode === 'direct') void this.directProbe(o.target);
          else void this.indirectProbe(o.target, o.via);
          break;
        case 'broadcast':
          void this.publish(TOPICS.membership, { type: 'rumor', id: this.selfId, about: o.about, state: o.state, incarnation: o.incarnation } satisfies Rumor);
          break;
        case 'tell':
          void this.publish(TOPICS.membership, { type: 'rumor', id: this.selfId, about: o.about, state: o.state, incarnation: o.incarnation, to: o.about } satisfies Rumor);
          break;
        case 'refute':
          this.log.info({ incarnation: o.incarnation }, 'refuting a rumor about this node');
          void this.sendHeartbeat();
          void this.publish(TOPICS.membership, { type: 'rumor', id: this.selfId, about: this.selfId, state: 'alive', incarnation: o.incarnation } satisfies Rumor);
          break;
      }
    }
  }

  private onStateChange(id: string, from: MemberState | 'unknown', to: MemberState, incarnation: number): void {
    const member = this.membership.get(id);
    const name = member?.info?.name ?? id;
    this.log.info({ member: id, memberName: name, from, to, incarnation }, `member ${name} is ${to}`);
    const event: ClusterEventName = to === 'alive' && from !== 'suspect' ? 'node.joined' : STATE_EVENTS[to];
    this.emit('member', { id, from, to, incarnation });
    if (to === 'dead' || to === 'left') this.intake.forget(id);
    // a restarting node falls silent as a dead one does: node.dead is published if its hold runs out
    if ((to === 'suspect' || to === 'dead') && this.restarts.holding(id, this.now())) return;
    void this.publishClusterEvent(event, { node: id, name, from, to, incarnation }, `${event}|${id}|${incarnation}`);
  }

  private async directProbe(target: string): Promise<void> {
    const ok = await pingPeer(this.opts.p2p, target, this.membership.config.probeTimeoutMs);
    count(this.probes, `direct ${ok ? 'ok' : 'failed'}`);
    this.apply(this.membership.probeResult(target, { ok, via: 'direct', now: this.now() }));
  }

  private async indirectProbe(target: string, via: string[]): Promise<void> {
    const timeout = this.membership.config.probeTimeoutMs;
    await Promise.all(
      via.map(async (helper) => {
        const api = this.membership.get(helper)?.info?.api;
        const ok = api ? await this.opts.indirectPing(api, target, timeout).catch(() => false) : false;
        count(this.probes, `indirect ${ok ? 'ok' : 'failed'}`);
        this.apply(this.membership.probeResult(target, { ok, via: 'indirect', now: this.now(), helper }));
      }),
    );
  }

  /** Pings `target` for another member's indirect probe; only known members are pinged. */
  async pingForPeer(target: string, timeoutMs: number): Promise<boolean> {
    if (!this.membership.get(target)) return false;
    return pingPeer(this.opts.p2p, target, Math.min(timeoutMs, 2000));
  }

  private repeatSuspicions(): void {
    for (const m of this.membership.list()) {
      if (m.state !== 'suspect') continue;
      void this.publish(TOPICS.membership, { type: 'rumor', id: this.selfId, about: m.id, state: 'suspect', incarnation: m.incarnation } satisfies Rumor);
    }
  }

  private async refreshHealth(): Promise<void> {
    this.lastHealth = await this.opts.collectHealth().catch(() => this.lastHealth);
  }

  private addrs: { list: string[]; at: number } | undefined;

  /** This node's libp2p addresses, re-read every few seconds (formatting them for every heartbeat was ~6% of a lone idle agent's CPU). */
  private p2pAddrs(): string[] {
    const now = this.now();
    if (!this.addrs || now - this.addrs.at > 5000) this.addrs = { list: this.opts.p2p.getMultiaddrs().map(String), at: now };
    return this.addrs.list;
  }

  private async sendHeartbeat(restart?: Heartbeat['restart']): Promise<void> {
    const self = this.opts.self();
    const hb: Heartbeat = {
      type: 'heartbeat',
      id: this.selfId,
      incarnation: this.membership.self.incarnation,
      ...self,
      p2p: this.p2pAddrs(),
      hears: this.intake.hears(),
      health: { ...this.lastHealth!, ...this.opts.liveHealth?.() },
      ...(restart ? { restart } : {}),
    };
    await this.publish(TOPICS.health, hb);
  }

  private async publish(topic: string, value: unknown): Promise<void> {
    try {
      await this.pubsub.publish(topic, encodeMessage(value));
      count(this.published, topicFamily(topic));
    } catch (err) {
      this.log.debug({ err: (err as Error).message, topic }, 'publish failed');
    }
  }

  private makeEvent(topic: string, name: string, payload: unknown, key?: string): WarrenEvent {
    return { id: nanoid(), topic, name, time: Date.now(), source: { id: this.selfId, name: this.opts.self().name }, payload, ...(key ? { key } : {}) };
  }

  /** Dials a node this one has no connection to, at the addresses it announced (dial-announced.ts). */
  reach(id: string, addrs: string[]): void {
    dialAnnounced(this.opts.p2p, id, addrs, this.log);
  }

  /** Publishes on the admission topic. */
  async publishAdmission(value: object): Promise<void> {
    await this.publish(TOPICS.admission, value);
  }

  /** The detector's clock (ms), for converting its `since` times. */
  clock(): number {
    return this.now();
  }

  /** Publishes a cluster event to the cluster and to this node's own subscribers. */
  async publishClusterEvent(name: ClusterEventName, payload: unknown, key?: string): Promise<WarrenEvent> {
    const event = this.makeEvent(clusterEventTopic(name), name, payload, key);
    this.hub.deliver(event, key);
    await this.publish(event.topic, event);
    return event;
  }

  /** Publishes a user event (already validated by the caller) on `warren/user/<topic>`. */
  async publishUserEvent(topic: string, payload: unknown): Promise<WarrenEvent> {
    const event = this.makeEvent(`${TOPICS.userPrefix}${topic}`, topic, payload);
    this.hub.deliver(event);
    await this.publish(event.topic, event);
    return event;
  }

  /** Subscribes a local listener; user topics are joined on gossip while anyone listens. */
  subscribe(topics: string[], listener: (e: WarrenEvent) => void): () => void {
    this.userTopics.add(topics);
    const off = this.hub.subscribe(topics, listener);
    this.streams++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      this.streams--;
      this.userTopics.remove(topics);
    };
  }

  /** Every member, this node first. */
  members(selfRole: EtcdRole): MemberView[] {
    return memberViews({ self: this.opts.self(), selfId: this.selfId, selfRole, health: this.lastHealth, members: this.membership.list(), restarts: this.restarts, now: this.now() });
  }

  /** Every known member's state and since when, in wall-clock ms. */
  liveness(): Record<string, Liveness> {
    const now = this.now();
    const offset = Date.now() - now;
    const out: Record<string, Liveness> = {};
    for (const m of this.membership.list()) {
      const s = this.restarts.stateOf(m, now);
      out[m.id] = { state: s.state, since: s.since + offset };
    }
    return out;
  }

  /**
   * What member `id`'s last heartbeat said of the volumes it owns, and how long ago it came: read
   * by the volume view alone (core/volumes/owner-safe-ago.ts), so liveness() stays free of it.
   */
  volumeWord(id: string): VolumeWord | undefined {
    const m = this.membership.get(id);
    const safeAgoMs = m?.info?.health?.volumesSafeAgoMs;
    return m && safeAgoMs ? { safeAgoMs, heardAgoMs: Math.max(0, this.now() - m.lastHeardAt) } : undefined;
  }

  /** Ends holds whose node came back or left, and fails over those whose grace ran out. */
  private sweepRestarts(now: number): void {
    const { expired, ended } = this.restarts.sweep(now);
    for (const id of ended) this.emit('member', { id, from: 'restarting', to: this.membership.get(id)?.state ?? 'left', incarnation: this.membership.get(id)?.incarnation ?? 0 });
    for (const id of expired) {
      const m = this.membership.get(id);
      if (!m) continue;
      const name = m.info?.name ?? id;
      this.log.warn({ member: id, memberName: name, state: m.state }, `member ${name} did not come back within its restart grace: its replicas move`);
      this.emit('member', { id, from: 'restarting', to: m.state, incarnation: m.incarnation });
      if (m.state === 'dead') void this.publishClusterEvent('node.dead', { node: id, name, from: 'restarting', to: 'dead', incarnation: m.incarnation }, `node.dead|${id}|${m.incarnation}`);
    }
  }

  /** Peers' libp2p addresses as last announced (for re-dialing). */
  knownAddresses(): { id: string; addrs: string[] }[] {
    return this.membership
      .list()
      .filter((m) => m.state === 'alive' || m.state === 'suspect')
      .map((m) => ({ id: m.id, addrs: m.info?.p2p ?? [] }));
  }

  /**
   * Stops the timers after announcing why: 'leave' (the node is gone for good: its replicas move
   * at once), 'restart' (a last heartbeat carrying a restart notice: the others hold its replicas
   * for `restartGraceMs`), or 'quiet' (nothing: the others find it dead).
   */
  async stop(announce: 'leave' | 'restart' | 'quiet', restartGraceMs = 0): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.stopStreamWatch();
    this.timers = [];
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    if (announce === 'leave') await this.publish(TOPICS.membership, { type: 'leave', id: this.selfId, incarnation: this.membership.self.incarnation });
    else if (announce === 'restart' && restartGraceMs > 0 && this.lastHealth) await this.sendHeartbeat({ graceMs: restartGraceMs });
  }
}
