import { EventEmitter } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { nanoid } from 'nanoid';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { PrivateKey } from '@libp2p/interface';
import type { AgentConfig } from '../core/agent-config.ts';
import { UserError } from '../core/errors.ts';
import type { EtcdRole, NodeState } from '../core/views.ts';
import { readClusterFile, type ClusterMembership } from '../system/cluster-file.ts';
import { DATA_FILES } from '../system/data-dir.ts';
import { generateNodeKey, readTlsFiles, writeTlsFiles, type TlsFiles } from '../system/pki.ts';
import { within } from '../system/within.ts';
import { AdmissionDesk, validBatch, type AdmissionView, type ConsensusPhase } from './admission-desk.ts';
import { ClusterFileWriter } from './cluster-file-writer.ts';
import { ClusterStore, KEYS, VIEW_READ, type NodeRecord, type QueueRecord, type VoterOffer } from './cluster-store.ts';
import { etcdClientUrl, etcdPeerUrl } from './etcd-command.ts';
import { EtcdProcess } from './etcd-process.ts';
import { EtcdSession } from './etcd-session.ts';
import { newClusterPki, seedCluster } from './found-cluster.ts';
import { Hellos } from './hellos.ts';
import { Joiner, type AdmissionGrant, type JoinAccepted, type JoinerInfo, type RequestAdmission } from './joiner.ts';
import { listedAsClient, waitForSeatHandedOver } from './leave-steps.ts';
import { bookOtherVotersAsClients, LocalRaftIndex, refuseNeedlessRecovery } from './quorum-rebuild.ts';
import { RecoveryDriver } from './recovery.ts';

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
  liveness: () => Record<string, { state: NodeState; since: number } | undefined>;
  event: (name: 'node.joined', payload: unknown) => void;
  /** how long a fresh node listens for others before it may found a cluster */
  settleMs: number;
  /** Tailscale whois of a request's source: true when it is a device of this node's tailnet */
  sameTailnet?: (addrPort: string) => Promise<boolean>;
  /** since when this node has not reached the etcd quorum (null: it does); drives quorum recovery */
  quorumLostSince?: () => number | null;
}

const TLS_DIR = 'tls';

/**
 * A node's place in the etcd cluster: founds it, joins it through the admission queue, or
 * resumes its old role after a restart; runs the local etcd member while it is a voter; holds
 * the etcd client every other layer uses; and answers the member side of admission. This class
 * owns the node's role and moves it between the parts, which live beside it: founding hellos
 * (hellos.ts) and founding (found-cluster.ts), the etcd session (etcd-session.ts), the member
 * side of admission (admission-desk.ts), leaving (leave-steps.ts), quorum recovery (recovery.ts
 * decides, quorum-rebuild.ts acts) and cluster.json's writes (cluster-file-writer.ts).
 */
