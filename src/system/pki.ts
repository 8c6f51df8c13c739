/**
 * The cluster's PKI. Certificates are made with @peculiar/x509 (src/system/pki-x509.ts), which
 * costs ~17 MB once loaded: it is loaded only when a certificate or key is made (founding,
 * joining, a leader admitting someone), never by a node that merely restarts.
 */
import type { CertAndKey, NodeCertOptions, NodeKey, ServiceCertOptions } from './pki-x509.ts';

export type { CertAndKey, NodeCertOptions, NodeKey, ServiceCertOptions } from './pki-x509.ts';
export * from './tls-files.ts';

const lib = () => import('./pki-x509.ts');

export async function createClusterCa(clusterId: string): Promise<CertAndKey> {
  return (await lib()).createClusterCa(clusterId);
}

export async function issueNodeCert(ca: CertAndKey, opts: NodeCertOptions & { publicKeyPem: string }): Promise<{ certPem: string }>;
export async function issueNodeCert(ca: CertAndKey, opts: NodeCertOptions): Promise<CertAndKey>;
export async function issueNodeCert(ca: CertAndKey, opts: NodeCertOptions): Promise<{ certPem: string; keyPem?: string }> {
  return (await lib()).issueNodeCert(ca, opts);
}

export async function generateNodeKey(): Promise<NodeKey> {
  return (await lib()).generateNodeKey();
}

/** A certificate for one service name (HTTPS), with its own fresh key. */
export async function issueServiceCert(ca: CertAndKey, opts: ServiceCertOptions): Promise<CertAndKey> {
  return (await lib()).issueServiceCert(ca, opts);
}
