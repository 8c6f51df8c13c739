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
import { EtcdCertStorage, ServiceCerts, type ServiceCert } from './service-certs.ts';
import { TailnetCert } from './tailnet-cert.ts';
import { TailscaleLocalApi } from '../gossip/tailscale-localapi.ts';

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
  /** --tailscale-cert on: tailscaled's LocalAPI socket, for this node's *.ts.net certificate */
  tailscaleSocket?: string;
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

/**
 * `cert(key)`, for the agent's TLS front and its workers: a service label, or a dotted full name
 * (only a *.ts.net name reaches here) that only the Tailscale certificate may answer.
 */
export async function startServiceHttps(o: ServiceHttpsOptions): Promise<{ server: HttpsServer; certs: ServiceCerts; cert(key: string): Promise<ServiceCert | undefined> }> {
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
  const tailnet = o.tailscaleSocket === undefined ? undefined : new TailnetCert({ api: new TailscaleLocalApi(o.tailscaleSocket), logger: o.logger });
  const cert = (key: string) => (key.includes('.') ? (tailnet?.get(key) ?? Promise.resolve(undefined)) : certs.get(key));
  const common = { bind: o.bind, handler: o.proxy, certs: { cert }, logger: o.logger };
  const server = o.port === undefined
    ? await startHttpsOnFirstFreePort({ ...common, preferred: 443, fallback: o.fallback })
    : await startHttps({ ...common, port: o.port });
  tailnet?.start();
  return {
    server: { ...server, close: () => (tailnet?.stop(), server.close()) },
    certs,
    cert,
  };
}
