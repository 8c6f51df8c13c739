import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { NodeRole } from '../core/admission-plan.ts';
import type { EtcdRole, LivenessMap } from '../core/views.ts';
import type { TlsFiles } from '../system/pki.ts';
import { within } from '../system/within.ts';
import { KEYS, type ClusterStore, type NodeRecord, type VoterOffer } from './cluster-store.ts';
import { etcdMemberHealthy } from './etcd-client.ts';
import { closeConnection, Handover, openConnection, type Connection } from './etcd-connection.ts';
import type { RequestAdmission } from './joiner.ts';
import { Leader } from './leader.ts';
import type { Leadership } from './leadership.ts';
import { monoNow } from '../system/clock.ts';
import { shouldReconnect, voterEndpoints } from '../core/follow-voters.ts';
import { AdmittedSet } from './admitted-set.ts';

/** how long a disconnect waits for each goodbye to etcd (a resign, a watch's cancel) */
const STOP_WITHIN_MS = 2000;

/** how often a client-only node re-reads its etcd role (see refreshRole) */
const CLIENT_ROLE_EVERY_MS = 5000;

/** reads of the registry failing this long make even the leader follow the voters (see refreshNodes) */
export const FAILING_FOLLOW_MS = 5000;

/** What a session needs of its node (Consensus provides it). */
export interface SessionHost {
  nodeId: string;
  apiUrl: string;
  logger: Logger;
  clientUrl: string;
  peerUrl: string;
  /** the cluster's voter target when its record does not say */
  voters: 3 | 5;
  liveness: () => LivenessMap;
  /** how long ago a node last said hello (hellos.ts) */
  heardAgo: (id: string) => number;
  broadcast: (msg: RequestAdmission) => Promise<void>;
  reach?: (id: string, p2p: string[]) => void;
  event: (name: 'node.joined', payload: unknown) => void;
  tls(): TlsFiles;
  stopped(): boolean;
  leaving(): boolean;
  /** whether this node runs a local etcd member */
  runsMember(): boolean;
  /** the role cluster.json gives this node */
  role(): NodeRole | null;
  /**
   * The etcd client every other layer uses changed (undefined: there is none now). `handedOver`:
   * it replaces a working client to the same cluster (the voters changed), so what was read
   * through the old one still holds.
   */
  clientChanged(client: Etcd3 | undefined, handedOver: boolean): void;
  /** a session started: this node is a member */
  connected(): void;
  /** the session is set up (registry read, watches on) */
  ready(): void;
  /** the other members' APIs as the registry lists them now */
  peersSeen(apis: string[]): Promise<void>;
  /** the voters changed: the endpoints a restart uses */
  endpointsChanged(endpoints: string[]): Promise<void>;
  /** etcd made this node a voter (a learner promoted) */
  becameVoter(): Promise<void>;
  /** a voter seat etcd holds for this client-only node: start the local member as that learner */
  takeSeat(offer: VoterOffer): Promise<void>;
}

/**
 * One etcd session of a member node (connect .. disconnect): the client every layer uses and one
 * per endpoint for the quorum probe, the leader campaign, and what the node follows through
 * watches and slow polls — the registry (admitted nodes, the voters to point the client at), its
 * own etcd role, and a voter seat offered to it.
 */
export class EtcdSession {
  /** this session's connection (undefined between a disconnect and the next connect) */
  private conn: Connection | undefined;
  /** the last session's connection while a reconnect to changed voters sets up its successor */
  private readonly handover = new Handover();
  /** this node's etcd role as last read (Consensus sets it when it changes it itself) */
  memberRole: EtcdRole = 'none';
  /** etcd's voting members (node ids) as last read */
  lastVoters: string[] = [];
  /** admitted nodes as the registry lists them, last read */
  nodes: NodeRecord[] = [];
  /** admitted node ids (self included), as last read; kept across reconnects */
  readonly admitted = new AdmittedSet();
  private leader: Leader | undefined;
  private watchers: Watcher[] = [];
  /** timers of the current session */
  private timers: NodeJS.Timeout[] = [];
  /** the etcd endpoints the current client uses */
  private endpoints_: string[] = [];
  private reconnecting = false;
  /** the disconnect under way: a second caller waits for it instead of running its own beside it */
  private disconnecting: Promise<void> | undefined;
  /** role changes under way (RoleChanges.exclusive): following the voters stays out of their way */
  private roleChanges = 0;
  private checkingOffer = false;
  private roleReadAt = 0;
  /** when the registry reads began to fail (undefined: the last one worked) */
  private failingSince: number | undefined;
  /** a registry read is due again soon (its reads are failing) */
  private retrySoon = false;
  private readonly log: Logger;

