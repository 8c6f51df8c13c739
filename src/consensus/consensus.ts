import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { PrivateKey } from '@libp2p/interface';
import type { AgentConfig } from '../core/agent-config.ts';
import type { EtcdRole, LivenessMap } from '../core/views.ts';
import { readClusterFile, type ClusterMembership } from '../system/cluster-file.ts';
import { readTlsFiles } from '../system/pki.ts';
import { within } from '../system/within.ts';
import { AdmissionDesk, validBatch, type AdmissionView, type ConsensusPhase } from './admission-desk.ts';
import { ClusterEntry } from './cluster-entry.ts';
import { ClusterFileWriter } from './cluster-file-writer.ts';
import { ClusterStore, KEYS, VIEW_READ, type NodeRecord, type QueueRecord } from './cluster-store.ts';
import { attemptDeadline } from './etcd-client.ts';
import { etcdClientUrl, etcdPeerUrl } from './etcd-command.ts';
import { EtcdSession } from './etcd-session.ts';
import { Hellos } from './hellos.ts';
import type { AdmissionGrant, JoinAccepted, RequestAdmission } from './joiner.ts';
import { handSeatOver } from './leave-steps.ts';
import type { Leadership } from './leadership.ts';
import { LocalMember } from './local-member.ts';
import { RecoveryDriver } from './recovery.ts';
import { RoleChanges } from './role-changes.ts';

export type { AdmissionView, ConsensusPhase } from './admission-desk.ts';
export { hasEtcdData } from './quorum-rebuild.ts';

export interface ConsensusOptions {
  config: AgentConfig;
  nodeId: string;
  privateKey: PrivateKey;
  etcdBinary: string;
  logger: Logger;
  apiUrl: string;
  p2pAddrs: () => string[];
  /** gossip: publish on warren/admission */
  publishAdmission: (msg: object) => Promise<void>;
  /** connect to a node at its libp2p addresses (see Leader's deps) */
  reach?: (id: string, p2p: string[]) => void;
  /** gossip: state of every known node and since when (wall clock ms) */
  liveness: () => LivenessMap;
  event: (name: 'node.joined', payload: unknown) => void;
  /** how long a fresh node listens for others before it may found a cluster */
  settleMs: number;
  /** the nodes discovery says are there (founding.ts) */
  discovered?: () => string[];
  /** Tailscale whois of a request's source: true when it is a device of this node's tailnet */
  sameTailnet?: (addrPort: string) => Promise<boolean>;
  /** since when this node has not reached the etcd quorum (null: it does); drives quorum recovery */
  quorumLostSince?: () => number | null;
}

/**
 * A node's place in the etcd cluster: founds it, joins it through the admission queue, or
 * resumes its old role after a restart; runs the local etcd member while it is a voter; holds
 * the etcd client every other layer uses; and answers the member side of admission. This class
 * owns the node's role and moves it between the parts, which live beside it: founding hellos
 * (hellos.ts), joining or founding (cluster-entry.ts, found-cluster.ts), the local etcd member
 * and TLS files (local-member.ts), the etcd session (etcd-session.ts), the member side of
 * admission (admission-desk.ts), leaving (leave-steps.ts), the steps between etcd roles
 * (role-changes.ts), quorum recovery (recovery.ts decides, quorum-rebuild.ts acts) and
 * cluster.json's writes (cluster-file-writer.ts).
 */
export class Consensus extends EventEmitter {
  phase: ConsensusPhase = 'discovering';
  clusterId: string | null = null;
  role: 'voter' | 'client' | null = null;
  readonly recovery: RecoveryDriver;
  private readonly session: EtcdSession;
  private readonly desk: AdmissionDesk;
  private readonly files: ClusterFileWriter;
  /** the etcd member process, TLS files and etcd data of this node (local-member.ts) */
  private readonly member: LocalMember;
  /** joining or founding, for a node without a cluster (cluster-entry.ts) */
  private readonly entry: ClusterEntry;
  private readonly hellos: Hellos;
  /** taking a seat, demotion, standing down, rebuilding, forgetting the cluster (role-changes.ts) */
  private readonly roles: RoleChanges;
  private stopped = false;
  private leaving = false;
  /** other members' APIs (kept in cluster.json): where this node re-enters if it must */
  private peerApis: string[] = [];
  private readonly log: Logger;
  private endorsed: ClusterMembership['recovery'];

