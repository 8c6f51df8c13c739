/**
 * `warren cluster restore FILE` on a fresh machine: the cluster comes back from a backup
 * (src/system/backup-file.ts) as a one-node cluster of this machine, with everything the
 * cluster agreed on — its id, CA, join secret (old join tokens still work), service specs and
 * every other record in etcd. Runs before the agent, into an empty data dir:
 *
 * 1. etcd's data from the snapshot (`etcdctl snapshot restore`, which checks etcd's checksum),
 *    as a one-member cluster: this node, named by its (new) node id;
 * 2. this node's certificate, signed by the restored CA;
 * 3. the records that name machines are rewritten, with etcd running for a moment: this node is
 *    the only member and voter; the old machines' registry, runtime and drain records, the
 *    admission queue, the replicas' assignments and reports, and the old leader's election key
 *    are dropped (the scheduler places every service again, on the machines that are here);
 * 4. cluster.json: the agent then starts as this cluster's voter (`warren agent` resumes it).
 *
 * The old machines must not come back with their old data dirs (their etcd would be another
 * cluster with the same id): wipe them and join them again with the join token.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AgentConfig } from '../core/agent-config.ts';
import { httpUrl } from '../core/addresses.ts';
import { UserError, messageOf } from '../core/errors.ts';
import { unpackBundle, type BackupManifest } from '../system/backup-file.ts';
import { readClusterFile, writeClusterFile } from '../system/cluster-file.ts';
import { assertNoOtherAgent, DATA_FILES, prepareDataDir } from '../system/data-dir.ts';
import { loadOrCreateIdentity } from '../system/identity.ts';
import type { Logger } from '../system/logger.ts';
import { issueNodeCert, writeTlsFiles, type TlsFiles } from '../system/pki.ts';
import { ClusterStore, KEYS } from './cluster-store.ts';
import { createEtcdClient } from './etcd-client.ts';
import { etcdClientUrl, etcdPeerUrl } from './etcd-command.ts';
import { EtcdProcess } from './etcd-process.ts';

const execFileP = promisify(execFile);

export interface RestoreOptions {
  /** the decrypted backup bundle */
  bundle: Buffer;
  config: AgentConfig;
  etcdBinary: string;
  logger: Logger;
}

export interface RestoreResult {
  manifest: BackupManifest;
  nodeId: string;
  services: number;
}

/** Records that name the old machines: dropped, so the restored cluster is this machine alone. */
const MACHINE_PREFIXES = [KEYS.nodePrefix, KEYS.runtimeNodePrefix, KEYS.drainPrefix, KEYS.admissionPrefix, KEYS.assignmentPrefix, KEYS.statusPrefix, 'election/'];

export async function restoreCluster(o: RestoreOptions): Promise<RestoreResult> {
  const { manifest, snapshot } = unpackBundle(o.bundle);
  const c = o.config;
  await prepareDataDir(c.dataDir);
  await assertNoOtherAgent(c.dataDir);
  const existing = await readClusterFile(c.dataDir);
  if (existing) throw new UserError('not_fresh', `${c.dataDir} already belongs to cluster ${existing.clusterId}: restore into an empty --data-dir`);
  const etcdDir = join(c.dataDir, DATA_FILES.etcd);
  if ((await readdir(etcdDir).catch(() => [])).length > 0) throw new UserError('not_fresh', `${etcdDir} is not empty: restore into an empty --data-dir`);
  const identity = await loadOrCreateIdentity(c.dataDir);
  const clientUrl = etcdClientUrl(c.bind, c.ports.etcdClient);
  const peerUrl = etcdPeerUrl(c.bind, c.ports.etcdPeer);

  // 1. etcd's data, as a one-member cluster of this node
  const snapFile = join(c.dataDir, 'restore-snapshot.db');
  await writeFile(snapFile, snapshot, { mode: 0o600 });
  try {
    await rm(etcdDir, { recursive: true, force: true });
    await execFileP('etcdctl', ['snapshot', 'restore', snapFile, '--data-dir', etcdDir, '--name', identity.id, '--initial-cluster', `${identity.id}=${peerUrl}`, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster-token', 'warren'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 120_000,
    });
  } catch (err) {
    await rm(etcdDir, { recursive: true, force: true });
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new UserError('etcdctl_missing', 'etcdctl is not installed: apt-get install etcd-client (Debian: it comes with etcd-server)');
    throw new UserError('restore_failed', `etcdctl could not restore the snapshot: ${(e.stderr ?? messageOf(err)).trim().split('\n').pop()}`);
  } finally {
    await rm(snapFile, { force: true });
  }

  // 2. this node's certificate from the restored CA
  const cert = await issueNodeCert({ certPem: manifest.caPem, keyPem: manifest.caKeyPem }, { nodeId: identity.id, ips: [c.bind] });
  const tls: TlsFiles = { caPem: manifest.caPem, certPem: cert.certPem, keyPem: cert.keyPem };
  const paths = await writeTlsFiles(join(c.dataDir, 'tls'), tls);

  // 3. this machine is the cluster now
  await mkdir(etcdDir, { recursive: true, mode: 0o700 });
  const etcd = new EtcdProcess({
    binary: o.etcdBinary,
    logger: o.logger,
    tlsFiles: tls,
    launch: { name: identity.id, dataDir: etcdDir, bind: c.bind, clientPort: c.ports.etcdClient, peerPort: c.ports.etcdPeer, clusterState: 'existing', clusterToken: 'warren', tls: paths },
  });
  let services = 0;
  await etcd.start();
  const client = createEtcdClient({ endpoints: [clientUrl], tls });
  try {
    const store = new ClusterStore(client);
    const cluster = await store.cluster();
    if (cluster?.id !== manifest.clusterId) throw new UserError('bad_backup', `the snapshot holds cluster ${cluster?.id ?? '(none)'}, the backup says ${manifest.clusterId}`);
    for (const prefix of MACHINE_PREFIXES) await client.delete().prefix(prefix);
    const now = Date.now();
    await store.putNode({ id: identity.id, name: c.name, api: httpUrl(c.bind, c.ports.http), addr: c.bind, role: 'voter', peerUrl, clientUrl, admittedAt: now });
    services = (await client.getAll().prefix(KEYS.servicePrefix).keys()).length;
  } finally {
    client.close();
    await etcd.stop();
  }

  // 4. the agent resumes as this cluster's voter
  await writeClusterFile(c.dataDir, { version: 1, clusterId: manifest.clusterId, role: 'voter', endpoints: [clientUrl], admittedAt: Date.now(), peers: [] });
  return { manifest, nodeId: identity.id, services };
}
