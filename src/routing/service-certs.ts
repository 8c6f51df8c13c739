/**
 * Certificates for `https://<service>.<domain>`, issued by the cluster's CA on demand (the
 * first TLS client that names a service) and kept in etcd, so every node serves the same one.
 *
 * Who issues: whichever node is asked first. The CA (certificate and key) already lives in etcd
 * (/warren/ca, readable only with a client certificate from the same CA, i.e. by admitted
 * members), and every member reads it there when it answers a join; issuing here reads it the
 * same way, only for the moment of signing, and never writes it anywhere else (no file, no
 * proxy worker). The certificate and its key are written with a compare-and-swap on the key's
 * revision: when two nodes issue at once, one write wins and the loser serves the winner's.
 * Renewal follows the same path once less than a third of the lifetime remains
 * (src/core/https/service-certs.ts), checked on every handshake that reaches this cache.
 */
import { X509Certificate } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { needsRenewal, serviceHostname, type Validity } from '../core/https/service-certs.ts';
import type { CertAndKey, ServiceCertOptions } from '../system/pki.ts';
import type { Logger } from '../system/logger.ts';

export const SERVICE_CERT_PREFIX = '/warren/https/certs/';

/** A service's certificate and key as stored in etcd and handed to the proxy workers. */
export interface ServiceCert extends Validity {
  /** the DNS name it is for */
  name: string;
  certPem: string;
  keyPem: string;
}

export interface CertStorage {
  /** the stored certificate and the revision of its key; undefined when there is none */
  read(service: string): Promise<{ cert: ServiceCert; revision: number } | undefined>;
  /** writes when the key is still at `revision` (0: absent); false when another write came first */
  replace(service: string, cert: ServiceCert, revision: number): Promise<boolean>;
}

export interface ServiceCertsOptions {
  domain: string;
  lifetimeMs: number;
  /** undefined while this node has no etcd client */
  storage(): CertStorage | undefined;
  /** the cluster CA with its key (read from etcd when a certificate must be signed) */
  ca(): Promise<CertAndKey | undefined>;
  hasService(service: string): boolean;
  issue(ca: CertAndKey, opts: ServiceCertOptions): Promise<CertAndKey>;
  logger: Logger;
  now?: () => number;
}

/** The validity of a PEM certificate (node's own X.509 parser: no extra library). */
export function validityOf(certPem: string): Validity {
  const c = new X509Certificate(certPem);
  return { notBefore: Date.parse(c.validFrom), notAfter: Date.parse(c.validTo) };
}

export function isServiceCert(x: unknown): x is ServiceCert {
  if (typeof x !== 'object' || x === null) return false;
  const c = x as Record<string, unknown>;
  return typeof c.name === 'string' && typeof c.certPem === 'string' && typeof c.keyPem === 'string' && Number.isFinite(c.notBefore) && Number.isFinite(c.notAfter);
}

export class ServiceCerts {
  private readonly cache = new Map<string, ServiceCert>();
  private readonly inflight = new Map<string, Promise<ServiceCert | undefined>>();
  /** certificates this node issued (and won the write with) */
  issued = 0;
  private readonly now: () => number;

  constructor(private readonly o: ServiceCertsOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The certificate to serve for a service; undefined for an unknown service or when none can be had. */
  get(service: string): Promise<ServiceCert | undefined> {
    if (!this.o.hasService(service)) return Promise.resolve(undefined);
    const cached = this.cache.get(service);
    if (cached && !needsRenewal(cached, this.now())) return Promise.resolve(cached);
    let p = this.inflight.get(service);
    if (!p) {
      p = this.load(service, cached).finally(() => this.inflight.delete(service));
      this.inflight.set(service, p);
    }
    return p;
  }

  private async load(service: string, cached: ServiceCert | undefined): Promise<ServiceCert | undefined> {
    const stillValid = (c: ServiceCert | undefined) => (c && this.now() < c.notAfter ? c : undefined);
    const storage = this.o.storage();
    if (!storage) return stillValid(cached);
    let found: { cert: ServiceCert; revision: number } | undefined;
    try {
      found = await storage.read(service);
      if (found && !needsRenewal(found.cert, this.now())) return this.keep(service, found.cert);
      const ca = await this.o.ca();
      if (!ca) throw new Error('the cluster CA is not readable');
      const name = serviceHostname(service, this.o.domain);
      const pair = await this.o.issue(ca, { dnsName: name, lifetimeMs: this.o.lifetimeMs, now: this.now() });
      const cert: ServiceCert = { name, ...pair, ...validityOf(pair.certPem) };
      if (await storage.replace(service, cert, found?.revision ?? 0)) {
        this.issued++;
        this.o.logger.info({ service, name, notAfter: new Date(cert.notAfter).toISOString(), renewal: found !== undefined }, 'https: issued a certificate');
        return this.keep(service, cert);
      }
      // another node wrote first: serve its certificate, as every other node will
      const winner = await storage.read(service);
      if (winner) return this.keep(service, winner.cert);
      return undefined;
    } catch (err) {
      this.o.logger.warn({ service, err: (err as Error).message }, 'https: could not get a certificate; serving the last one while it is valid');
      return stillValid(found?.cert) ?? stillValid(cached);
    }
  }

  private keep(service: string, cert: ServiceCert): ServiceCert {
    this.cache.set(service, cert);
    return cert;
  }
}

/** The certificates' keys in etcd. */
export class EtcdCertStorage implements CertStorage {
  constructor(private readonly client: Etcd3) {}

  async read(service: string): Promise<{ cert: ServiceCert; revision: number } | undefined> {
    const res = await this.client.get(SERVICE_CERT_PREFIX + service).exec();
    const kv = res.kvs[0];
    if (!kv) return undefined;
    let cert: unknown;
    try {
      cert = JSON.parse(kv.value.toString());
    } catch {
      cert = undefined;
    }
    // a malformed record is replaced like a missing one (at its revision)
    if (!isServiceCert(cert)) return { cert: { name: '', certPem: '', keyPem: '', notBefore: 0, notAfter: 0 }, revision: Number(kv.mod_revision) };
    return { cert, revision: Number(kv.mod_revision) };
  }

  async replace(service: string, cert: ServiceCert, revision: number): Promise<boolean> {
    const key = SERVICE_CERT_PREFIX + service;
    const res = await this.client.if(key, 'Mod', '==', revision).then(this.client.put(key).value(JSON.stringify(cert))).commit();
    return res.succeeded;
  }
}
