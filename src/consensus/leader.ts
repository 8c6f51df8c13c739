import { admissionTurn, planLeaderStep, roleForJoiner, type Action } from '../core/admission-plan.ts';
import { UserError } from '../core/errors.ts';
import { issueNodeCert } from '../system/pki.ts';
import { ClusterStore, KEYS, type NodeRecord } from './cluster-store.ts';
import { retryEtcd } from './etcd-client.ts';
import { reuseRead, settled } from '../core/leader-reads.ts';
import type { AdmissionGrant, RequestAdmission } from './joiner.ts';
import { LeaderCampaign } from './leader-campaign.ts';
import { LeaderReads, type MemberListed, type ReadDeps, type Snapshot } from './leader-snapshot.ts';
import type { Leadership } from './leadership.ts';
import { monoNow } from '../system/clock.ts';

/** the leader's step while admission has work: every 250 ms */
const BUSY_STEP_MS = 250;
/** with nothing to do for IDLE_AFTER_MS it reads etcd only every IDLE_STEP_MS (a watch on the admission keys wakes it) */
const IDLE_AFTER_MS = 5000;
const IDLE_STEP_MS = 1000;

export interface LeaderDeps extends ReadDeps {
  selfApi: string;
  broadcast: (msg: RequestAdmission) => Promise<void>;
  /** connect to a node at its libp2p addresses if not connected (broadcasts reach connected peers only) */
  reach?: (id: string, p2p: string[]) => void;
  event: (name: 'node.joined', payload: unknown) => void;
}

/**
 * The leader's half of admission and voter management. Campaigns in an etcd election; while it
 * holds leadership it runs the pure planner in a loop and performs each action against etcd.
 */
export class Leader {
  private readonly store: ClusterStore;
  private readonly candidacy: LeaderCampaign;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly reads: LeaderReads;
  private admitting: Promise<unknown> = Promise.resolve();
  private lastBroadcast = 0;
  private stopped = false;
  private eligible = false;
  private readonly watchers = new Map<string, { cancel(): Promise<void> }>();
  /** the last etcd read, reused by idle steps while settled (core/leader-reads.ts) */
  private lastRead: { at: number; settled: boolean; snap: Snapshot } | undefined;
  /** when a step last had something to do, and when the last one ran */
  private busyAt = 0;
  private steppedAt = 0;

  constructor(private readonly d: LeaderDeps) {
    this.store = new ClusterStore(d.client);
    // a new leader looks closely at first: its predecessor may have left work
    this.candidacy = new LeaderCampaign({ client: d.client, selfId: d.selfId, logger: d.logger, elected: () => (this.busyAt = monoNow()) });
    this.reads = new LeaderReads(d, this.store, () => this.candidacy.confirm());
  }

  get isLeader(): boolean {
    return this.candidacy.isLeader;
  }

  start(): void {
    this.timer = setInterval(() => void this.step(), BUSY_STEP_MS);
  }

  /**
   * A change of admission's keys or of a node record (a voter leaving) wakes an idle leader, which
   * then reads etcd afresh (core/leader-reads.ts); watched only while this node may lead.
   */
  private watchAdmission(): void {
    for (const prefix of [KEYS.admissionPrefix, KEYS.nodePrefix]) {
      void this.d.client
        .watch()
        .prefix(prefix)
        .create()
        .then((w) => {
          if (this.stopped || !this.eligible || this.watchers.has(prefix)) return void w.cancel().catch(() => undefined);
          this.watchers.set(prefix, w);
          const wake = () => {
            this.busyAt = monoNow();
            void this.step();
          };
          w.on('put', wake).on('delete', wake).on('error', () => undefined);
        }, () => undefined);
    }
  }

  private unwatchAdmission(): void {
    for (const w of this.watchers.values()) void w.cancel().catch(() => undefined);
    this.watchers.clear();
  }

  /**
   * Only voters campaign (the driver says when this node is one). A leader needs etcd's quorum
   * anyway, which only voters make, and every campaigner holds a lease kept alive every second:
   * with fifty clients campaigning that was fifty keep-alives a second for nothing.
   */
  setEligible(yes: boolean): void {
    if (yes === this.eligible || this.stopped) return;
    this.eligible = yes;
    if (yes) {
      this.watchAdmission();
      this.candidacy.run();
    } else {
      this.unwatchAdmission();
      void this.resign();
    }
  }