  constructor(private readonly h: SessionHost) {
    this.log = h.logger;
  }

  get endpoints(): readonly string[] {
    return this.endpoints_;
  }

  /** The etcd client every other layer uses (undefined while this node is not connected). */
  get client(): Etcd3 | undefined {
    return (this.conn ?? this.handover.kept)?.client;
  }

  /** One client per endpoint, for the quorum probe (see QuorumWatch). */
  get probeClients(): Etcd3[] {
    return (this.conn ?? this.handover.kept)?.probes ?? [];
  }

  get store(): ClusterStore | undefined {
    return (this.conn ?? this.handover.kept)?.store;
  }

  get isLeader(): boolean {
    return this.leader?.isLeader ?? false;
  }

  get leadership(): Leadership | undefined {
    return this.leader?.leadership;
  }

  /** The leader of this session (undefined while none runs). */
  get currentLeader(): Leader | undefined {
    return this.leader;
  }

  /** Gives up leadership (a voter leaving the cluster). */
  async stopLeader(): Promise<void> {
    await this.leader?.stop();
  }

  /**
   * Runs a role change (demotion, quorum rebuild, forgetting the cluster): while it runs, the
   * session does not reconnect to the voters on its own. Once, with a quorum rebuild under way,
   * that reconnect closed the rebuilt cluster's fresh client and connected to the old voters.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.roleChanges++;
    try {
      return await fn();
    } finally {
      this.roleChanges--;
    }
  }

  async connect(endpoints: string[]): Promise<void> {
    // a session left open by a caller that raced another (a reconnect beside a role change)
    // would leak its client, watches and leader: close it first; and a disconnect still under
    // way would close this new session's client at its end and drop its leader and watches
    while (this.conn || this.disconnecting) await this.disconnect();
    this.endpoints_ = [...endpoints].sort();
    this.failingSince = undefined;
    this.conn = openConnection(endpoints, this.h.tls(), (fields, msg) => this.log.debug(fields, msg));
    const { client, store } = this.conn;
    this.h.clientChanged(client, this.handover.takeOver());
    this.admitted.add(this.h.nodeId);
    this.h.connected();
    // the connection may be dropped meanwhile (this node removed, demoted, stopped): then give up
    const current = () => this.conn?.client === client && !this.h.stopped();
    const cluster = await this.retryForever('read the cluster record', () => store.cluster(), current);
    if (!current()) return;
    this.leader = new Leader({
      selfId: this.h.nodeId,
      selfApi: this.h.apiUrl,
      logger: this.log.child({ component: 'leader' }),
      client,
      voterTarget: cluster?.voterTarget ?? this.h.voters,
      liveness: () => this.h.liveness(),
      heardAgo: (id) => this.h.heardAgo(id),
      memberAnswers: async (urls) => (await Promise.all(urls.map((u) => etcdMemberHealthy(u, this.h.tls(), 1000)))).some(Boolean),
      broadcast: (msg) => this.h.broadcast(msg),
      ...(this.h.reach ? { reach: this.h.reach } : {}),
      event: this.h.event,
    });
    this.leader.start();
    await Promise.all([this.refreshNodes(), this.refreshRole(true)]);
    // changes arrive by watch; the timers only catch what a watch lost (a reconnect, say) and
    // keep an idle member's etcd requests few: every client polling every 500 ms was the voters'
    // main load in a big cluster
    const nodes = await client.watch().prefix(KEYS.nodePrefix).create();
    const offers = await client.watch().key(KEYS.offerPrefix + this.h.nodeId).create();
    if (!current()) {
      for (const w of [nodes, offers]) await within(w.cancel(), STOP_WITHIN_MS, 'cancelling a watch').catch(() => undefined);
      return;
    }
    nodes.on('put', () => void this.refreshNodes());
    nodes.on('delete', () => void this.refreshNodes());
    offers.on('put', () => void this.checkOffer());
    for (const w of [nodes, offers]) {
      w.on('error', () => undefined);
      this.watchers.push(w);
    }
    this.timers.push(setInterval(() => void this.refreshNodes(), 10_000));
    this.timers.push(setInterval(() => void this.refreshRole(), 1000));
    this.timers.push(setInterval(() => void this.checkOffer(), 5000));
    // an offer made while this session was being set up (a reconnect to new voters comes right
    // before the seat is offered) reached no watch: look once now, not at the next 5 s poll
    void this.checkOffer();
    this.h.ready();
  }

  /**
   * Closes the session. One at a time: two overlapping disconnects (a role change and a
   * reconnect to the voters) had the slower one close the client the other had connected since.
   * `handOver`: the next connect follows at once (the voters changed), and the client keeps
   * serving the other layers until then.
   */
  async disconnect(handOver = false): Promise<void> {
    this.disconnecting ??= this.disconnectOnce(handOver).finally(() => {
      this.disconnecting = undefined;
    });
    await this.disconnecting;
    if (!handOver) this.dropHandover();
  }

