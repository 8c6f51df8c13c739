/**
 * The agent's HTTPS for services: the certificate cache (etcd-backed, see service-certs.ts) and
 * the TLS listener in front of the proxy (443, else 7443).
 */
import type { Etcd3 } from 'etcd3';
import { SERVICE_CERT_LIFETIME_MS } from '../core/https/service-certs.ts';
import { issueServiceCert, type CertAndKey } from '../system/pki.ts';
import type { Logger } from '../system/logger.ts';
import { startHttps, startHttpsOnFirstFreePort, type HttpsServer } from './https-front.ts';
import type { ProxyServer } from './proxy.ts';
import { EtcdCertStorage, ServiceCerts } from './service-certs.ts';

export interface ServiceHttpsOptions {
  bind: string;
  /** --https-port, or undefined: 443 when it can be bound, else `fallback` */
  port: number | undefined;
  fallback: number;
  proxy: ProxyServer;
  logger: Logger;
  client(): Etcd3 | undefined;
  /** the CA with its key, from etcd */
  ca(): Promise<CertAndKey | undefined>;
  hasService(service: string): boolean;
}

/**
 * Tests shorten service certificates' lifetime with WARREN_TEST_HTTPS_CERT_LIFETIME_MS to see a
 * renewal happen; nothing else may (3 s at least, so a typo cannot make every handshake
 * re-issue).
 */
function lifetimeMs(): number {
  const t = Number(process.env.WARREN_TEST_HTTPS_CERT_LIFETIME_MS);
  return Number.isSafeInteger(t) && t >= 3_000 ? t : SERVICE_CERT_LIFETIME_MS;
}

export async function startServiceHttps(o: ServiceHttpsOptions): Promise<{ server: HttpsServer; certs: ServiceCerts }> {
  let storage: { client: Etcd3; storage: EtcdCertStorage } | undefined;
  const certs = new ServiceCerts({
    domain: o.proxy.domain,
    lifetimeMs: lifetimeMs(),
    storage: () => {
      const client = o.client();
      if (!client) return undefined;
      if (storage?.client !== client) storage = { client, storage: new EtcdCertStorage(client) };
      return storage.storage;
    },
    ca: o.ca,
    hasService: o.hasService,
    issue: issueServiceCert,
    logger: o.logger,
  });
  const common = { bind: o.bind, handler: o.proxy, certs: { cert: (s: string) => certs.get(s) }, logger: o.logger };
  const server = o.port === undefined
    ? await startHttpsOnFirstFreePort({ ...common, preferred: 443, fallback: o.fallback })
    : await startHttps({ ...common, port: o.port });
  return { server, certs };
}
