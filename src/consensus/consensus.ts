import { EventEmitter } from 'node:events';
import { rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { nanoid } from 'nanoid';
import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { PrivateKey } from '@libp2p/interface';
import type { AgentConfig } from '../core/agent-config.ts';
import { UserError } from '../core/errors.ts';
import { HELLO_TTL_MS, answerHelloAtOnce, helloDue, type PeerHello } from '../core/founding.ts';
import { formatJoinToken, parseJoinToken, secretsEqual } from '../core/join-token.ts';
import type { EtcdRole, MemberState } from '../core/views.ts';
import { readClusterFile, removeClusterFile, writeClusterFile, type ClusterMembership } from '../system/cluster-file.ts';
import { DATA_FILES } from '../system/data-dir.ts';
import { caFingerprint, createClusterCa, generateNodeKey, issueNodeCert, readTlsFiles, writeTlsFiles, type TlsFiles } from '../system/pki.ts';
import { verifyBody } from '../system/signing.ts';
import { within } from '../system/within.ts';
import { ClusterStore, KEYS, type NodeRecord, type QueueRecord, type ViewRead } from './cluster-store.ts';
import { createEtcdClient } from './etcd-client.ts';
import { etcdClientUrl, etcdPeerUrl } from './etcd-command.ts';
import { EtcdProcess } from './etcd-process.ts';
import { Joiner, type AdmissionGrant, type JoinAccepted, type JoinerInfo, type RequestAdmission } from './joiner.ts';
import { Leader } from './leader.ts';
import { memberRaftIndex, RecoveryDriver } from './recovery.ts';

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
  liveness: () => Record<string, { state: MemberState; since: number } | undefined>;
  event: (name: 'node.joined', payload: unknown) => void;
  /** how long a fresh node listens for others before it may found a cluster */
  settleMs: number;
  /** Tailscale whois of a request's source: true when it is a device of this node's tailnet */
  sameTailnet?: (addrPort: string) => Promise<boolean>;
  /** since when this node has not reached the etcd quorum (null: it does); drives quorum recovery */
  quorumLostSince?: () => number | null;
}

export type ConsensusPhase = 'discovering' | 'queued' | 'pending' | 'admitting' | 'member' | 'stopped';

export interface AdmissionView {
  clusterId: string | null;
  phase: ConsensusPhase;
  leader: string | null;
  queue: { id: string; name: string; addr: string; since: number; state: string; via: string }[];
  voters: { id: string; name: string; clientUrl: string; isLearner: boolean }[];
  /** set when the cluster's state could not be read */
  error?: string;
}

const TLS_DIR = 'tls';
/** how often a client-only node re-reads its etcd role (see refreshRole) */
const CLIENT_ROLE_EVERY_MS = 5000;
/** hellos older than this are dropped (a node heard again after that is answered as a newcomer) */
const HELLO_FORGET_MS = 60_000;
/** Views (members, health, status) read etcd within this: they must answer while etcd cannot. */
const VIEW_READ: ViewRead = { withinMs: 1000 };

/**
 * A node's place in the etcd cluster: founds it, joins it through the admission queue, or
 * resumes its old role after a restart; runs the local etcd member while it is a voter; holds
 * the etcd client every other layer uses; and answers the member side of admission.
 */
export class Consensus extends EventEmitter {
  phase: ConsensusPhase = 'discovering';
  clusterId: string | null = null;
  role: 'voter' | 'client' | null = null;
  client: Etcd3 | undefined;
  /** one client per endpoint, for the quorum probe (see QuorumWatch) */
  probeClients: Etcd3[] = [];
  store: ClusterStore | undefined;
  private etcd: EtcdProcess | undefined;
  private tls: TlsFiles | undefined;
  private leader: Leader | undefined;
  private joiner: Joiner | undefined;
  private readonly hellos = new Map<string, PeerHello>();
  private readonly admitted = new Set<string>();
  private nodesCache: NodeRecord[] = [];
  private lastQueueRead: QueueRecord[] = [];
  private queueRead: Promise<void> | undefined;
  private queueReadOk = true;
  private watchers: Watcher[] = [];
  private timers: NodeJS.Timeout[] = [];
  /** timers of the current etcd session (connect .. disconnect) */
  private sessionTimers: NodeJS.Timeout[] = [];
  /** the etcd endpoints the current client uses */
  private endpoints: string[] = [];
  private reconnecting = false;
  private stopped = false;
  private leaving = false;
  private memberRole: EtcdRole = 'none';
  /** other members' APIs (kept in cluster.json): where this node re-enters if it must */
  private peerApis: string[] = [];
  /** the cluster file change in flight (changeClusterFile chains on it) */
  private clusterFileChanges: Promise<unknown> = Promise.resolve();
  private checkingOffer = false;
  private helloSentAt = 0;
  private roleReadAt = 0;
  private readonly log: Logger;
  /** etcd's voting members (node ids) as last read */
  private lastVoters: string[] = [];
  /** a client of this node's own etcd member only (its raft status, without a quorum) */
  private localClient: Etcd3 | undefined;
  private endorsed: ClusterMembership['recovery'];
  readonly recovery: RecoveryDriver;