  constructor(private readonly o: ConsensusOptions) {
    super();
    this.log = o.logger;
    this.files = new ClusterFileWriter(o.config.dataDir);
    this.hellos = new Hellos({
      nodeId: o.nodeId,
      apiUrl: o.apiUrl,
      publish: (msg) => o.publishAdmission(msg),
      member: () => this.phase === 'member',
      clusterId: () => this.clusterId,
    });
    this.member = new LocalMember({
      config: o.config,
      nodeId: o.nodeId,
      etcdBinary: o.etcdBinary,
      logger: o.logger,
      clientUrl: this.clientUrl,
      onRemoved: () => void this.onRemoved().catch((err: Error) => this.log.error({ err: err.message }, 'could not carry on after this node was removed from etcd')),
    });
    this.session = new EtcdSession({
      nodeId: o.nodeId,
      apiUrl: o.apiUrl,
      logger: o.logger,
      clientUrl: this.clientUrl,
      peerUrl: this.peerUrl,
      voters: o.config.voters,
      liveness: () => o.liveness(),
      heardAgo: (id) => this.hellos.heardAgo(id),
      broadcast: (msg) => o.publishAdmission(msg),
      ...(o.reach ? { reach: o.reach } : {}),
      event: o.event,
      tls: () => this.member.tls!,
      stopped: () => this.stopped,
      leaving: () => this.leaving,
      runsMember: () => this.member.etcd !== undefined,
      role: () => this.role,
      clientChanged: (client, handedOver) => this.emit('client', client, handedOver),
      connected: () => {
        this.phase = 'member';
        void this.hellos.say();
      },
      ready: () => this.emit('member'),
      peersSeen: (apis) => this.peersSeen(apis),
      endpointsChanged: (endpoints) => this.files.update({ endpoints }),
      becameVoter: () => this.saveMembership({ version: 1, clusterId: this.clusterId!, role: 'voter', endpoints: [this.clientUrl], admittedAt: Date.now() }),
      takeSeat: (offer) => this.roles.takeSeat(offer),
    });
    this.entry = new ClusterEntry({
      config: o.config,
      nodeId: o.nodeId,
      privateKey: o.privateKey,
      apiUrl: o.apiUrl,
      p2pAddrs: o.p2pAddrs,
      settleMs: o.settleMs,
      logger: o.logger,
      clientUrl: this.clientUrl,
      peerUrl: this.peerUrl,
      member: this.member,
      session: this.session,
      hellos: this.hellos,
      discovered: () => o.discovered?.() ?? [],
      peerApis: () => this.peerApis,
      stopped: () => this.stopped,
      phase: (p) => (this.phase = p),
      saveMembership: (m) => this.saveMembership(m),
      fatal: (err) => this.emit('fatal', err),
    });
    this.desk = new AdmissionDesk({
      nodeId: o.nodeId,
      logger: o.logger,
      ...(o.sameTailnet ? { sameTailnet: o.sameTailnet } : {}),
      phase: () => this.phase,
      clusterId: () => this.clusterId,
      client: () => this.session.client,
      store: () => this.session.store,
      leader: () => this.session.currentLeader,
      nodes: () => this.session.nodes,
    });
    this.roles = new RoleChanges({
      nodeId: o.nodeId,
      dataDir: o.config.dataDir,
      logger: o.logger,
      clientUrl: this.clientUrl,
      member: this.member,
      session: this.session,
      phase: () => this.phase,
      clusterId: () => this.clusterId,
      saveMembership: (m) => this.saveMembership(m),
      dropEndorsement: () => (this.endorsed = undefined),
      removeClusterFile: () => this.files.remove(),
    });
    this.recovery = new RecoveryDriver({
      selfId: o.nodeId,
      logger: o.logger.child({ component: 'recovery' }),
      clusterId: () => (this.phase === 'member' ? this.clusterId : null),
      registry: () => [...new Set([...this.session.nodes.map((n) => n.id), o.nodeId])],
      voters: () => this.session.lastVoters,
      localIndex: () => this.member.raftIndex.read(Boolean(this.member.etcd?.running), this.member.tls),
      quorumLostSince: () => o.quorumLostSince?.() ?? null,
      liveness: () => o.liveness(),
      publish: (report) => o.publishAdmission(report),
      endorsement: () => this.endorsed,
      saveEndorsement: async (e) => {
        this.endorsed = e;
        await this.files.update({ recovery: e });
      },
      standDown: () => this.roles.standDown(),
      forceNewCluster: (lost, why) => this.roles.forceNewCluster(lost, why),
    });
  }