  /** While this node leads: what its writes compare (see leadership.ts). */
  get leadership(): Leadership | undefined {
    return this.candidacy.leadership;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.unwatchAdmission();
    await this.candidacy.stop();
  }

  /** Hand leadership to someone else (warren leave). */
  async resign(): Promise<void> {
    await this.candidacy.resign();
  }

  private async step(): Promise<void> {
    if (this.eligible && !this.isLeader && !this.stopped) void this.candidacy.unseatDead(() => this.d.liveness());
    if (!this.isLeader || this.busy || this.stopped) return;
    // the throttles on the local clock; the plan's `now` is the wall clock (etcd's records carry it)
    const mono = monoNow();
    const now = Date.now();
    if (mono - this.busyAt > IDLE_AFTER_MS && mono - this.steppedAt < IDLE_STEP_MS) return;
    this.busy = true;
    this.steppedAt = mono;
    try {
      await this.admitting;
      const last = this.lastRead;
      let snap: Snapshot | undefined;
      let action: Action = { type: 'idle' };
      if (last && reuseRead({ readAt: last.at, settled: last.settled, busy: mono - this.busyAt <= IDLE_AFTER_MS, now: mono })) {
        // idle and settled: etcd's half as last read, gossip's liveness and the clock as of now
        snap = { ...last.snap, input: { ...last.snap.input, now, liveness: this.d.liveness() } };
        action = planLeaderStep(snap.input);
        if (action.type !== 'idle') snap = undefined; // it acts only on a fresh read
      }
      if (!snap) {
        snap = await this.reads.read();
        this.lastRead = { at: mono, settled: settled(snap.input), snap };
        // deposed while reading: the new leader decides from here
        if (!this.isLeader) return;
        action = planLeaderStep(snap.input);
      }
      const { members, nodes, queue } = snap;
      if (action.type !== 'idle') {
        this.busyAt = monoNow();
        this.lastRead = undefined;
      }
      if (action.type === 'broadcast') {
        for (const id of [action.head, ...(action.batch ?? [])]) {
          const joiner = queue.find((q) => q.id === id);
          if (joiner) this.d.reach?.(id, joiner.p2p);
        }
      }
      if (action.type !== 'idle' && action.type !== 'broadcast') this.d.logger.info({ action }, 'admission step');
      await this.perform(action, members, nodes);
    } catch (err) {
      this.d.logger.debug({ err: (err as Error).message }, 'admission step failed; retrying');
    } finally {
      this.busy = false;
    }
  }

