import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { UserError } from '../core/errors.ts';
import { DATA_FILES } from '../system/data-dir.ts';
import type { TlsFiles } from '../system/pki.ts';
import { within } from '../system/within.ts';
import { ClusterStore, KEYS, type NodeRecord } from './cluster-store.ts';
import { createEtcdClient } from './etcd-client.ts';
import { memberRaftIndex } from './recovery.ts';

/*
 * The etcd side of a quorum recovery: recovery.ts decides when (or a person, with warren
 * recover); RoleChanges.forceNewCluster (role-changes.ts) runs the steps, with the pieces below.
 */

export async function hasEtcdData(dataDir: string): Promise<boolean> {
  return stat(join(dataDir, DATA_FILES.etcd)).then(() => true, () => false);
}

/**
 * A client of this node's own etcd member only: its raft index (how far its log goes) answers
 * without a quorum, which is what a recovery compares between the survivors.
 */
export class LocalRaftIndex {
  private client: Etcd3 | undefined;
  private ended = false;

  constructor(private readonly clientUrl: string) {}

  /** undefined when no member runs here or it does not answer within a second */
  async read(running: boolean, tls: TlsFiles | undefined): Promise<number | undefined> {
    if (!running || !tls || this.ended) return undefined;
    this.client ??= createEtcdClient({ endpoints: [this.clientUrl], tls });
    return within(memberRaftIndex(this.client), 1000, 'reading the raft status').catch(() => undefined);
  }

  /** The member stops (or starts afresh): the next read makes a new client. */
  close(): void {
    this.client?.close();
    this.client = undefined;
  }

  /** The node stops: reads answer nothing from now on. */
  end(): void {
    this.close();
    this.ended = true;
  }
}

/**
 * After --force-new-cluster, books every other voter of the registry as a client-only node: back,
 * each finds it was removed and carries on as a client, as a replaced voter does. A voter seat
 * offered to a client-only node before the loss is given up too: its learner went with the old
 * members, and its record held the refill of the voter set back until it timed out (60 s). (A
 * joiner's admission in flight is left to its own timeout, which also takes it off the queue.)
 */
export async function rebookAfterRebuild(clientUrl: string, tls: TlsFiles, selfId: string): Promise<void> {
  const client = createEtcdClient({ endpoints: [clientUrl], tls });
  try {
    const store = new ClusterStore(client);
    for (const n of await store.nodes()) if (n.id !== selfId && n.role === 'voter') await store.setRole(n.id, 'client');
    const inflight = await store.inflight();
    if (inflight?.kind === 'promote-client') await store.giveUpInflight(inflight);
  } finally {
    client.close();
  }
}

/**
 * warren recover is a person's word that the lost voters are gone for good: refused (a UserError)
 * on a node without etcd data, and while the quorum still answers.
 */
export async function refuseNeedlessRecovery(n: { runsMember: boolean; dataDir: string; nodes: () => NodeRecord[]; client: () => Etcd3 | undefined }): Promise<void> {
  if (!n.runsMember || !(await hasEtcdData(n.dataDir))) {
    const voters = n.nodes().filter((x) => x.role === 'voter').map((x) => x.name);
    throw new UserError('not_a_voter', `this node holds no etcd data (it is a client-only node): run warren recover on one of the voters (${voters.join(', ') || 'none known'})`, 409);
  }
  const client = n.client();
  const reachable = client ? await within(client.get(KEYS.cluster).string(), 2000, 'a quorum read').then(() => true, () => false) : false;
  if (reachable) throw new UserError('quorum_healthy', 'the etcd quorum is healthy: there is nothing to recover (warren recover is for when a majority of the voters is gone for good)', 409);
}
