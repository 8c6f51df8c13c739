import { randomBytes } from 'node:crypto';
import { createClusterCa, issueNodeCert, type CertAndKey, type TlsFiles } from '../system/pki.ts';
import { ClusterStore, KEYS, type ClusterRecord, type NodeRecord } from './cluster-store.ts';
import { createEtcdClient } from './etcd-client.ts';

/*
 * Founding a cluster, once the founding rule (src/core/founding.ts, run by the joiner) chose this
 * node: the cluster's own CA, and the records its first etcd member starts with.
 */

/** A CA named for the new cluster, and this node's certificate from it. */
export async function newClusterPki(clusterId: string, nodeId: string, bind: string): Promise<{ ca: CertAndKey; tls: TlsFiles }> {
  const ca = await createClusterCa(clusterId);
  const cert = await issueNodeCert(ca, { nodeId, ips: [bind] });
  return { ca, tls: { caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem } };
}

/**
 * Writes the new cluster's records into its first member (at `clientUrl`): the cluster, its CA,
 * a fresh join secret, and the founder in the registry.
 */
export async function seedCluster(o: { clientUrl: string; tls: TlsFiles; cluster: Omit<ClusterRecord, 'createdAt'>; ca: CertAndKey; founder: Omit<NodeRecord, 'admittedAt'> }): Promise<void> {
  const client = createEtcdClient({ endpoints: [o.clientUrl], tls: o.tls });
  const store = new ClusterStore(client);
  try {
    await client.put(KEYS.cluster).value(JSON.stringify({ id: o.cluster.id, createdAt: Date.now(), voterTarget: o.cluster.voterTarget, open: o.cluster.open }));
    await client.put(KEYS.ca).value(JSON.stringify(o.ca));
    await client.put(KEYS.joinSecret).value(randomBytes(24).toString('base64url'));
    await store.putNode({ ...o.founder, admittedAt: Date.now() });
  } finally {
    client.close(); // also when a write fails: the founding is retried with a new client
  }
}
