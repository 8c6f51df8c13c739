import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { UserError } from '../core/errors.ts';
import { formatJoinToken, parseJoinToken, secretsEqual } from '../core/join-token.ts';
import { caFingerprint } from '../system/pki.ts';
import { verifyBody } from '../system/signing.ts';
import { within } from '../system/within.ts';
import { apiEtcdCall } from './etcd-client.ts';
import { KEYS, VIEW_READ, type ClusterStore, type NodeRecord, type QueueRecord } from './cluster-store.ts';
import type { AdmissionGrant, JoinAccepted, JoinerInfo } from './joiner.ts';
import type { Leader } from './leader.ts';

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

/** What the desk needs of its node (Consensus provides it from its etcd session). */
export interface AdmissionDeskDeps {
  nodeId: string;
  logger: Logger;
  /** Tailscale whois of a request's source: true when it is a device of this node's tailnet */
  sameTailnet?: (addrPort: string) => Promise<boolean>;
  phase(): ConsensusPhase;
  clusterId(): string | null;
  client(): Etcd3 | undefined;
  store(): ClusterStore | undefined;
  leader(): Leader | undefined;
  /** admitted nodes as the registry knows them */
  nodes(): NodeRecord[];
}

/**
 * The member side of admission: queues joiners (checking how each may enter), lets the leader
 * grant a seat, lets an operator approve a pending joiner, hands out join tokens, and shows the
 * queue and the voters. The joiner side is joiner.ts; the leader's decisions are leader.ts.
 */
export class AdmissionDesk {
  private lastQueueRead: QueueRecord[] = [];
  private queueRead: Promise<void> | undefined;
  private queueReadOk = true;
  private readonly log: Logger;

  constructor(private readonly d: AdmissionDeskDeps) {
    this.log = d.logger;
  }

  /** POST /v1/join: queue a joiner (deduplicated by node id) after checking how it may enter. */
  async handleJoin(body: unknown, remote?: string): Promise<JoinAccepted> {
    const v = await verifyBody<JoinerInfo & { token?: string }>(body);
    if (!v.ok) throw new UserError('bad_request', `join request refused: ${v.reason}`, 400);
    const j = v.value;
    const store = this.d.store();
    if (!store || this.d.phase() !== 'member') throw new UserError('not_member', 'this node is not a cluster member yet', 503);
    if (j.id === this.d.nodeId) throw new UserError('bad_request', 'a node cannot join itself', 400);
    for (const f of ['name', 'api', 'addr', 'peerUrl', 'clientUrl'] as const) if (typeof j[f] !== 'string' || j[f].length > 300) throw new UserError('bad_request', `join request: bad ${f}`, 400);
    const [cluster, ca, secret] = await Promise.all([store.cluster(), store.ca(), store.joinSecret()]);
    if (!cluster || !ca || !secret) throw new UserError('not_ready', 'the cluster is still being founded', 503);
    let via: QueueRecord['via'] = 'pending';
    if (j.token !== undefined) {
      const token = parseJoinToken(String(j.token));
      if (!secretsEqual(token.secret, secret)) throw new UserError('bad_token', 'the join token is not valid for this cluster (get a fresh one with "warren join-token")', 403);
      via = 'token';
    } else if (cluster.open) via = 'open';
    else if (remote && this.d.sameTailnet && (await this.d.sameTailnet(remote).catch(() => false))) via = 'tailnet';
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
    return { state, clusterId: cluster.id, caPem: ca.certPem, memberIds: this.d.nodes().map((n) => n.id) };
  }

  private async forgetNode(n: NodeRecord): Promise<void> {
    const client = this.d.client();
    const store = this.d.store();
    if (!client || !store) return;
    const res = await client.cluster.memberList({} as never);
    const m = (res.members ?? []).find((x) => (x.peerURLs ?? []).includes(n.peerUrl));
    if (m) await client.cluster.memberRemove({ ID: m.ID });
    // the store read before the awaits: the session may drop meanwhile (a 500 TypeError before)
    await store.removeNode(n.id);
    this.log.warn({ node: n.id, name: n.name }, 'a member asked to join again with an empty data dir: it re-enters through the queue');
  }

