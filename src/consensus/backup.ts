/**
 * `warren cluster backup`, the agent's side: a consistent etcd snapshot (etcd's Maintenance
 * Snapshot RPC: the whole backend as of one revision, with etcd's own checksum at its end, which
 * `etcdctl snapshot restore` checks) and the cluster CA, as one bundle (src/system/backup-file.ts).
 * The CLI encrypts it before anything is written to disk.
 */
import type { Etcd3 } from 'etcd3';
import { UserError } from '../core/errors.ts';
import { packBundle } from '../system/backup-file.ts';
import { VERSION } from '../version.ts';
import { ClusterStore } from './cluster-store.ts';

export async function etcdSnapshot(client: Etcd3, timeoutMs = 60_000): Promise<Buffer> {
  const stream = await client.maintenance.snapshot();
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new UserError('backup_failed', `the etcd snapshot took longer than ${timeoutMs / 1000} s`, 503)), timeoutMs);
    stream.on('data', (m) => chunks.push(Buffer.from(m.blob)));
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(new UserError('backup_failed', `etcd did not give a snapshot: ${err.message}`, 503));
    });
    stream.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** The backup bundle (plaintext: only for the admin, who encrypts it). */
export async function takeBackup(client: Etcd3 | undefined): Promise<Buffer> {
  if (!client) throw new UserError('no_cluster', 'this node is not connected to the cluster\'s etcd: try again, or on another node', 503);
  const store = new ClusterStore(client);
  const [cluster, ca] = await Promise.all([store.cluster(), store.ca()]);
  if (!cluster || !ca) throw new UserError('backup_failed', 'the cluster record or its CA is missing from etcd', 503);
  const snapshot = await etcdSnapshot(client);
  return packBundle({ format: 1, clusterId: cluster.id, createdAt: Date.now(), warrenVersion: VERSION, caPem: ca.certPem, caKeyPem: ca.keyPem }, snapshot);
}