export class Consensus extends EventEmitter {
  phase: ConsensusPhase = 'discovering';
  clusterId: string | null = null;
  role: 'voter' | 'client' | null = null;
  readonly recovery: RecoveryDriver;
  private readonly session: EtcdSession;
  private readonly desk: AdmissionDesk;
  private readonly files: ClusterFileWriter;
  private readonly raftIndex: LocalRaftIndex;
  private etcd: EtcdProcess | undefined;
  private tls: TlsFiles | undefined;
  private joiner: Joiner | undefined;
  private readonly hellos: Hellos;
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
    this.raftIndex = new LocalRaftIndex(this.clientUrl);
    this.session = new EtcdSession({
      nodeId: o.nodeId,
      apiUrl: o.apiUrl,
      logger: o.logger,
      clientUrl: this.clientUrl,
      peerUrl: this.peerUrl,
      voters: o.config.voters,
      liveness: () => o.liveness(),
      broadcast: (msg) => o.publishAdmission(msg),
      ...(o.reach ? { reach: o.reach } : {}),
      event: o.event,
      tls: () => this.tls!,
      stopped: () => this.stopped,
      leaving: () => this.leaving,
      runsMember: () => this.etcd !== undefined,
      role: () => this.role,
      clientChanged: (client) => this.emit('client', client),
      connected: () => {
        this.phase = 'member';
        void this.hellos.say();
      },
      ready: () => this.emit('member'),
      peersSeen: (apis) => this.peersSeen(apis),
      endpointsChanged: (endpoints) => this.files.update({ endpoints }),
      becameVoter: () => this.saveMembership({ version: 1, clusterId: this.clusterId!, role: 'voter', endpoints: [this.clientUrl], admittedAt: Date.now() }),
      takeSeat: (offer) => this.takeSeat(offer),
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
    this.recovery = new RecoveryDriver({
      selfId: o.nodeId,
      logger: o.logger.child({ component: 'recovery' }),
      clusterId: () => (this.phase === 'member' ? this.clusterId : null),
      registry: () => [...new Set([...this.session.nodes.map((n) => n.id), o.nodeId])],
      voters: () => this.session.lastVoters,
      localIndex: () => this.raftIndex.read(Boolean(this.etcd?.running), this.tls),
      quorumLostSince: () => o.quorumLostSince?.() ?? null,
      liveness: () => o.liveness(),
      publish: (report) => o.publishAdmission(report),
      endorsement: () => this.endorsed,
      saveEndorsement: async (e) => {
        this.endorsed = e;
        await this.files.update({ recovery: e });
      },
      standDown: () => this.standDown(),
      forceNewCluster: (lost, why) => this.forceNewCluster(lost, why),
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

  get isLeader(): boolean {
    return this.session.isLeader;
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
    const tls = await readTlsFiles(join(this.dataDir, TLS_DIR));
    if (cluster && tls) {
      this.tls = tls;
      await this.resume(cluster);
      return;
    }
    void this.joinOrFound();
  }

  /** Fed by gossip with every message on warren/admission. */
  onAdmissionMessage(signer: string, msg: Record<string, unknown>): void {
    if (this.hellos.take(signer, msg)) return;
    if (msg.type === 'recovery') {
      // only members' views count towards a recovery
      if (this.session.admitted.has(signer)) this.recovery.onReport(signer, msg);
    } else if (msg.type === 'request-admission' && typeof msg.head === 'string' && typeof msg.leaderApi === 'string' && Array.isArray(msg.apis) && validBatch(msg.batch)) {
      this.joiner?.onBroadcast(signer, msg as unknown as RequestAdmission);
    }
  }

  // ---- joining and founding -------------------------------------------------------------

  private joinerInfo(): JoinerInfo {
    const c = this.o.config;
    return { id: this.o.nodeId, name: c.name, api: this.o.apiUrl, addr: c.bind, p2p: this.o.p2pAddrs(), peerUrl: this.peerUrl, clientUrl: this.clientUrl };
  }

  private async joinOrFound(): Promise<void> {
    // a half-finished earlier join leaves etcd data without a cluster file: start clean
    await rm(join(this.dataDir, DATA_FILES.etcd), { recursive: true, force: true });
    const key = await generateNodeKey();
    try {
      await this.runJoiner(key);
    } catch (err) {
      if (this.stopped) return;
      this.log.fatal({ err: (err as Error).message }, 'cannot join the cluster');
      this.emit('fatal', err);
    } finally {
      this.joiner = undefined;
    }
  }

  private async runJoiner(key: { keyPem: string; publicKeyPem: string }): Promise<void> {
    this.joiner = new Joiner({
      info: this.joinerInfo(),
      key: this.o.privateKey,
      logger: this.log.child({ component: 'joiner' }),
      joinTargets: [...new Set([...this.o.config.join.map((t) => `http://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`), ...this.peerApis])],
      ...(this.o.config.token ? { token: this.o.config.token } : {}),
      publicKeyPem: key.publicKeyPem,
      hellos: () => this.hellos.list(),
      settleMs: this.o.settleMs,
      onState: (s) => (this.phase = s as ConsensusPhase),
    });
    const outcome = await this.joiner.run();
    if (outcome.kind === 'found') await this.found();
    else await this.becomeMember(outcome.grant, key.keyPem);
  }

  private async found(): Promise<void> {
    const clusterId = nanoid(12);
    this.log.info({ clusterId, open: this.o.config.open }, 'founding a new cluster');
    const { ca, tls } = await newClusterPki(clusterId, this.o.nodeId, this.o.config.bind);
    this.tls = tls;
    const paths = await writeTlsFiles(join(this.dataDir, TLS_DIR), this.tls);
    this.etcd = this.makeEtcd({ clusterState: 'new', clusterToken: `warren-${clusterId}`, tls: paths });
    await this.etcd.start();
    await seedCluster({
      clientUrl: this.clientUrl,
      tls: this.tls,
      cluster: { id: clusterId, voterTarget: this.o.config.voters, open: this.o.config.open },
      ca,
      founder: { id: this.o.nodeId, name: this.o.config.name, api: this.o.apiUrl, addr: this.o.config.bind, role: 'voter', peerUrl: this.peerUrl, clientUrl: this.clientUrl },
    });
    await this.saveMembership({ version: 1, clusterId, role: 'voter', endpoints: [this.clientUrl], admittedAt: Date.now() });
    this.session.memberRole = 'voter';
    await this.session.connect([this.clientUrl]);
  }

  private async becomeMember(grant: AdmissionGrant, keyPem: string): Promise<void> {
    this.tls = { caPem: grant.caPem, certPem: grant.certPem, keyPem };
    const paths = await writeTlsFiles(join(this.dataDir, TLS_DIR), this.tls);
    this.log.info({ role: grant.role, clusterId: grant.clusterId }, 'admitted');
    if (grant.role === 'voter') {
      this.etcd = this.makeEtcd({ clusterState: 'existing', clusterToken: grant.clusterToken ?? 'warren', initialCluster: grant.initialCluster, tls: paths });
      await this.etcd.start({ waitHealthy: false });
    }
    const endpoints = grant.role === 'voter' ? [...new Set([...grant.endpoints, this.clientUrl])] : grant.endpoints;
    this.session.memberRole = grant.role === 'voter' ? 'learner' : 'client';
    await this.saveMembership({ version: 1, clusterId: grant.clusterId, role: grant.role, endpoints, admittedAt: Date.now() });
    await this.session.connect(endpoints);
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
    if (cluster.role === 'voter') {
      this.etcd = this.makeEtcd({ clusterState: 'existing', clusterToken: 'warren', tls: { ...this.tlsPaths() } });
      await this.etcd.start({ waitHealthy: false });
    }
    await this.session.connect(endpoints);
  }

  private tlsPaths() {
    const dir = join(this.dataDir, TLS_DIR);
    return { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'node.crt'), keyFile: join(dir, 'node.key') };
  }

  private makeEtcd(l: { clusterState: 'new' | 'existing'; clusterToken: string; initialCluster?: { name: string; peerUrl: string }[]; tls: { caFile: string; certFile: string; keyFile: string }; forceNewCluster?: boolean }): EtcdProcess {
    const c = this.o.config;
    const etcd = new EtcdProcess({
      binary: this.o.etcdBinary,
      logger: this.log.child({ component: 'etcd' }),
      tlsFiles: this.tls,
      launch: { name: this.o.nodeId, dataDir: join(this.dataDir, DATA_FILES.etcd), bind: c.bind, clientPort: c.ports.etcdClient, peerPort: c.ports.etcdPeer, ...l },
    });
    etcd.on('removed', () => void this.onRemoved().catch((err: Error) => this.log.error({ err: err.message }, 'could not carry on after this node was removed from etcd')));
    return etcd;
  }

  /** This voter was removed from etcd (it was dead too long): wipe and re-enter through the queue. */
  private async onRemoved(): Promise<void> {
    if (this.stopped || this.leaving) return;
    if (await this.stillRegistered()) {
      await this.becomeClient();
      return;
    }
    this.log.warn('this node was removed from the etcd cluster: wiping its etcd data and joining again through the queue');
    await this.forgetCluster();
    this.role = null;
    this.phase = 'discovering';
    // the members' hellos carry the cluster id: the founding rule sends this node back to them
    void this.joinOrFound();
  }

  /** The registry lists `apis` as the other members' APIs: kept (and told) when they changed. */
  private async peersSeen(apis: string[]): Promise<void> {
    if (apis.length && apis.join() !== this.peerApis.join()) {
      this.peerApis = apis;
      this.emit('peers', apis);
      await this.files.update({ peers: apis });
    }
  }

  /** A voter seat etcd holds for this client-only node: start the local member as the offered learner. */
  private async takeSeat(offer: VoterOffer): Promise<void> {
    await rm(join(this.dataDir, DATA_FILES.etcd), { recursive: true, force: true });
    this.etcd = this.makeEtcd({ clusterState: 'existing', clusterToken: offer.clusterToken, initialCluster: offer.initialCluster, tls: this.tlsPaths() });
    await this.etcd.start({ waitHealthy: false });
    await this.saveMembership({ version: 1, clusterId: this.clusterId!, role: 'voter', endpoints: [this.clientUrl, ...this.session.nodes.filter((n) => n.role === 'voter').map((n) => n.clientUrl)], admittedAt: Date.now() });
  }

  /** Whether this node can use the cluster's etcd right now. */
  async healthy(): Promise<boolean> {
    const client = this.session.client;
    if (!client || !this.tls || this.session.memberRole === 'none') return false;
    if (this.etcd) return this.etcd.healthy(VIEW_READ.withinMs);
    try {
      await within(client.get(KEYS.cluster).options({ deadline: Date.now() + VIEW_READ.withinMs }).string(), VIEW_READ.withinMs, 'reading etcd');
      return true;
    } catch {
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
    const others = this.session.nodes.filter((n) => n.id !== this.o.nodeId);
    const me = await store.node(this.o.nodeId);
    if (me && this.session.memberRole === 'voter' && others.length > 0) {
      await store.putNode({ ...me, leaving: true });
      onProgress('handing this voter seat over');
      await this.session.stopLeader();
      const voterUrls = others.filter((n) => n.role === 'voter').map((n) => n.clientUrl);
      await waitForSeatHandedOver({ voterUrls, tls: this.tls!, peerUrl: this.peerUrl, removed: () => Boolean(this.etcd?.removed), timeoutMs });
      onProgress('seat handed over');
    }
    await store.removeNode(this.o.nodeId).catch(() => undefined);
    await this.forgetCluster();
    onProgress('left the cluster');
  }

  /**
   * Whether the registry still lists this node (then its removal from etcd was a demotion, or its
   * seat was given away while it was down). Asked of the other voters.
   */
  private async stillRegistered(): Promise<boolean> {
    const urls = this.otherVoterUrls();
    if (!urls.length || !this.tls) return false;
    return listedAsClient(urls, this.tls, this.o.nodeId);
  }

  /**
   * The other voters' client URLs. Right after a restart the registry is not read yet: then the
   * endpoints this node was started with name them.
   */
  private otherVoterUrls(): string[] {
    const known = this.session.nodes.filter((n) => n.id !== this.o.nodeId && n.role === 'voter').map((n) => n.clientUrl);
    return known.length ? known : this.session.endpoints.filter((u) => u !== this.clientUrl);
  }

  /**
   * Demoted: stop the local etcd member and carry on as a client-only node. `keepData` moves the
   * member's data aside instead of deleting it (a voter standing down for a quorum recovery: a
   * person may still want it).
   */
  private async becomeClient(keepData = false): Promise<void> {
    this.log.info('demoted to a client-only node: stopping the local etcd member');
    await this.session.disconnect();
    await this.etcd?.stop(2000);
    this.etcd = undefined;
    this.raftIndex.close();
    const data = join(this.dataDir, DATA_FILES.etcd);
    if (keepData) await rename(data, `${data}.stood-down-${Date.now()}`).catch(() => undefined);
    else await rm(data, { recursive: true, force: true });
    // right after a restart the registry is not read yet: the voters it was started with (the
    // ones stillRegistered asked) are where it goes; an empty list crashed the agent
    const endpoints = this.otherVoterUrls();
    await this.saveMembership({ version: 1, clusterId: this.clusterId!, role: 'client', endpoints, admittedAt: Date.now() });
    this.session.memberRole = 'client';
    await this.session.connect(endpoints);
  }

  // ---- quorum recovery (src/consensus/recovery.ts decides when; warren recover asks by hand) --

  /** A surviving voter that is not the recovery's candidate stops its member for good. */
  private standDown(): Promise<void> {
    return this.becomeClient(true);
  }

  /**
   * Rebuilds etcd from this node's data as a one-voter cluster (etcd's --force-new-cluster keeps
   * every key and drops the other members), books every other voter as a client-only node (back,
   * each finds it was removed and carries on as a client, as a replaced voter does), and
   * reconnects. The leader refills the voter set from the alive nodes.
   */
  private async forceNewCluster(lost: string[], why: string): Promise<void> {
    const clusterId = this.clusterId;
    if (!this.tls || !clusterId) throw new UserError('not_member', 'this node is not a cluster member', 409);
    this.log.warn({ lost, why }, 'rebuilding etcd from this node\'s data as a one-voter cluster (--force-new-cluster)');
    await this.session.disconnect();
    await this.etcd?.stop(5000);
    this.raftIndex.close();
    this.etcd = this.makeEtcd({ clusterState: 'existing', clusterToken: 'warren', tls: this.tlsPaths(), forceNewCluster: true });
    await this.etcd.start();
    this.session.memberRole = 'voter';
    this.session.lastVoters = [this.o.nodeId];
    await bookOtherVotersAsClients(this.clientUrl, this.tls, this.o.nodeId);
    this.endorsed = undefined;
    await this.saveMembership({ version: 1, clusterId, role: 'voter', endpoints: [this.clientUrl], admittedAt: Date.now() });
    await this.session.connect([this.clientUrl]);
    this.log.warn({ lost }, 'etcd rebuilt: this node is the only voter; the others reconnect and the voter set is refilled');
  }

  /** warren recover: a person's word that the lost voters are gone for good. */
  async recoverByHand(): Promise<{ node: string; lost: string[] }> {
    if (this.phase !== 'member' || !this.clusterId) throw new UserError('not_member', 'this node is not a cluster member', 409);
    await refuseNeedlessRecovery({ runsMember: this.etcd !== undefined, dataDir: this.dataDir, nodes: () => this.session.nodes, client: () => this.session.client });
    const lost = this.session.lastVoters.filter((v) => v !== this.o.nodeId);
    await this.forceNewCluster(lost, 'by hand (warren recover)');
    return { node: this.o.nodeId, lost };
  }

  /** Drops the etcd session and member, and every trace of the cluster in the data dir. */
  private async forgetCluster(): Promise<void> {
    await this.session.disconnect();
    this.session.admitted.clear();
    await this.etcd?.stop(2000);
    this.etcd = undefined;
    await rm(join(this.dataDir, DATA_FILES.etcd), { recursive: true, force: true });
    await rm(join(this.dataDir, TLS_DIR), { recursive: true, force: true });
    await this.files.remove();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.phase = 'stopped';
    this.joiner?.stop();
    this.hellos.stop();
    this.recovery.stop();
    await this.session.disconnect();
    this.raftIndex.end();
    await this.etcd?.stop();
  }
}