  private async perform(action: Action, members: MemberListed[], nodes: NodeRecord[]): Promise<void> {
    switch (action.type) {
      case 'idle':
        return;
      case 'broadcast': {
        if (monoNow() - this.lastBroadcast < 1000) return;
        this.lastBroadcast = monoNow();
        const cluster = await this.store.cluster();
        const voters = nodes.filter((n) => n.role === 'voter');
        await this.d.broadcast({
          type: 'request-admission',
          clusterId: cluster?.id ?? '',
          head: action.head,
          ...(action.batch ? { batch: action.batch } : {}),
          leaderApi: this.d.selfApi,
          apis: nodes.map((n) => n.api),
          members: members.flatMap((m) => m.clientURLs).concat(voters.length ? [] : []),
        });
        return;
      }
      case 'promote': {
        try {
          await this.d.client.cluster.memberPromote({ ID: action.memberId });
        } catch (err) {
          // "not in sync with leader" until it has caught up: the next step tries again. A joiner
          // whose grant was lost with a dead leader is named again, so it follows up with us.
          this.d.logger.debug({ err: (err as Error).message }, 'learner not ready to promote yet');
          const inflight = await this.store.inflight();
          if (inflight?.kind === 'join') await this.perform({ type: 'broadcast', head: inflight.nodeId }, members, nodes);
          // its offer lost after the learner was added (the put failed: a voter change closed this
          // leader's client) left the node without its seat until the learner timed out (60 s)
          else if (inflight?.nodeId === action.nodeId && !(await this.store.offer(action.nodeId))) await this.putOffer(action.nodeId, members);
          return;
        }
        await this.finishPromotion(action.nodeId);
        return;
      }
      case 'clear-inflight': {
        const inflight = await this.store.inflight();
        if (inflight && action.reason === 'promoted') await this.finishPromotion(inflight.nodeId);
        else await this.store.giveUpInflight(inflight);
        return;
      }
      case 'remove-member': {
        await retryEtcd('remove member', () => this.d.client.cluster.memberRemove({ ID: action.memberId }), { timeoutMs: 15_000 });
        const inflight = await this.store.inflight();
        if (action.reason === 'stale-learner' || action.reason === 'learner-timeout' || action.reason === 'learner-gone') {
          if (inflight) {
            await this.store.setInflight(undefined);
            if (inflight.kind === 'join') {
              await this.store.dequeue(inflight.nodeId);
              await this.store.removeNode(inflight.nodeId);
            } else {
              await this.store.removeOffer(inflight.nodeId);
            }
          }
        } else if (action.nodeId && action.reason === 'dead-voter') {
          // still a member, without a seat: back from a reboot or an outage it carries on as a
          // client-only node (its etcd is told it was removed), with no new admission to wait for
          await this.store.setRole(action.nodeId, 'client');
        } else if (action.nodeId) {
          // warren leave: the node goes for good
          await this.store.removeNode(action.nodeId);
        }
        this.d.logger.warn({ memberId: action.memberId, node: action.nodeId, reason: action.reason }, 'removed an etcd member');
        return;
      }
      case 'demote':
        // registered as a client first: the node sees it still belongs and switches to client mode
        await this.store.setRole(action.nodeId, 'client');
        await retryEtcd('demote voter', () => this.d.client.cluster.memberRemove({ ID: action.memberId }), { timeoutMs: 15_000 });
        this.d.logger.info({ node: action.nodeId }, 'demoted a voter to client-only: the voter set stays odd');
        return;
      case 'drop-joiner':
        await this.store.dequeue(action.nodeId);
        if ((await this.store.inflight())?.nodeId === action.nodeId) await this.store.setInflight(undefined);
        this.d.logger.info({ node: action.nodeId, reason: action.reason }, 'dropped a joiner from the queue');
        return;
      case 'offer-voter': {
        const offeredTo = nodes.find((n) => n.id === action.nodeId);
        if (!offeredTo || members.some((m) => m.peerURLs.includes(action.peerUrl))) return;
        await this.store.setInflight({ kind: 'promote-client', nodeId: action.nodeId, peerUrl: action.peerUrl, startedAt: Date.now() });
        const added = await retryEtcd('add learner', () => this.d.client.cluster.memberAdd({ peerURLs: [action.peerUrl], isLearner: true }), { timeoutMs: 30_000 });
        await this.putOffer(action.nodeId, (added.members ?? []) as unknown as MemberListed[]);
        this.d.logger.info({ node: action.nodeId }, 'offered a voter seat to a client-only node');
        return;
      }
    }
  }

  /** The seat offered to a client-only node: it starts etcd as the learner named here (the unnamed one). */
  private putOffer(nodeId: string, members: MemberListed[]): Promise<void> {
    return this.store.putOffer({ nodeId, initialCluster: members.map((m) => ({ name: m.name || nodeId, peerUrl: m.peerURLs[0] ?? '' })), clusterToken: 'warren' });
  }

  private async finishPromotion(nodeId: string): Promise<void> {
    const inflight = await this.store.inflight();
    // the offer goes before the inflight record, so no stale offer outlives its operation
    await this.store.removeOffer(nodeId);
    await this.store.setRole(nodeId, 'voter');
    if (inflight?.kind === 'join') {
      await this.store.dequeue(nodeId);
      const n = await this.store.node(nodeId);
      this.d.event('node.joined', { node: nodeId, name: n?.name, role: 'voter' });
    }
    await this.store.setInflight(undefined);
    this.d.logger.info({ node: nodeId }, 'promoted to voter');
    this.lastBroadcast = 0;
  }