  private get dataDir(): string {
    return this.o.config.dataDir;
  }

  get clientUrl(): string {
    return etcdClientUrl(this.o.config.bind, this.o.config.ports.etcdClient);
  }

  get peerUrl(): string {
    return etcdPeerUrl(this.o.config.bind, this.o.config.ports.etcdPeer);
  }

  /** the etcd client every other layer uses (undefined while this node is not connected) */
  get client(): Etcd3 | undefined {
    return this.session.client;
  }

  /** one client per endpoint, for the quorum probe (see QuorumWatch) */
  get probeClients(): Etcd3[] {
    return this.session.probeClients;
  }

  get store(): ClusterStore | undefined {
    return this.session.store;
  }

  isAdmitted(id: string): boolean {
    return this.session.admitted.has(id);
  }

  /** isAdmitted, after reading the node records again when `id` is not (yet) among them (see EtcdSession). */
  confirmAdmitted(id: string): Promise<boolean> {
    return this.session.confirmAdmitted(id);
  }

  get isLeader(): boolean {
    return this.session.isLeader;
  }

  /** While this node leads: the election key its writes compare (see leadership.ts). */
  get leadership(): Leadership | undefined {
    return this.session.leadership;
  }

  etcdRole(): EtcdRole {
    return this.session.memberRole;
  }

  async start(): Promise<void> {
    this.hellos.start();
    const cluster = await readClusterFile(this.dataDir);
    this.peerApis = cluster?.peers ?? [];
    this.endorsed = cluster?.recovery;
    this.recovery.start();
    if (this.peerApis.length) this.emit('peers', this.peerApis);
    const tls = await readTlsFiles(this.member.tlsDir);
    if (cluster && tls) {
      this.member.tls = tls;
      await this.resume(cluster);
      return;
    }
    void this.entry.joinOrFound();
  }

  /** Fed by gossip with every message on warren/admission. */
  onAdmissionMessage(signer: string, msg: Record<string, unknown>): void {
    if (this.hellos.take(signer, msg)) return;
    if (msg.type === 'recovery') {
      // only members' views count towards a recovery
      if (this.session.admitted.has(signer)) this.recovery.onReport(signer, msg);
    } else if (msg.type === 'request-admission' && typeof msg.head === 'string' && typeof msg.leaderApi === 'string' && Array.isArray(msg.apis) && validBatch(msg.batch)) {
      this.entry.joiner?.onBroadcast(signer, msg as unknown as RequestAdmission);
    }
  }

  private async saveMembership(m: ClusterMembership): Promise<void> {
    await this.files.change(async () => ({ ...m, peers: this.peerApis }));
    this.clusterId = m.clusterId;
    this.role = m.role;
  }

  /** A restart with a data dir: back with the old role, no queue. */
  private async resume(cluster: ClusterMembership): Promise<void> {
    this.clusterId = cluster.clusterId;
    this.role = cluster.role;
    this.log.info({ clusterId: cluster.clusterId, role: cluster.role }, 'rejoining the cluster with the role this node had');
    const endpoints = [...new Set([...(cluster.role === 'voter' ? [this.clientUrl] : []), ...cluster.endpoints])];
    this.session.memberRole = cluster.role;
    if (cluster.role === 'voter') await this.member.start({ clusterState: 'existing', clusterToken: 'warren', tls: this.member.tlsPaths() }, { waitHealthy: false });
    await this.session.connect(endpoints);
  }

