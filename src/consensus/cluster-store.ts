import type { Etcd3 } from 'etcd3';
import type { AdmittedNode, Inflight, NodeRole, QueueEntry } from '../core/admission-plan.ts';
import { within } from '../system/within.ts';
import { attemptDeadline } from './etcd-client.ts';

const ADMISSION = '/warren/admission/';

/** Where the cluster keeps its authoritative state in etcd. */
export const KEYS = {
  cluster: '/warren/cluster',
  ca: '/warren/ca',
  joinSecret: '/warren/join-secret',
  nodePrefix: '/warren/nodes/',
  /** admission's keys: the queue, the admission in flight, voter seats offered */
  admissionPrefix: ADMISSION,
  queuePrefix: `${ADMISSION}queue/`,
  inflight: `${ADMISSION}inflight`,
  offerPrefix: `${ADMISSION}offers/`,
  /** runtime: service specs, the leader's assignments, replicas' reports, nodes' labels, drain marks */
  servicePrefix: '/warren/services/',
  assignmentPrefix: '/warren/assignments/',
  statusPrefix: '/warren/status/',
  runtimeNodePrefix: '/warren/runtime-nodes/',
  drainPrefix: '/warren/drain/',
  /** stacks: the deployed compose project of each (src/stacks/stack-manager.ts) */
  stackPrefix: '/warren/stacks/',
  /** a stack removed without --volumes: what its record knew of its volumes, for a later deploy or rm --volumes */
  stackKeptVolumesPrefix: '/warren/stack-kept-volumes/',
  /** stack rm --volumes of per-node Docker volumes: an order per volume, an ack per node (core/compose/local-volume-removal.ts) */
  localVolumeRemovalPrefix: '/warren/local-volume-removals/orders/',
  localVolumeAckPrefix: '/warren/local-volume-removals/acks/',
  /** web UI: one-time login tickets (by sha256 of the ticket) and sessions (by id, token hashed) */
  uiTicketPrefix: '/warren/ui/tickets/',
  uiSessionPrefix: '/warren/ui/sessions/',
  /** API tokens (by id, token hashed) and when each was last used (consensus/api-tokens.ts) */
  apiTokenPrefix: '/warren/api-tokens/records/',
  apiTokenUsedPrefix: '/warren/api-tokens/used/',
  election: 'warren-leader',
} as const;

/**
 * Where etcd3's Election keeps its candidates' keys (its own `election/<name>/` prefix). The
 * guarded removal of a dead leader's key reads them there: etcd3 gives no call that returns the
 * leader's key with its revision.
 */
export const ELECTION_PREFIX = `election/${KEYS.election}/`;

export interface ClusterRecord {
  id: string;
  createdAt: number;
  voterTarget: 3 | 5;
  open: boolean;
}

/** An admitted node as the registry keeps it. */
export interface NodeRecord extends AdmittedNode {
  name: string;
  api: string;
  addr: string;
  clientUrl: string;
  admittedAt: number;
}

/** A joiner in the admission queue. */
export interface QueueRecord extends QueueEntry {
  name: string;
  api: string;
  addr: string;
  p2p: string[];
  clientUrl: string;
  /** how it may be admitted: token, open cluster, tailnet, or an operator's approval */
  via: 'token' | 'open' | 'tailnet' | 'approval' | 'pending';
}

/** A seat offered to a client-only node: it starts etcd as this learner. */
export interface VoterOffer {
  nodeId: string;
  initialCluster: { name: string; peerUrl: string }[];
  clusterToken: string;
}

async function getJson<T>(client: Etcd3, key: string): Promise<T | undefined> {
  const text = await client.get(key).string();
  return text === null ? undefined : (JSON.parse(text) as T);
}

/**
 * How a view reads: from whichever member answers (serializable: no quorum needed, may lag a
 * little) and within a deadline, so a view of the cluster answers while etcd cannot.
 */
export interface ViewRead {
  withinMs: number;
}

/** Views (members, health, status) read etcd within this: they must answer while etcd cannot. */
export const VIEW_READ: ViewRead = { withinMs: 1000 };

async function listJson<T>(client: Etcd3, prefix: string, view?: ViewRead): Promise<T[]> {
  const range = client.getAll().prefix(prefix);
  if (view) range.serializable(true).options(attemptDeadline(view.withinMs));
  // etcd3's deadline ends the call but does not bound it (host retries, circuit breakers): within() does
  const all = await (view ? within(range.strings(), view.withinMs, `reading ${prefix}`) : range.strings());
  return Object.values(all).map((v) => JSON.parse(v) as T);
}

/** Typed access to the cluster's keys. */
export class ClusterStore {
  constructor(readonly client: Etcd3) {}

  cluster = () => getJson<ClusterRecord>(this.client, KEYS.cluster);
  ca = () => getJson<{ certPem: string; keyPem: string }>(this.client, KEYS.ca);
  async joinSecret(): Promise<string | undefined> {
    return (await this.client.get(KEYS.joinSecret).string()) ?? undefined;
  }
  nodes = () => listJson<NodeRecord>(this.client, KEYS.nodePrefix);
  node = (id: string) => getJson<NodeRecord>(this.client, KEYS.nodePrefix + id);
  queue = (view?: ViewRead) => listJson<QueueRecord>(this.client, KEYS.queuePrefix, view);
  queued = (id: string) => getJson<QueueRecord>(this.client, KEYS.queuePrefix + id);
  inflight = () => getJson<Inflight>(this.client, KEYS.inflight);
  offer = (id: string) => getJson<VoterOffer>(this.client, KEYS.offerPrefix + id);

  async putNode(n: NodeRecord): Promise<void> {
    await this.client.put(KEYS.nodePrefix + n.id).value(JSON.stringify(n));
  }
  async setRole(id: string, role: NodeRole, extra: Partial<NodeRecord> = {}): Promise<void> {
    const n = await this.node(id);
    if (n) await this.putNode({ ...n, ...extra, role });
  }
  /** Forgets a node: its registry record, and the runtime's label record and drain mark with it. */
  async removeNode(id: string): Promise<void> {
    await this.client.delete().key(KEYS.nodePrefix + id);
    await this.client.delete().key(KEYS.runtimeNodePrefix + id);
    await this.client.delete().key(KEYS.drainPrefix + id);
  }
  async putQueued(q: QueueRecord): Promise<void> {
    await this.client.put(KEYS.queuePrefix + q.id).value(JSON.stringify(q));
  }
  async dequeue(id: string): Promise<void> {
    await this.client.delete().key(KEYS.queuePrefix + id);
  }
  async setInflight(i: Inflight | undefined): Promise<void> {
    if (i) await this.client.put(KEYS.inflight).value(JSON.stringify(i));
    else await this.client.delete().key(KEYS.inflight);
  }
  async putOffer(o: VoterOffer): Promise<void> {
    await this.client.put(KEYS.offerPrefix + o.nodeId).value(JSON.stringify(o));
  }
  /**
   * Forgets the admission in flight without finishing it: its voter offer first, then the record,
   * so no offer outlives its operation (a joiner's admission has none: that delete finds nothing).
   */
  async giveUpInflight(inflight: Inflight | undefined): Promise<void> {
    if (inflight) await this.removeOffer(inflight.nodeId);
    await this.setInflight(undefined);
  }
  async removeOffer(id: string): Promise<void> {
    await this.client.delete().key(KEYS.offerPrefix + id);
  }
}
