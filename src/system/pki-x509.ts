/**
 * The cluster's PKI for etcd TLS: one self-signed CA per cluster, and one certificate per node
 * that etcd uses for everything (peer and client traffic, server and client roles).
 * Every PEM string returned here ends with a newline, as OpenSSL and Node write them.
 *
 * Keys are ECDSA P-256, private keys are PKCS#8 PEM ("BEGIN PRIVATE KEY"), which
 * etcd (Go's crypto/tls) accepts. Certificates are made with @peculiar/x509 on Node's webcrypto.
 */
import type * as X509 from '@peculiar/x509';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { UserError } from '../core/errors.ts';
import { pemToDer } from './tls-files.ts';

let x509!: typeof X509;

/** Loads the X.509 library on first use (dynamic imports stay lazy in the bundle: ~17 MB saved). */
async function loadX509(): Promise<void> {
  if (x509) return;
  // tsyringe, used inside @peculiar/x509, needs the Reflect metadata API: load it first
  await import('reflect-metadata');
  const lib = await import('@peculiar/x509');
  lib.cryptoProvider.set(globalThis.crypto);
  x509 = lib;
}

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

export interface NodeCertOptions {
  /** the node's id: the certificate's common name */
  nodeId: string;
  /**
   * Every address of the node (IPv4 or IPv6): those etcd is reached at, and those it may dial its
   * peers FROM — etcd's peer listener checks the dialing member's certificate against the
   * connection's source address (IP SANs, then a DNS lookup of the DNS SANs).
   */
  ips: string[];
  /** extra DNS names; 'localhost' is always included */
  dnsNames?: string[];
  /**
   * The node's own public key (SPKI PEM, ECDSA P-256, from generateNodeKey on the node): the
   * certificate is issued for it and no private key is made or returned. Without it a fresh key
   * pair is generated and its private key returned with the certificate.
   */
  publicKeyPem?: string;
}

export interface NodeKey {
  /** PKCS#8 PEM: stays on the node */
  keyPem: string;
  /** SPKI PEM ("BEGIN PUBLIC KEY"): sent to the admitting node to have a certificate issued */
  publicKeyPem: string;
}

const KEY_ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 24 * 60 * 60 * 1000;
/** certificates start an hour in the past, so a member whose clock lags a little accepts them */
const BACKDATE_MS = 60 * 60 * 1000;
const CA_YEARS = 10;
const NODE_YEARS = 5;


