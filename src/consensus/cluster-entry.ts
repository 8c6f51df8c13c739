import { nanoid } from 'nanoid';
import type { Logger } from 'pino';
import type { PrivateKey } from '@libp2p/interface';
import type { AgentConfig } from '../core/agent-config.ts';
import type { ClusterMembership } from '../system/cluster-file.ts';
import { generateNodeKey } from '../system/pki.ts';
import type { ConsensusPhase } from './admission-desk.ts';
import type { EtcdSession } from './etcd-session.ts';
import { newClusterPki, seedCluster } from './found-cluster.ts';
import type { Hellos } from './hellos.ts';
import { Joiner, type AdmissionGrant, type JoinerInfo } from './joiner.ts';
import type { LocalMember } from './local-member.ts';

export interface ClusterEntryDeps {
  config: AgentConfig;
  nodeId: string;
  privateKey: PrivateKey;
  apiUrl: string;
  p2pAddrs: () => string[];
  settleMs: number;
  logger: Logger;
  clientUrl: string;
  peerUrl: string;
  member: LocalMember;
  session: EtcdSession;
  hellos: Hellos;
  /** the nodes discovery says are there (founding.ts) */
  discovered: () => string[];
  /** other members' APIs this node knew (cluster.json): join targets too */
  peerApis: () => string[];
  stopped: () => boolean;
  phase: (p: ConsensusPhase) => void;
  saveMembership: (m: ClusterMembership) => Promise<void>;
  /** the node cannot enter any cluster */
  fatal: (err: unknown) => void;
}

/**
 * How a node without a cluster enters one (Consensus's part for it): the joiner (joiner.ts) runs
 * the founding rule and the admission queue; then this node founds the cluster (its CA, its first
 * etcd member, its records) or starts as the member the grant says.
 */
export class ClusterEntry {
  /** while a join runs: fed with the leader's admission broadcasts */
  joiner: Joiner | undefined;

  constructor(private readonly d: ClusterEntryDeps) {}

  private joinerInfo(): JoinerInfo {
    const c = this.d.config;
    return { id: this.d.nodeId, name: c.name, api: this.d.apiUrl, addr: c.bind, p2p: this.d.p2pAddrs(), peerUrl: this.d.peerUrl, clientUrl: this.d.clientUrl };
  }

  async joinOrFound(): Promise<void> {
    // a half-finished earlier join leaves etcd data without a cluster file: start clean
    await this.d.member.dropData();
    const key = await generateNodeKey();
    try {
      await this.runJoiner(key);
    } catch (err) {
      if (this.d.stopped()) return;
      this.d.logger.fatal({ err: (err as Error).message }, 'cannot join the cluster');
      this.d.fatal(err);
    } finally {
      this.joiner = undefined;
    }
  }

  private async runJoiner(key: { keyPem: string; publicKeyPem: string }): Promise<void> {
    this.joiner = new Joiner({
      info: this.joinerInfo(),
      key: this.d.privateKey,
      logger: this.d.logger.child({ component: 'joiner' }),
      joinTargets: [...new Set([...this.d.config.join.map((t) => `http://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`), ...this.d.peerApis()])],
      ...(this.d.config.token ? { token: this.d.config.token } : {}),
      publicKeyPem: key.publicKeyPem,
      hellos: () => this.d.hellos.list(),
      discovered: this.d.discovered,
      settleMs: this.d.settleMs,
      onState: (s) => this.d.phase(s as ConsensusPhase),
    });
    const outcome = await this.joiner.run();
    if (outcome.kind === 'found') await this.found();
    else await this.becomeMember(outcome.grant, key.keyPem);
  }

  private async found(): Promise<void> {
    const { config, member, session, clientUrl } = this.d;
    const clusterId = nanoid(12);
    this.d.logger.info({ clusterId, open: config.open }, 'founding a new cluster');
    this.d.hellos.foundingNow();
    const { ca, tls } = await newClusterPki(clusterId, this.d.nodeId, config.bind);
    const paths = await member.saveTls(tls);
    await member.start({ clusterState: 'new', clusterToken: `warren-${clusterId}`, tls: paths });
    await seedCluster({
      clientUrl,
      tls,
      cluster: { id: clusterId, voterTarget: config.voters, open: config.open },
      ca,
      founder: { id: this.d.nodeId, name: config.name, api: this.d.apiUrl, addr: config.bind, role: 'voter', peerUrl: this.d.peerUrl, clientUrl },
    });
    await this.d.saveMembership({ version: 1, clusterId, role: 'voter', endpoints: [clientUrl], admittedAt: Date.now() });
    session.memberRole = 'voter';
    await session.connect([clientUrl]);
  }

  private async becomeMember(grant: AdmissionGrant, keyPem: string): Promise<void> {
    const { member, session } = this.d;
    const paths = await member.saveTls({ caPem: grant.caPem, certPem: grant.certPem, keyPem });
    this.d.logger.info({ role: grant.role, clusterId: grant.clusterId }, 'admitted');
    if (grant.role === 'voter') await member.start({ clusterState: 'existing', clusterToken: grant.clusterToken ?? 'warren', initialCluster: grant.initialCluster, tls: paths }, { waitHealthy: false });
    const endpoints = grant.role === 'voter' ? [...new Set([...grant.endpoints, this.d.clientUrl])] : grant.endpoints;
    session.memberRole = grant.role === 'voter' ? 'learner' : 'client';
    await this.d.saveMembership({ version: 1, clusterId: grant.clusterId, role: grant.role, endpoints, admittedAt: Date.now() });
    await session.connect(endpoints);
  }
}