  constructor(private readonly o: ConsensusOptions) {
    super();
    this.log = o.logger;
    this.recovery = new RecoveryDriver({
      selfId: o.nodeId,
      logger: o.logger.child({ component: 'recovery' }),
      clusterId: () => (this.phase === 'member' ? this.clusterId : null),
      registry: () => [...new Set([...this.nodesCache.map((n) => n.id), o.nodeId])],
      voters: () => this.lastVoters,
      localIndex: () => this.localRaftIndex(),
      quorumLostSince: () => o.quorumLostSince?.() ?? null,
      liveness: () => o.liveness(),
      publish: (report) => o.publishAdmission(report),
      endorsement: () => this.endorsed,
      saveEndorsement: async (e) => {
        this.endorsed = e;
        await this.updateClusterFile({ recovery: e });
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

  isAdmitted(id: string): boolean {
    return this.admitted.has(id);
  }

  get isLeader(): boolean {
    return this.leader?.isLeader ?? false;
  }

  etcdRole(): EtcdRole {
    return this.memberRole;
  }

  async start(): Promise<void> {
    this.timers.push(setInterval(() => {
      this.forgetOldHellos(Date.now());
      if (helloDue({ now: Date.now(), lastSentAt: this.helloSentAt, member: this.phase === 'member', helloTtlMs: HELLO_TTL_MS, peers: [...this.hellos.values()] })) void this.sayHello();
    }, 1000));
    void this.sayHello();
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

  /** Nodes silent for a minute are forgotten (members say hello every 10 s): the map stays small. */
  private forgetOldHellos(now: number): void {
    for (const [id, h] of this.hellos) if (now - h.lastSeen > HELLO_FORGET_MS) this.hellos.delete(id);
  }

  private async sayHello(): Promise<void> {
    this.helloSentAt = Date.now();
    await this.o.publishAdmission({ type: 'hello', id: this.o.nodeId, api: this.o.apiUrl, clusterId: this.phase === 'member' ? this.clusterId : null });
  }

  /** Fed by gossip with every message on warren/admission. */
  onAdmissionMessage(signer: string, msg: Record<string, unknown>): void {
    if (msg.type === 'hello' && msg.id === signer && typeof msg.api === 'string' && (msg.clusterId === null || typeof msg.clusterId === 'string')) {
      const hello: PeerHello = { id: signer, api: msg.api, clusterId: msg.clusterId as string | null, lastSeen: Date.now() };
      const answer = answerHelloAtOnce(hello, this.hellos.get(signer), hello.lastSeen, HELLO_TTL_MS);
      this.hellos.set(signer, hello);
      // answer a newcomer (or a node back after a while) at once, so founding decisions do not
      // wait for the next round
      if (answer) void this.sayHello();
    } else if (msg.type === 'recovery') {
      // only members' views count towards a recovery
      if (this.admitted.has(signer)) this.recovery.onReport(signer, msg);
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
      hellos: () => [...this.hellos.values()],
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
    const ca = await createClusterCa(clusterId);
    const cert = await issueNodeCert(ca, { nodeId: this.o.nodeId, ips: [this.o.config.bind] });
    this.tls = { caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem };
    const paths = await writeTlsFiles(join(this.dataDir, TLS_DIR), this.tls);
    this.etcd = this.makeEtcd({ clusterState: 'new', clusterToken: `warren-${clusterId}`, tls: paths });
    await this.etcd.start();
    const client = createEtcdClient({ endpoints: [this.clientUrl], tls: this.tls });
    const store = new ClusterStore(client);
    await client.put(KEYS.cluster).value(JSON.stringify({ id: clusterId, createdAt: Date.now(), voterTarget: this.o.config.voters, open: this.o.config.open }));
    await client.put(KEYS.ca).value(JSON.stringify(ca));
    await client.put(KEYS.joinSecret).value(randomBytes(24).toString('base64url'));
    await store.putNode({ id: this.o.nodeId, name: this.o.config.name, api: this.o.apiUrl, addr: this.o.config.bind, role: 'voter', peerUrl: this.peerUrl, clientUrl: this.clientUrl, admittedAt: Date.now() });
    client.close();
    await this.saveMembership({ version: 1, clusterId, role: 'voter', endpoints: [this.clientUrl], admittedAt: Date.now() });
    this.memberRole = 'voter';
    await this.connect([this.clientUrl]);
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
    this.memberRole = grant.role === 'voter' ? 'learner' : 'client';
    await this.saveMembership({ version: 1, clusterId: grant.clusterId, role: grant.role, endpoints, admittedAt: Date.now() });
    await this.connect(endpoints);
  }

  private async saveMembership(m: ClusterMembership): Promise<void> {
    await this.changeClusterFile(async () => ({ ...m, peers: this.peerApis }));
    this.clusterId = m.clusterId;
    this.role = m.role;
  }

  /**
   * Every write (and the removal) of cluster.json goes through here, one after another in the
   * order asked for: `next` runs when the previous change is on disk, so a read-modify-write never
   * brings back what a newer write replaced. `next` returning undefined writes nothing.
   */
  private changeClusterFile(next: () => Promise<ClusterMembership | undefined>): Promise<void> {
    const run = this.clusterFileChanges.then(async () => {
      const c = await next();
      if (c) await writeClusterFile(this.dataDir, c);
    });
    this.clusterFileChanges = run.catch(() => undefined);
    return run;
  }

  /** A field of the cluster file as it is on disk now (nothing when there is no file). */
  private updateClusterFile(fields: Partial<ClusterMembership>): Promise<void> {
    return this.changeClusterFile(async () => {
      const current = await readClusterFile(this.dataDir);
      return current && { ...current, ...fields };
    });
  }

  /** A restart with a data dir: back with the old role, no queue. */
  private async resume(cluster: ClusterMembership): Promise<void> {
    this.clusterId = cluster.clusterId;
    this.role = cluster.role;
    this.log.info({ clusterId: cluster.clusterId, role: cluster.role }, 'rejoining the cluster with the role this node had');
    const endpoints = [...new Set([...(cluster.role === 'voter' ? [this.clientUrl] : []), ...cluster.endpoints])];
    this.memberRole = cluster.role;
    if (cluster.role === 'voter') {
      this.etcd = this.makeEtcd({ clusterState: 'existing', clusterToken: 'warren', tls: { ...this.tlsPaths() } });
      await this.etcd.start({ waitHealthy: false });
    }
    await this.connect(endpoints);
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

  // ---- membership ------------------------------------------------------------------------

  private async connect(endpoints: string[]): Promise<void> {
    this.endpoints = [...endpoints].sort();
    const client = createEtcdClient({ endpoints, tls: this.tls! });
    const store = new ClusterStore(client);
    this.client = client;
    for (const c of this.probeClients) c.close();
    this.probeClients = endpoints.map((e) => createEtcdClient({ endpoints: [e], tls: this.tls! }));
    this.store = store;
    this.emit('client', client);
    this.phase = 'member';
    this.admitted.add(this.o.nodeId);
    void this.sayHello();
    // the connection may be dropped meanwhile (this node removed, demoted, stopped): then give up
    const current = () => this.client === client && !this.stopped;
    const cluster = await this.retryForever('read the cluster record', () => store.cluster(), current);
    if (!current()) return;
    this.leader = new Leader({
      selfId: this.o.nodeId,
      selfApi: this.o.apiUrl,
      logger: this.log.child({ component: 'leader' }),
      client,
      voterTarget: cluster?.voterTarget ?? this.o.config.voters,
      liveness: () => this.o.liveness(),
      broadcast: (msg) => this.o.publishAdmission(msg),
      ...(this.o.reach ? { reach: this.o.reach } : {}),
      event: this.o.event,
    });
    this.leader.start();
    await Promise.all([this.refreshNodes(), this.refreshRole(true)]);
    // changes arrive by watch; the timers only catch what a watch lost (a reconnect, say) and
    // keep an idle member's etcd requests few: every client polling every 500 ms was the voters'
    // main load in a big cluster
    const nodes = await client.watch().prefix(KEYS.nodePrefix).create();
    const offers = await client.watch().key(KEYS.offerPrefix + this.o.nodeId).create();
    if (!current()) {
      for (const w of [nodes, offers]) await w.cancel().catch(() => undefined);
      return;
    }
    nodes.on('put', () => void this.refreshNodes());
    nodes.on('delete', () => void this.refreshNodes());
    offers.on('put', () => void this.checkOffer());
    for (const w of [nodes, offers]) {
      w.on('error', () => undefined);
      this.watchers.push(w);
    }
    this.sessionTimers.push(setInterval(() => void this.refreshNodes(), 10_000));
    this.sessionTimers.push(setInterval(() => void this.refreshRole(), 1000));
    this.sessionTimers.push(setInterval(() => void this.checkOffer(), 5000));
    // an offer made while this session was being set up (a reconnect to new voters comes right
    // before the seat is offered) reached no watch: look once now, not at the next 5 s poll
    void this.checkOffer();
    this.emit('member');
  }

  private async disconnect(): Promise<void> {
    for (const t of this.sessionTimers) clearInterval(t);
    this.sessionTimers = [];
    await this.leader?.stop();
    this.leader = undefined;
    for (const w of this.watchers) await w.cancel().catch(() => undefined);
    this.watchers = [];
    if (this.client) this.emit('client', undefined);
    this.client?.close();
    this.client = undefined;
    for (const c of this.probeClients) c.close();
    this.probeClients = [];
    this.store = undefined;
    // the admitted set outlives a reconnect (voters changed, demotion, recovery): emptied here, it
    // made gossip and member calls from every other member "not admitted" until the next read of
    // the node records. It is replaced by each read, and emptied when the node leaves the cluster.
  }

  /** Retries `fn` until it succeeds, or (undefined) until `wanted` says the result is not wanted any more. */
  private async retryForever<T>(what: string, fn: () => Promise<T>, wanted: () => boolean): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (this.stopped) throw err;
        if (!wanted()) return undefined;
        if (attempt % 20 === 5) this.log.warn({ err: (err as Error).message }, `still trying to ${what}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private async refreshNodes(): Promise<void> {
    if (!this.store) return;
    try {
      const nodes = await this.store.nodes();
      this.nodesCache = nodes;
      const apis = nodes.filter((n) => n.id !== this.o.nodeId).map((n) => n.api).sort();
      if (apis.length && apis.join() !== this.peerApis.join()) {
        this.peerApis = apis;
        this.emit('peers', apis);
        await this.updateClusterFile({ peers: apis });
      }
      const ids = new Set(nodes.map((n) => n.id));
      ids.add(this.o.nodeId);
      for (const id of [...this.admitted]) if (!ids.has(id)) this.admitted.delete(id);
      for (const id of ids) this.admitted.add(id);
      await this.followVoters(nodes);
    } catch {
      // etcd unreachable for a moment: keep the last view
    }
  }

  /**
   * Keeps the client pointed at the current voters: voters come and go (replaced, handed over),
   * and a client that only knows departed ones would lose the cluster.
   */
  private async followVoters(nodes: NodeRecord[]): Promise<void> {
    const wanted = [...new Set([...nodes.filter((n) => n.role === 'voter' && !n.leaving).map((n) => n.clientUrl), ...(this.etcd ? [this.clientUrl] : [])])].sort();
    // the leader reconnects only when a departed voter is in its list: each reconnect restarts
    // its campaign, and new voters alone do not make its client worse
    const departed = this.endpoints.some((e) => !wanted.includes(e));
    const differs = wanted.join() !== this.endpoints.join();
    if (wanted.length === 0 || !differs || (this.isLeader && !departed) || this.reconnecting || this.leaving || this.stopped) return;
    this.reconnecting = true;
    try {
      this.log.info({ endpoints: wanted }, 'the voters changed: reconnecting to them');
      await this.updateClusterFile({ endpoints: wanted });
      await this.disconnect();
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
    if (!this.client) return;
    if (!force && !this.etcd && Date.now() - this.roleReadAt < CLIENT_ROLE_EVERY_MS) return;
    this.roleReadAt = Date.now();
    try {
      const res = await this.client.cluster.memberList({} as never);
      const me = (res.members ?? []).find((m) => (m.peerURLs ?? []).includes(this.peerUrl));
      const voters = (res.members ?? []).filter((m) => !m.isLearner && m.name).map((m) => m.name);
      if (voters.length) this.lastVoters = voters.sort();
      this.memberRole = me ? (me.isLearner ? 'learner' : 'voter') : 'client';
      this.leader?.setEligible(this.memberRole === 'voter');
      if (this.memberRole === 'voter' && this.role !== 'voter') await this.saveMembership({ version: 1, clusterId: this.clusterId!, role: 'voter', endpoints: [this.clientUrl], admittedAt: Date.now() });
    } catch {
      // keep the last known role
    }
  }

  /**
   * A client-only node offered a voter seat starts its etcd member as the offered learner. One
   * check at a time: under load a check outlasts the 500 ms timer, and two overlapping checks
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
    if (!this.store || this.etcd || this.role !== 'client') return;
    const offer = await this.store.offer(this.o.nodeId).catch(() => undefined);
    if (!offer || this.etcd || !this.client) return;
    // only a seat etcd really holds for us: a stale offer must not make this node start etcd
    const members = await this.client.cluster.memberList({} as never).then((r) => r.members ?? [], () => []);
    if (!members.some((m) => m.isLearner && (m.peerURLs ?? []).includes(this.peerUrl))) return;
    this.log.info('offered a voter seat: starting an etcd member');
    await rm(join(this.dataDir, DATA_FILES.etcd), { recursive: true, force: true });
    this.etcd = this.makeEtcd({ clusterState: 'existing', clusterToken: offer.clusterToken, initialCluster: offer.initialCluster, tls: this.tlsPaths() });
    await this.etcd.start({ waitHealthy: false });
    await this.saveMembership({ version: 1, clusterId: this.clusterId!, role: 'voter', endpoints: [this.clientUrl, ...this.nodesCache.filter((n) => n.role === 'voter').map((n) => n.clientUrl)], admittedAt: Date.now() });
  }

  /** Whether this node can use the cluster's etcd right now. */
  async healthy(): Promise<boolean> {
    if (!this.client || !this.tls || this.memberRole === 'none') return false;
    if (this.etcd) return this.etcd.healthy(VIEW_READ.withinMs);
    try {
      await within(this.client.get(KEYS.cluster).options({ deadline: Date.now() + VIEW_READ.withinMs }).string(), VIEW_READ.withinMs, 'reading etcd');
      return true;
    } catch {
      return false;
    }
  }

  // ---- the member side of admission ------------------------------------------------------

  /** POST /v1/join: queue a joiner (deduplicated by node id) after checking how it may enter. */
  async handleJoin(body: unknown, remote?: string): Promise<JoinAccepted> {
    const v = await verifyBody<JoinerInfo & { token?: string }>(body);
    if (!v.ok) throw new UserError('bad_request', `join request refused: ${v.reason}`, 400);
    const j = v.value;
    const store = this.store;
    if (!store || this.phase !== 'member') throw new UserError('not_member', 'this node is not a cluster member yet', 503);
    if (j.id === this.o.nodeId) throw new UserError('bad_request', 'a node cannot join itself', 400);
    for (const f of ['name', 'api', 'addr', 'peerUrl', 'clientUrl'] as const) if (typeof j[f] !== 'string' || j[f].length > 300) throw new UserError('bad_request', `join request: bad ${f}`, 400);
    const [cluster, ca, secret] = await Promise.all([store.cluster(), store.ca(), store.joinSecret()]);
    if (!cluster || !ca || !secret) throw new UserError('not_ready', 'the cluster is still being founded', 503);
    let via: QueueRecord['via'] = 'pending';
    if (j.token !== undefined) {
      const token = parseJoinToken(String(j.token));
      if (!secretsEqual(token.secret, secret)) throw new UserError('bad_token', 'the join token is not valid for this cluster (get a fresh one with "warren join-token")', 403);
      via = 'token';
    } else if (cluster.open) via = 'open';
    else if (remote && this.o.sameTailnet && (await this.o.sameTailnet(remote).catch(() => false))) via = 'tailnet';
    const existing = await store.queued(j.id);
    // an admitted node asking again lost its data: it re-enters as a new joiner
    const known = await store.node(j.id);
    if (known) {
      await this.forgetNode(known);
    }
    const approved = existing?.via === 'approval';
    const state = via !== 'pending' || approved ? 'waiting' : 'pending-approval';
    await store.putQueued({
      id: j.id, name: j.name, api: j.api, addr: j.addr, p2p: Array.isArray(j.p2p) ? j.p2p.slice(0, 8) : [], peerUrl: j.peerUrl, clientUrl: j.clientUrl,
      since: existing?.since ?? Date.now(), lastSeen: Date.now(), state, via: approved ? 'approval' : via,
    });
    if (!existing) this.log.info({ joiner: j.id, name: j.name, via, state }, 'join request queued');
    return { state, clusterId: cluster.id, caPem: ca.certPem, memberIds: this.nodesCache.map((n) => n.id) };
  }

  private async forgetNode(n: NodeRecord): Promise<void> {
    if (!this.client || !this.store) return;
    const res = await this.client.cluster.memberList({} as never);
    const m = (res.members ?? []).find((x) => (x.peerURLs ?? []).includes(n.peerUrl));
    if (m) await this.client.cluster.memberRemove({ ID: m.ID });
    await this.store.removeNode(n.id);
    this.log.warn({ node: n.id, name: n.name }, 'a member asked to join again with an empty data dir: it re-enters through the queue');
  }

  /** POST /v1/admit: the named joiner's follow-up (leader only). */
  async handleAdmit(body: unknown): Promise<AdmissionGrant> {
    const v = await verifyBody<{ id: string; publicKeyPem: string }>(body);
    if (!v.ok) throw new UserError('bad_request', `admission refused: ${v.reason}`, 400);
    if (!this.leader?.isLeader) throw new UserError('not_leader', 'this member is not the leader', 503);
    if (typeof v.value.publicKeyPem !== 'string') throw new UserError('bad_request', 'admission: a public key is required', 400);
    return this.leader.admit(v.value.id, v.value.publicKeyPem);
  }

  /** warren admit NODE: an operator lets a pending joiner in. */
  async approve(nameOrId: string): Promise<QueueRecord> {
    if (!this.store) throw new UserError('not_member', 'this node is not a cluster member yet', 503);
    const queue = await this.store.queue();
    const q = queue.find((e) => e.id === nameOrId || e.name === nameOrId);
    if (!q) throw new UserError('not_found', `no node "${nameOrId}" is waiting for admission (see warren status)`, 404);
    const updated: QueueRecord = { ...q, state: 'waiting', via: 'approval', lastSeen: Date.now() };
    await this.store.putQueued(updated);
    this.log.info({ joiner: q.id, name: q.name }, 'an operator approved a joiner');
    return updated;
  }

  async joinToken(): Promise<string> {
    if (!this.store) throw new UserError('not_member', 'this node is not a cluster member yet', 503);
    const [ca, secret] = await Promise.all([this.store.ca(), this.store.joinSecret()]);
    if (!ca || !secret) throw new UserError('not_ready', 'the cluster is still being founded', 503);
    return formatJoinToken({ secret, caFingerprint: caFingerprint(ca.certPem) });
  }

  /** GET /v1/admission: bounded, so `warren status` answers (with the error) while etcd cannot. */
  async admissionView(): Promise<AdmissionView> {
    const base: AdmissionView = { clusterId: this.clusterId, phase: this.phase, leader: null, queue: [], voters: [] };
    if (!this.client || !this.store) return base;
    return within(this.readAdmission(base), VIEW_READ.withinMs * 2, 'reading etcd').catch((err: Error) => ({ ...base, error: `etcd unreachable: ${err.message}` }));
  }

  /**
   * Joiners waiting in the queue, for the members view: read from any member within a second
   * (concurrent views share one read). While etcd does not answer, the last list at once (the
   * read goes on in the background): the view must answer while etcd cannot.
   */
  async queuedJoiners(): Promise<QueueRecord[]> {
    const store = this.store;
    if (!store) return [];
    this.queueRead ??= store
      .queue(VIEW_READ)
      .then(
        (queue) => {
          this.lastQueueRead = queue.sort((a, b) => a.since - b.since);
          this.queueReadOk = true;
        },
        () => {
          this.queueReadOk = false;
        },
      )
      .finally(() => (this.queueRead = undefined));
    if (this.queueReadOk) await this.queueRead;
    return this.lastQueueRead;
  }

  private async readAdmission(base: AdmissionView): Promise<AdmissionView> {
    const [queue, members, leader] = await Promise.all([
      this.store!.queue(VIEW_READ),
      this.client!.cluster.memberList({} as never).then((r) => r.members ?? []),
      this.client!.election(KEYS.election).leader().catch(() => undefined),
    ]);
    const names = new Map(this.nodesCache.map((n) => [n.id, n.name]));
    return {
      ...base,
      leader: leader ?? null,
      queue: queue.sort((a, b) => a.since - b.since).map((q) => ({ id: q.id, name: q.name, addr: q.addr, since: q.since, state: q.state, via: q.via })),
      voters: members.map((m) => ({ id: m.name, name: names.get(m.name) ?? m.name, clientUrl: (m.clientURLs ?? [])[0] ?? '', isLearner: Boolean(m.isLearner) })),
    };
  }

  /** Admitted nodes as the registry knows them. */
  nodes(): NodeRecord[] {
    return this.nodesCache;
  }

  /**
   * Leaves the cluster for good (warren leave). A voter hands its seat over first: it marks
   * itself leaving and gives up leadership; the leader promotes a client-only node if there is
   * one, then removes this member from etcd. A client-only node just leaves the registry.
   * The node forgets the cluster afterwards: a later start is a fresh node.
   */
  async leave(onProgress: (msg: string) => void, timeoutMs = 90_000): Promise<void> {
    if (!this.store || !this.client) {
      onProgress('not a cluster member: nothing to hand over');
      return;
    }
    this.leaving = true;
    const store = this.store;
    const others = this.nodesCache.filter((n) => n.id !== this.o.nodeId);
    const me = await store.node(this.o.nodeId);
    if (me && this.memberRole === 'voter' && others.length > 0) {
      await store.putNode({ ...me, leaving: true });
      onProgress('handing this voter seat over');
      await this.leader?.stop();
      // ask the other voters: this node's own etcd goes away once it is removed
      const watcher = createEtcdClient({ endpoints: others.filter((n) => n.role === 'voter').map((n) => n.clientUrl), tls: this.tls! });
      const deadline = Date.now() + timeoutMs;
      try {
        for (;;) {
          if (this.etcd?.removed) break;
          const members = await watcher.cluster.memberList({} as never).then((r) => r.members ?? [], () => undefined);
          if (members && !members.some((m) => (m.peerURLs ?? []).includes(this.peerUrl))) break;
          if (Date.now() > deadline) throw new UserError('leave_timeout', 'the cluster did not take the seat of this voter over in time; try again, or stop the agent (it is replaced once it is dead)', 504);
          await new Promise((r) => setTimeout(r, 250));
        }
      } finally {
        watcher.close();
      }
      onProgress('seat handed over');
    }
    await store.removeNode(this.o.nodeId).catch(() => undefined);
    await this.forgetCluster();
    onProgress('left the cluster');
  }

  /**
   * Whether the registry still lists this node (then its removal from etcd was a demotion, or its
   * seat was given away while it was down). Asked of the other voters; right after a restart the
   * registry is not read yet, and the endpoints it was started with name them.
   */
  private async stillRegistered(): Promise<boolean> {
    const known = this.nodesCache.filter((n) => n.id !== this.o.nodeId && n.role === 'voter').map((n) => n.clientUrl);
    const urls = known.length ? known : this.endpoints.filter((u) => u !== this.clientUrl);
    if (!urls.length || !this.tls) return false;
    const probe = createEtcdClient({ endpoints: urls, tls: this.tls });
    try {
      for (let attempt = 0; attempt < 10; attempt++) {
        const me = await new ClusterStore(probe).node(this.o.nodeId).then((n) => n ?? null, () => undefined);
        if (me !== undefined) return me !== null && me.role === 'client';
        await new Promise((r) => setTimeout(r, 300));
      }
      return false;
    } finally {
      probe.close();
    }
  }

  /**
   * Demoted: stop the local etcd member and carry on as a client-only node. `keepData` moves the
   * member's data aside instead of deleting it (a voter standing down for a quorum recovery: a
   * person may still want it).
   */
  private async becomeClient(keepData = false): Promise<void> {
    this.log.info('demoted to a client-only node: stopping the local etcd member');
    await this.disconnect();
    await this.etcd?.stop(2000);
    this.etcd = undefined;
    this.localClient?.close();
    this.localClient = undefined;
    const data = join(this.dataDir, DATA_FILES.etcd);
    if (keepData) await rename(data, `${data}.stood-down-${Date.now()}`).catch(() => undefined);
    else await rm(data, { recursive: true, force: true });
    // right after a restart the registry is not read yet: the voters it was started with (the
    // ones stillRegistered asked) are where it goes; an empty list crashed the agent
    const known = this.nodesCache.filter((n) => n.id !== this.o.nodeId && n.role === 'voter').map((n) => n.clientUrl);
    const endpoints = known.length ? known : this.endpoints.filter((u) => u !== this.clientUrl);
    await this.saveMembership({ version: 1, clusterId: this.clusterId!, role: 'client', endpoints, admittedAt: Date.now() });
    this.memberRole = 'client';
    await this.connect(endpoints);
  }

  // ---- quorum recovery (src/consensus/recovery.ts decides when; warren recover asks by hand) --

  /** A surviving voter that is not the recovery's candidate stops its member for good. */
  private standDown(): Promise<void> {
    return this.becomeClient(true);
  }

  /** The raft index of this node's own etcd member (it answers without a quorum). */
  private async localRaftIndex(): Promise<number | undefined> {
    if (!this.etcd?.running || !this.tls) return undefined;
    this.localClient ??= createEtcdClient({ endpoints: [this.clientUrl], tls: this.tls });
    return within(memberRaftIndex(this.localClient), 1000, 'reading the raft status').catch(() => undefined);
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
    await this.disconnect();
    await this.etcd?.stop(5000);
    this.localClient?.close();
    this.localClient = undefined;
    this.etcd = this.makeEtcd({ clusterState: 'existing', clusterToken: 'warren', tls: this.tlsPaths(), forceNewCluster: true });
    await this.etcd.start();
    this.memberRole = 'voter';
    this.lastVoters = [this.o.nodeId];
    const client = createEtcdClient({ endpoints: [this.clientUrl], tls: this.tls });
    try {
      const store = new ClusterStore(client);
      for (const n of await store.nodes()) if (n.id !== this.o.nodeId && n.role === 'voter') await store.setRole(n.id, 'client');
    } finally {
      client.close();
    }
    this.endorsed = undefined;
    await this.saveMembership({ version: 1, clusterId, role: 'voter', endpoints: [this.clientUrl], admittedAt: Date.now() });
    await this.connect([this.clientUrl]);
    this.log.warn({ lost }, 'etcd rebuilt: this node is the only voter; the others reconnect and the voter set is refilled');
  }

  /** warren recover: a person's word that the lost voters are gone for good. */
  async recoverByHand(): Promise<{ node: string; lost: string[] }> {
    if (this.phase !== 'member' || !this.clusterId) throw new UserError('not_member', 'this node is not a cluster member', 409);
    if (!this.etcd || !(await hasEtcdData(this.dataDir))) {
      const voters = this.nodesCache.filter((n) => n.role === 'voter').map((n) => n.name);
      throw new UserError('not_a_voter', `this node holds no etcd data (it is a client-only node): run warren recover on one of the voters (${voters.join(', ') || 'none known'})`, 409);
    }
    const reachable = this.client ? await within(this.client.get(KEYS.cluster).string(), 2000, 'a quorum read').then(() => true, () => false) : false;
    if (reachable) throw new UserError('quorum_healthy', 'the etcd quorum is healthy: there is nothing to recover (warren recover is for when a majority of the voters is gone for good)', 409);
    const lost = this.lastVoters.filter((v) => v !== this.o.nodeId);
    await this.forceNewCluster(lost, 'by hand (warren recover)');
    return { node: this.o.nodeId, lost };
  }

  /** Drops the etcd session and member, and every trace of the cluster in the data dir. */
  private async forgetCluster(): Promise<void> {
    await this.disconnect();
    this.admitted.clear();
    await this.etcd?.stop(2000);
    this.etcd = undefined;
    await rm(join(this.dataDir, DATA_FILES.etcd), { recursive: true, force: true });
    await rm(join(this.dataDir, TLS_DIR), { recursive: true, force: true });
    await this.changeClusterFile(async () => {
      await removeClusterFile(this.dataDir);
      return undefined;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.phase = 'stopped';
    this.joiner?.stop();
    for (const t of this.timers) clearInterval(t);
    this.recovery.stop();
    await this.disconnect();
    this.localClient?.close();
    await this.etcd?.stop();
  }
}

export async function hasEtcdData(dataDir: string): Promise<boolean> {
  return stat(join(dataDir, DATA_FILES.etcd)).then(() => true, () => false);
}

/** A broadcast's optional batch of further joiner ids (bounded: a member cannot flood joiners with work). */
function validBatch(batch: unknown): boolean {
  return batch === undefined || (Array.isArray(batch) && batch.length <= 64 && batch.every((id) => typeof id === 'string'));
}