/** A self-signed CA for one cluster: CN `warren-ca-<clusterId>`, valid 10 years. */
export async function createClusterCa(clusterId: string): Promise<CertAndKey> {
  await loadX509();
  if (!clusterId) throw new UserError('bad_cluster_id', 'a cluster CA needs a cluster id');
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [`warren-ca-${clusterId}`] }, { O: ['warren'] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: addYears(now, CA_YEARS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      // pathLen 0: the CA signs node certificates only, never another CA
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * A node certificate signed by the cluster CA: CN = nodeId, SANs for every IP and DNS name
 * (plus 'localhost'), usable as TLS server and client (etcd uses one certificate for both),
 * valid 5 years, random serial.
 */
export async function issueNodeCert(ca: CertAndKey, opts: NodeCertOptions & { publicKeyPem: string }): Promise<{ certPem: string }>;
export async function issueNodeCert(ca: CertAndKey, opts: NodeCertOptions): Promise<CertAndKey>;
export async function issueNodeCert(ca: CertAndKey, opts: NodeCertOptions): Promise<{ certPem: string; keyPem?: string }> {
  await loadX509();
  if (!opts.nodeId) throw new UserError('bad_node_id', 'a node certificate needs a node id');
  const ips = [...new Set(opts.ips.map(normalizeIp))];
  const dnsNames = [...new Set(['localhost', ...(opts.dnsNames ?? [])].map((n) => n.trim().toLowerCase()).filter(Boolean))];
  for (const name of dnsNames) {
    if (!/^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/.test(name)) {
      throw new UserError('bad_dns_name', `"${name}" is not a DNS name`);
    }
  }

  const keys = opts.publicKeyPem === undefined ? await generateKeys() : undefined;
  const publicKey = keys ? keys.publicKey : await importPublicKeyPem(opts.publicKeyPem!);
  const now = Date.now();
  const certPem = await signLeaf(ca, {
    commonName: opts.nodeId,
    publicKey,
    notBefore: now - BACKDATE_MS,
    notAfter: addYears(now, NODE_YEARS).getTime(),
    dnsNames,
    ips,
    clientAuth: true,
  });
  return keys ? { certPem, keyPem: await exportKeyPem(keys.privateKey) } : { certPem };
}

export interface ServiceCertOptions {
  /** the one DNS name the certificate is for (`<service>.<domain>`) */
  dnsName: string;
  /** how long it is valid from now (it also starts BACKDATE_MS in the past) */
  lifetimeMs: number;
  /** "now" (ms since the epoch) for its validity: the caller's clock (default Date.now()) */
  now?: number;
}

/**
 * A TLS server certificate for one service name (HTTPS through the proxy), with a fresh key:
 * CN and the only SAN are the name, server authentication only.
 */
export async function issueServiceCert(ca: CertAndKey, opts: ServiceCertOptions): Promise<CertAndKey> {
  await loadX509();
  const keys = await generateKeys();
  const now = opts.now ?? Date.now();
  // a short test lifetime must not be swallowed by the backdating
  const backdate = Math.min(BACKDATE_MS, Math.floor(opts.lifetimeMs / 10));
  const certPem = await signLeaf(ca, {
    commonName: opts.dnsName,
    publicKey: keys.publicKey,
    notBefore: now - backdate,
    notAfter: now + opts.lifetimeMs,
    dnsNames: [opts.dnsName],
    ips: [],
    clientAuth: false,
  });
  return { certPem, keyPem: await exportKeyPem(keys.privateKey) };
}

interface Leaf {
  commonName: string;
  publicKey: CryptoKey;
  notBefore: number;
  notAfter: number;
  dnsNames: string[];
  ips: string[];
  /** also a TLS client certificate (etcd uses one certificate for both roles) */
  clientAuth: boolean;
}

/** A certificate signed by the cluster CA, random serial. */
async function signLeaf(ca: CertAndKey, leaf: Leaf): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importKeyPem(ca.keyPem);
  const usages = [x509.ExtendedKeyUsage.serverAuth, ...(leaf.clientAuth ? [x509.ExtendedKeyUsage.clientAuth] : [])];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [leaf.commonName] }, { O: ['warren'] }],
    issuer: caCert.subject,
    notBefore: new Date(leaf.notBefore),
    notAfter: new Date(leaf.notAfter),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: leaf.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(usages),
      new x509.SubjectAlternativeNameExtension([
        ...leaf.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...leaf.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(leaf.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return `${cert.toString('pem')}\n`;
}

/** A node's own key pair, made on the node: the private key never has to leave it. */
export async function generateNodeKey(): Promise<NodeKey> {
  await loadX509();
  const keys = await generateKeys();
  const spki = await globalThis.crypto.subtle.exportKey('spki', keys.publicKey);
  return { keyPem: await exportKeyPem(keys.privateKey), publicKeyPem: `${x509.PemConverter.encode(spki, 'PUBLIC KEY')}\n` };
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await globalThis.crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await globalThis.crypto.subtle.exportKey('pkcs8', key);
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`;
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  return globalThis.crypto.subtle.importKey('pkcs8', pemToDer(pem, 'PRIVATE KEY'), KEY_ALGORITHM, false, ['sign']);
}

async function importPublicKeyPem(pem: string): Promise<CryptoKey> {
  try {
    return await globalThis.crypto.subtle.importKey('spki', pemToDer(pem, 'PUBLIC KEY'), KEY_ALGORITHM, true, ['verify']);
  } catch (err) {
    if (err instanceof UserError) throw new UserError('bad_public_key', 'the node public key is not a PEM "PUBLIC KEY" block');
    throw new UserError('bad_public_key', 'the node public key is not an ECDSA P-256 public key');
  }
}


/** 16 random bytes as hex, positive and without a leading zero byte (minimal DER INTEGER). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString('hex');
}

function addYears(from: number, years: number): Date {
  const d = new Date(from);
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d;
}

/**
 * An address as @peculiar/x509 wants it: no brackets or zone, and IPv6 written with hex groups
 * only (its parser does not understand an embedded dotted quad such as ::ffff:10.0.0.1).
 */
function normalizeIp(raw: string): string {
  let ip = raw.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  ip = ip.replace(/%.*$/, '');
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family !== 6) throw new UserError('bad_ip', `"${raw}" is not an IP address`);
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (dotted) {
    const [a, b, c, d] = dotted[2]!.split('.').map(Number) as [number, number, number, number];
    ip = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  return ip.toLowerCase();
}