  /**
   * A named joiner's follow-up: admit it as a learner (to be promoted) or as a client-only
   * node. Each decides from a fresh snapshot; admissions that may take a voter seat are
   * serialised, batch (client-only) ones are not.
   */
  async admit(joinerId: string, publicKeyPem: string): Promise<AdmissionGrant> {
    if (!this.isLeader) throw new UserError('not_leader', 'this member is not the leader', 503);
    // A joiner named in a batch becomes a client-only node, which changes no etcd membership:
    // those run side by side. Whatever may take a voter seat goes one at a time.
    const snap = await this.reads.read();
    if (admissionTurn(snap.input, joinerId) === 'batch') return this.admitNow(joinerId, publicKeyPem, snap);
    const run = this.admitting.then(() => this.admitNow(joinerId, publicKeyPem));
    this.admitting = run.catch(() => undefined);
    return run;
  }

  private async admitNow(joinerId: string, publicKeyPem: string, snap?: Snapshot): Promise<AdmissionGrant> {
    const { input, members } = snap ?? (await this.reads.read());
    // the snapshot confirms leadership: a leader deposed meanwhile admits no one
    if (!this.isLeader) throw new UserError('not_leader', 'this member is not the leader', 503);
    const q = input.queue.find((e) => e.id === joinerId);
    if (!q) throw new UserError('not_queued', 'this node is not in the admission queue', 409);
    const record = await this.store.queued(joinerId);
    if (!record) throw new UserError('not_queued', 'this node is not in the admission queue', 409);
    const inflight = input.inflight;
    const turn = admissionTurn(input, joinerId);
    if (turn === null) throw new UserError('not_head', 'not this node\'s turn yet', 409);
    const resuming = turn === 'resume';
    const cluster = await this.store.cluster();
    const ca = await this.store.ca();
    if (!cluster || !ca) throw new UserError('no_cluster', 'cluster record missing', 503);
    const cert = await issueNodeCert(ca, { nodeId: joinerId, ips: [record.addr], publicKeyPem });
    const voters = members.filter((m) => !m.isLearner);
    const endpoints = voters.flatMap((m) => m.clientURLs);
    const role = resuming ? 'voter' : roleForJoiner(input);
    const node: NodeRecord = { id: joinerId, name: record.name, api: record.api, addr: record.addr, role, peerUrl: record.peerUrl, clientUrl: record.clientUrl, admittedAt: Date.now() };
    if (role === 'client') {
      await this.store.putNode(node);
      await this.store.dequeue(joinerId);
      this.d.logger.info({ node: joinerId, name: record.name }, 'admitted as a client-only node');
      this.lastBroadcast = 0; // name the next joiner at the next step, not a second after the last call
      this.d.event('node.joined', { node: joinerId, name: record.name, role });
      return { role, clusterId: cluster.id, caPem: ca.certPem, certPem: cert.certPem, endpoints };
    }
    await this.store.setInflight({ kind: 'join', nodeId: joinerId, peerUrl: record.peerUrl, startedAt: inflight?.startedAt ?? Date.now() });
    let all = members;
    if (!members.some((m) => m.peerURLs.includes(record.peerUrl))) {
      const added = await retryEtcd('add learner', () => this.d.client.cluster.memberAdd({ peerURLs: [record.peerUrl], isLearner: true }), {
        timeoutMs: 30_000,
        onRetry: (err) => this.d.logger.debug({ err: err.message }, 'etcd refused the learner for now; retrying'),
      });
      all = (added.members ?? []) as unknown as MemberListed[];
    }
    // registered as a client until promoted: nobody points a client at a learner
    await this.store.putNode({ ...node, role: 'client' });
    const initialCluster = all.map((m) => ({ name: m.peerURLs.includes(record.peerUrl) ? joinerId : m.name, peerUrl: m.peerURLs[0] ?? '' }));
    this.d.logger.info({ node: joinerId, name: record.name }, 'admitting as an etcd learner');
    return { role, clusterId: cluster.id, caPem: ca.certPem, certPem: cert.certPem, initialCluster, clusterToken: 'warren', endpoints };
  }
}
