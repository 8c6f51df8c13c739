import type { Logger } from 'pino';
import { UserError } from '../core/errors.ts';
import type { ClusterMembership } from '../system/cluster-file.ts';
import type { ConsensusPhase } from './admission-desk.ts';
import type { VoterOffer } from './cluster-store.ts';
import type { EtcdSession } from './etcd-session.ts';
import { listedAsClient } from './leave-steps.ts';
import type { LocalMember } from './local-member.ts';
import { rebookAfterRebuild, refuseNeedlessRecovery } from './quorum-rebuild.ts';

/** What role changes need of their node (Consensus provides it). */
export interface RoleChangesDeps {
  nodeId: string;
  dataDir: string;
  logger: Logger;
  clientUrl: string;
  member: LocalMember;
  session: EtcdSession;
  phase(): ConsensusPhase;
  clusterId(): string | null;
  saveMembership(m: ClusterMembership): Promise<void>;
  /** the endorsement of a recovery this node made is spent: etcd was rebuilt */
  dropEndorsement(): void;
  /** deletes cluster.json (after the writes before it) */
  removeClusterFile(): Promise<void>;
}

/**
 * The steps that move a member node between etcd roles (Consensus's part for them; it decides
 * when): a client-only node taking the voter seat etcd holds for it; a voter demoted to a
 * client-only node, or standing down for a quorum recovery; the survivor that rebuilds etcd as a
 * one-voter cluster (recovery.ts decides, or warren recover asks by hand); and a node forgetting
 * the cluster (it left, or was removed while down). Entering a cluster is cluster-entry.ts.
 */
export class RoleChanges {
  private readonly log: Logger;

  constructor(private readonly d: RoleChangesDeps) {
    this.log = d.logger;
  }

  /** A voter seat etcd holds for this client-only node: start the local member as the offered learner. */
  async takeSeat(offer: VoterOffer): Promise<void> {
    const { member, session, clientUrl } = this.d;
    await member.dropData();
    await member.start({ clusterState: 'existing', clusterToken: offer.clusterToken, initialCluster: offer.initialCluster, tls: member.tlsPaths() }, { waitHealthy: false });
    await this.d.saveMembership({ version: 1, clusterId: this.d.clusterId()!, role: 'voter', endpoints: [clientUrl, ...session.nodes.filter((n) => n.role === 'voter').map((n) => n.clientUrl)], admittedAt: Date.now() });
  }

  /**
   * Whether the registry still lists this node (then its removal from etcd was a demotion, or its
   * seat was given away while it was down). Asked of the other voters.
   */
  async stillRegistered(): Promise<boolean> {
    const urls = this.otherVoterUrls();
    if (!urls.length || !this.d.member.tls) return false;
    return listedAsClient(urls, this.d.member.tls, this.d.nodeId);
  }

  /**
   * The other voters' client URLs. Right after a restart the registry is not read yet: then the
   * endpoints this node was started with name them.
   */
  private otherVoterUrls(): string[] {
    const known = this.d.session.nodes.filter((n) => n.id !== this.d.nodeId && n.role === 'voter').map((n) => n.clientUrl);
    return known.length ? known : this.d.session.endpoints.filter((u) => u !== this.d.clientUrl);
  }

  /**
   * Demoted: stop the local etcd member and carry on as a client-only node. `keepData` moves the
   * member's data aside instead of deleting it (a voter standing down for a quorum recovery: a
   * person may still want it).
   */
  becomeClient(keepData = false): Promise<void> {
    return this.d.session.exclusive(() => this.becomeClientNow(keepData));
  }

  private async becomeClientNow(keepData: boolean): Promise<void> {
    const { session, member } = this.d;
    this.log.info('demoted to a client-only node: stopping the local etcd member');
    await session.disconnect();
    this.log.debug('demotion: disconnected from etcd');
    await member.demote(keepData);
    this.log.debug('demotion: the local etcd member stopped');
    // right after a restart the registry is not read yet: the voters it was started with (the
    // ones stillRegistered asked) are where it goes; an empty list crashed the agent
    const endpoints = this.otherVoterUrls();
    await this.d.saveMembership({ version: 1, clusterId: this.d.clusterId()!, role: 'client', endpoints, admittedAt: Date.now() });
    session.memberRole = 'client';
    await session.connect(endpoints);
  }

  // ---- quorum recovery (recovery.ts decides when; warren recover asks by hand) ----------------

  /** A surviving voter that is not the recovery's candidate stops its member for good. */
  standDown(): Promise<void> {
    return this.becomeClient(true);
  }

  /**
   * Rebuilds etcd from this node's data as a one-voter cluster (etcd's --force-new-cluster keeps
   * every key and drops the other members), books every other voter as a client-only node (back,
   * each finds it was removed and carries on as a client, as a replaced voter does) and gives up
   * a voter seat offered before the loss, and reconnects. The leader refills the voter set from the alive nodes.
   */
  forceNewCluster(lost: string[], why: string): Promise<void> {
    return this.d.session.exclusive(() => this.forceNewClusterNow(lost, why));
  }

  private async forceNewClusterNow(lost: string[], why: string): Promise<void> {
    const { session, member, clientUrl, nodeId } = this.d;
    const clusterId = this.d.clusterId();
    const tls = member.tls;
    if (!tls || !clusterId) throw new UserError('not_member', 'this node is not a cluster member', 409);
    this.log.warn({ lost, why }, 'rebuilding etcd from this node\'s data as a one-voter cluster (--force-new-cluster)');
    await session.disconnect();
    await member.rebuild();
    session.memberRole = 'voter';
    session.lastVoters = [nodeId];
    await rebookAfterRebuild(clientUrl, tls, nodeId);
    this.d.dropEndorsement();
    await this.d.saveMembership({ version: 1, clusterId, role: 'voter', endpoints: [clientUrl], admittedAt: Date.now() });
    await session.connect([clientUrl]);
    this.log.warn({ lost }, 'etcd rebuilt: this node is the only voter; the others reconnect and the voter set is refilled');
  }

  /** warren recover: a person's word that the lost voters are gone for good. */
  async recoverByHand(): Promise<{ node: string; lost: string[] }> {
    const { session, member, nodeId } = this.d;
    if (this.d.phase() !== 'member' || !this.d.clusterId()) throw new UserError('not_member', 'this node is not a cluster member', 409);
    await refuseNeedlessRecovery({ runsMember: member.etcd !== undefined, dataDir: this.d.dataDir, nodes: () => session.nodes, client: () => session.client });
    const lost = session.lastVoters.filter((v) => v !== nodeId);
    await this.forceNewCluster(lost, 'by hand (warren recover)');
    return { node: nodeId, lost };
  }

  // ---- leaving -----------------------------------------------------------------------------

  /** Drops the etcd session and member, and every trace of the cluster in the data dir. */
  forgetCluster(): Promise<void> {
    return this.d.session.exclusive(() => this.forgetClusterNow());
  }

  private async forgetClusterNow(): Promise<void> {
    await this.d.session.disconnect();
    this.d.session.admitted.clear();
    await this.d.member.stop(2000);
    await this.d.member.forget();
    await this.d.removeClusterFile();
  }
}