  /** This voter was removed from etcd (it was dead too long): wipe and re-enter through the queue. */
  private async onRemoved(): Promise<void> {
    if (this.stopped || this.leaving) return;
    if (await this.roles.stillRegistered()) {
      await this.roles.becomeClient();
      return;
    }
    this.log.warn('this node was removed from the etcd cluster: wiping its etcd data and joining again through the queue');
    await this.roles.forgetCluster();
    this.role = null;
    this.phase = 'discovering';
    // the members' hellos carry the cluster id: the founding rule sends this node back to them
    void this.entry.joinOrFound();
  }

  /** The registry lists `apis` as the other members' APIs: kept (and told) when they changed. */
  private async peersSeen(apis: string[]): Promise<void> {
    if (apis.length && apis.join() !== this.peerApis.join()) {
      this.peerApis = apis;
      this.emit('peers', apis);
      await this.files.update({ peers: apis });
    }
  }

  /** Whether this node can use the cluster's etcd right now. */
  async healthy(): Promise<boolean> {
    const client = this.session.client;
    if (!client || !this.member.tls || this.session.memberRole === 'none') return false;
    if (this.member.etcd) return this.member.etcd.healthy(VIEW_READ.withinMs);
    try {
      await within(client.get(KEYS.cluster).options(attemptDeadline(VIEW_READ.withinMs)).string(), VIEW_READ.withinMs, 'reading etcd');
      return true;
    } catch (err) {
      this.log.debug({ err: (err as Error).message, endpoints: this.session.endpoints }, 'health: etcd read failed');
      return false;
    }
  }

  // ---- the member side of admission (admission-desk.ts) -----------------------------------

  /** POST /v1/join: queue a joiner (deduplicated by node id) after checking how it may enter. */
  handleJoin(body: unknown, remote?: string): Promise<JoinAccepted> {
    return this.desk.handleJoin(body, remote);
  }

  /** POST /v1/admit: the named joiner's follow-up (leader only). */
  handleAdmit(body: unknown): Promise<AdmissionGrant> {
    return this.desk.handleAdmit(body);
  }

  /** warren admit NODE: an operator lets a pending joiner in. */
  approve(nameOrId: string): Promise<QueueRecord> {
    return this.desk.approve(nameOrId);
  }

  joinToken(): Promise<string> {
    return this.desk.joinToken();
  }

  /** GET /v1/admission: bounded, so `warren status` answers (with the error) while etcd cannot. */
  admissionView(): Promise<AdmissionView> {
    return this.desk.admissionView();
  }

  /** Joiners waiting in the queue, for the members view (answers while etcd cannot). */
  queuedJoiners(): Promise<QueueRecord[]> {
    return this.desk.queuedJoiners();
  }

  /** Admitted nodes as the registry knows them. */
  nodes(): NodeRecord[] {
    return this.session.nodes;
  }

  /**
   * Leaves the cluster for good (warren leave). A voter hands its seat over first: it marks
   * itself leaving and gives up leadership; the leader promotes a client-only node if there is
   * one, then removes this member from etcd. A client-only node just leaves the registry.
   * The node forgets the cluster afterwards: a later start is a fresh node.
   */
  async leave(onProgress: (msg: string) => void, timeoutMs = 90_000): Promise<void> {
    if (!this.session.store || !this.session.client) {
      onProgress('not a cluster member: nothing to hand over');
      return;
    }
    this.leaving = true;
    const store = this.session.store;
    await handSeatOver({ session: this.session, store, selfId: this.o.nodeId, tls: this.member.tls!, peerUrl: this.peerUrl, removed: () => Boolean(this.member.etcd?.removed), timeoutMs, onProgress });
    await store.removeNode(this.o.nodeId).catch(() => undefined);
    await this.roles.forgetCluster();
    onProgress('left the cluster');
  }

  /** warren recover: a person's word that the lost voters are gone for good (role-changes.ts). */
  recoverByHand(): Promise<{ node: string; lost: string[] }> {
    return this.roles.recoverByHand();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.phase = 'stopped';
    this.entry.joiner?.stop();
    this.hellos.stop();
    this.recovery.stop();
    await this.session.disconnect();
    this.member.raftIndex.end();
    await this.member.stop();
  }
}