  /** POST /v1/admit: the named joiner's follow-up (leader only). */
  async handleAdmit(body: unknown): Promise<AdmissionGrant> {
    const v = await verifyBody<{ id: string; publicKeyPem: string }>(body);
    if (!v.ok) throw new UserError('bad_request', `admission refused: ${v.reason}`, 400);
    const leader = this.d.leader();
    if (!leader?.isLeader) throw new UserError('not_leader', 'this member is not the leader', 503);
    if (typeof v.value.publicKeyPem !== 'string') throw new UserError('bad_request', 'admission: a public key is required', 400);
    return leader.admit(v.value.id, v.value.publicKeyPem);
  }

  /** warren admit NODE: an operator lets a pending joiner in. */
  async approve(nameOrId: string): Promise<QueueRecord> {
    const store = this.d.store();
    if (!store) throw new UserError('not_member', 'this node is not a cluster member yet', 503);
    const queue = await store.queue();
    const q = queue.find((e) => e.id === nameOrId || e.name === nameOrId);
    if (!q) throw new UserError('not_found', `no node "${nameOrId}" is waiting for admission (see warren status)`, 404);
    const updated: QueueRecord = { ...q, state: 'waiting', via: 'approval', lastSeen: Date.now() };
    await store.putQueued(updated);
    this.log.info({ joiner: q.id, name: q.name }, 'an operator approved a joiner');
    return updated;
  }

  async joinToken(): Promise<string> {
    const store = this.d.store();
    if (!store) throw new UserError('not_member', 'this node is not a cluster member yet', 503);
    // through etcd's refusals of its first moments (a node just started or reconnected: its
    // client skips a host for a second after one failed call); then a 503, not a 500
    const [ca, secret] = await apiEtcdCall('read the join token', () => Promise.all([store.ca(), store.joinSecret()]), 5000);
    if (!ca || !secret) throw new UserError('not_ready', 'the cluster is still being founded', 503);
    return formatJoinToken({ secret, caFingerprint: caFingerprint(ca.certPem) });
  }

  /** GET /v1/admission: bounded, so `warren status` answers (with the error) while etcd cannot. */
  async admissionView(): Promise<AdmissionView> {
    const base: AdmissionView = { clusterId: this.d.clusterId(), phase: this.d.phase(), leader: null, queue: [], voters: [] };
    const client = this.d.client();
    const store = this.d.store();
    if (!client || !store) return base;
    return within(this.readAdmission(base, client, store), VIEW_READ.withinMs * 2, 'reading etcd').catch((err: Error) => ({ ...base, error: `etcd unreachable: ${err.message}` }));
  }

  /**
   * Joiners waiting in the queue, for the members view: read from any member within a second
   * (concurrent views share one read). While etcd does not answer, the last list at once (the
   * read goes on in the background): the view must answer while etcd cannot.
   */
  async queuedJoiners(): Promise<QueueRecord[]> {
    const store = this.d.store();
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

  private async readAdmission(base: AdmissionView, client: Etcd3, store: ClusterStore): Promise<AdmissionView> {
    const [queue, members, leader] = await Promise.all([
      store.queue(VIEW_READ),
      client.cluster.memberList({} as never).then((r) => r.members ?? []),
      client.election(KEYS.election).leader().catch(() => undefined),
    ]);
    const names = new Map(this.d.nodes().map((n) => [n.id, n.name]));
    return {
      ...base,
      leader: leader ?? null,
      queue: queue.sort((a, b) => a.since - b.since).map((q) => ({ id: q.id, name: q.name, addr: q.addr, since: q.since, state: q.state, via: q.via })),
      voters: members.map((m) => ({ id: m.name, name: names.get(m.name) ?? m.name, clientUrl: (m.clientURLs ?? [])[0] ?? '', isLearner: Boolean(m.isLearner) })),
    };
  }
}

/** A broadcast's optional batch of further joiner ids (bounded: a member cannot flood joiners with work). */
export function validBatch(batch: unknown): boolean {
  return batch === undefined || (Array.isArray(batch) && batch.length <= 64 && batch.every((id) => typeof id === 'string'));
}