  private async disconnectOnce(handOver: boolean): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.retrySoon = false;
    // an etcd member removed a moment ago can take a request and never answer it, and neither a
    // campaign's resign nor a watch's cancel has a deadline of its own: a demotion once waited
    // here for good (the node never reconnected as a client)
    await within(this.leader?.stop() ?? Promise.resolve(), STOP_WITHIN_MS, 'stopping the admission leader loop').catch((err: Error) => this.log.warn({ err: err.message }, 'carrying on'));
    this.leader = undefined;
    for (const w of this.watchers) await within(w.cancel(), STOP_WITHIN_MS, 'cancelling a watch').catch(() => undefined);
    this.watchers = [];
    const conn = this.conn;
    this.conn = undefined;
    if (!conn) return;
    if (handOver) this.handover.keep(conn);
    else {
      this.h.clientChanged(undefined, false);
      closeConnection(conn);
    }
    // the admitted set outlives a reconnect (voters changed, demotion, recovery): emptied here, it
    // made gossip and member calls from every other member "not admitted" until the next read of
    // the node records. It is replaced by each read, and emptied when the node leaves the cluster.
  }

  /** A connection kept for a handover nobody takes over: closed now, and the other layers told. */
  private dropHandover(): void {
    if (this.handover.drop() && !this.conn) this.h.clientChanged(undefined, false);
  }

  /** Retries `fn` until it succeeds, or (undefined) until `wanted` says the result is not wanted any more. */
  private async retryForever<T>(what: string, fn: () => Promise<T>, wanted: () => boolean): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (this.h.stopped()) throw err;
        if (!wanted()) return undefined;
        if (attempt % 20 === 5) this.log.warn({ err: (err as Error).message }, `still trying to ${what}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Whether `id` is admitted, reading the node records again when it is not among them (AdmittedSet). */
  confirmAdmitted(id: string): Promise<boolean> {
    const store = this.conn?.store;
    return this.admitted.confirm(id, this.h.nodeId, store && (async () => (await store.nodes()).map((n) => n.id)));
  }

  private async refreshNodes(): Promise<void> {
    const store = this.conn?.store;
    if (!store) return;
    const started = monoNow();
    try {
      const nodes = await store.nodes();
      this.nodes = nodes;
      await this.h.peersSeen(nodes.filter((n) => n.id !== this.h.nodeId).map((n) => n.api).sort());
      this.admitted.replace(nodes.map((n) => n.id), this.h.nodeId);
      this.failingSince = undefined;
      await this.followVoters(nodes);
    } catch {
      // etcd unreachable for a moment: keep the last view. But a client that keeps failing may
      // know too few voters: the founder leads on a client of its own member alone (followVoters),
      // and when that member is sick (a full disk, a paused or crash-looping etcd) it could not
      // read the voters it needs until the member healed (a chaos run: over 60 s). So after a
      // while it follows the voters it last read, leader or not: a leader that cannot read has
      // lost its campaign anyway.
      // A read that hung until its deadline has failed since it began; while reads fail they are
      // tried again within a second, not at the next 10 s refresh (a follow 10-20 s late had the
      // node fenced meanwhile: the fence grace is 8 s).
      this.failingSince ??= started;
      if (monoNow() - this.failingSince >= FAILING_FOLLOW_MS) await this.followVoters(this.nodes, true).catch(() => undefined);
      else if (!this.retrySoon) {
        this.retrySoon = true;
        this.timers.push(setTimeout(() => {
          this.retrySoon = false;
          void this.refreshNodes();
        }, 1000));
      }
    }
  }

  /** Keeps the client pointed at the current voters (core/follow-voters.ts). */
  private async followVoters(nodes: NodeRecord[], failing = false): Promise<void> {
    const wanted = voterEndpoints(nodes, this.h.runsMember() ? this.h.clientUrl : undefined);
    const away = () => this.roleChanges > 0 || this.h.leaving() || this.h.stopped();
    if (!shouldReconnect(this.endpoints_, wanted, { leader: this.isLeader, failing }) || this.reconnecting || away()) return;
    this.reconnecting = true;
    try {
      this.log.info({ endpoints: wanted, failing }, failing ? 'etcd unreadable through this client: reconnecting to every voter' : 'the voters changed: reconnecting to them');
      await this.h.endpointsChanged(wanted);
      if (away()) return;
      await this.disconnect(true);
      // a role change that began meanwhile connects where it means to: not here (its own
      // disconnect closes the client kept serving meanwhile)
      if (away()) return;
      await this.connect(wanted);
    } finally {
      this.reconnecting = false;
    }
  }

  /**
   * Reads this node's etcd role: every second while it runs an etcd member (a learner is promoted,
   * a voter removed, without telling it), every 5 s on a client-only node, whose role changes
   * only through an offer it is told of.
   */
  private async refreshRole(force = false): Promise<void> {
    const client = this.conn?.client;
    if (!client) return;
    if (!force && !this.h.runsMember() && monoNow() - this.roleReadAt < CLIENT_ROLE_EVERY_MS) return;
    this.roleReadAt = monoNow();
    try {
      const res = await client.cluster.memberList({} as never);
      const me = (res.members ?? []).find((m) => (m.peerURLs ?? []).includes(this.h.peerUrl));
      const voters = (res.members ?? []).filter((m) => !m.isLearner && m.name).map((m) => m.name);
      if (voters.length) this.lastVoters = voters.sort();
      this.memberRole = me ? (me.isLearner ? 'learner' : 'voter') : 'client';
      this.leader?.setEligible(this.memberRole === 'voter');
      if (this.memberRole === 'voter' && this.h.role() !== 'voter') await this.h.becameVoter();
    } catch {
      // keep the last known role
    }
  }

  /**
   * A client-only node offered a voter seat starts its etcd member as the offered learner. One
   * check at a time: the watch, the 5 s poll and a reconnect can all ask at once, and two overlapping checks
   * would both start etcd (the second wiping the data dir of the first).
   */
  private async checkOffer(): Promise<void> {
    if (this.checkingOffer) return;
    this.checkingOffer = true;
    try {
      await this.checkOfferOnce();
    } finally {
      this.checkingOffer = false;
    }
  }

  private async checkOfferOnce(): Promise<void> {
    const conn = this.conn;
    if (!conn || this.h.runsMember() || this.h.role() !== 'client') return;
    const offer = await conn.store.offer(this.h.nodeId).catch(() => undefined);
    if (!offer || this.h.runsMember() || this.conn !== conn) return;
    // only a seat etcd really holds for us: a stale offer must not make this node start etcd
    const members = await conn.client.cluster.memberList({} as never).then((r) => r.members ?? [], () => []);
    if (!members.some((m) => m.isLearner && (m.peerURLs ?? []).includes(this.h.peerUrl))) return;
    this.log.info('offered a voter seat: starting an etcd member');
    await this.h.takeSeat(offer);
  }
}
