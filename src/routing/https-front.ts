/**
 * The proxy's HTTPS side: a TLS server on 443 (else 7443) whose decrypted connections go to the
 * same proxy as plain HTTP (createProxyHandler's http.Server), so routing, retries, WebSockets
 * and X-Forwarded-* are the same; X-Forwarded-Proto says https. It runs in the agent and in
 * every proxy worker (each gets the listening socket, as for HTTP).
 *
 * Certificates are chosen by SNI: `<service>.<domain>` of a known service gets that service's
 * certificate (src/routing/service-certs.ts, in a worker asked of the agent over IPC); with
 * `--tailscale-cert on`, the node's own `*.ts.net` name gets Tailscale's (tailnet-cert.ts). Any
 * other name, or no SNI, aborts the handshake: a client is never shown a certificate for a
 * name it did not ask for, so nothing can be "clicked through" and nothing about the cluster
 * is revealed to a client that guesses.
 */
import { createSecureContext, createServer, type SecureContext, type Server as TlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { needsRenewal, serviceForServername } from '../core/https/service-certs.ts';
import { tailnetCertName } from '../core/https/tailnet-cert.ts';
import { onFirstFreePort } from '../system/ports.ts';
import type { Logger } from '../system/logger.ts';
import type { ProxyHandler } from './proxy.ts';
import type { ServiceCert } from './service-certs.ts';

export interface CertSource {
  /** a service's certificate, or (a dotted key) the one for that full `*.ts.net` name */
  cert(service: string): Promise<ServiceCert | undefined>;
}

export interface HttpsFrontStats {
  handshakesRefused: number;
}

/** A TLS server (not listening) feeding `handler`'s HTTP server. */
export function createHttpsFront(handler: Pick<ProxyHandler, 'server' | 'domain'>, certs: CertSource, logger: Logger, now: () => number = Date.now): TlsServer & { stats: HttpsFrontStats } {
  const contexts = new Map<string, { cert: ServiceCert; ctx: SecureContext }>();
  const stats: HttpsFrontStats = { handshakesRefused: 0 };

  const contextFor = async (service: string): Promise<SecureContext | undefined> => {
    const have = contexts.get(service);
    if (have && !needsRenewal(have.cert, now())) return have.ctx;
    const cert = await certs.cert(service);
    if (!cert) {
      contexts.delete(service);
      return undefined;
    }
    if (have && have.cert.certPem === cert.certPem) return have.ctx;
    const ctx = createSecureContext({ cert: cert.certPem, key: cert.keyPem });
    contexts.set(service, { cert, ctx });
    return ctx;
  };

  const server = createServer({
    ALPNProtocols: ['http/1.1'],
    SNICallback: (servername, cb) => {
      // a service label, or a full *.ts.net name (never a label: the two keys cannot collide)
      const service = serviceForServername(servername, handler.domain) ?? tailnetCertName(servername);
      const refuse = (why: string) => {
        stats.handshakesRefused++;
        if (logger.isLevelEnabled('debug')) logger.debug({ servername, why }, 'https: handshake refused');
        cb(new Error(why));
      };
      if (service === null) {
        refuse('not a service name of this cluster');
        return;
      }
      contextFor(service).then(
        (ctx) => (ctx ? cb(null, ctx) : refuse('unknown service')),
        (err: Error) => refuse(err.message),
      );
    },
  }) as TlsServer & { stats: HttpsFrontStats };
  server.stats = stats;
  server.on('secureConnection', (socket) => handler.server.emit('connection', socket));
  server.on('tlsClientError', (err, socket) => {
    if (logger.isLevelEnabled('debug')) logger.debug({ err: err.message }, 'https: client error');
    socket.destroy();
  });
  return server;
}

export interface HttpsServer {
  port: number;
  /** the listening TLS server (its handle is shared with the proxy worker processes) */
  server: TlsServer & { stats: HttpsFrontStats };
  close(): Promise<void>;
}

export interface HttpsOptions {
  bind: string;
  port: number;
  handler: Pick<ProxyHandler, 'server' | 'domain'>;
  certs: CertSource;
  logger: Logger;
}

/** Listens for HTTPS on `port` (the TLS server only: the proxy handler is closed by its owner). */
export async function startHttps(o: HttpsOptions): Promise<HttpsServer> {
  const server = createHttpsFront(o.handler, o.certs, o.logger);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.bind, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => o.logger.error({ err }, 'https: server error'));
  const port = (server.address() as AddressInfo).port;
  o.logger.info({ bind: o.bind, port }, 'https: listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
  };
}

/** 443 when it can be bound, else `fallback` (7443), reported like the proxy's 80 / 7380. */
export function startHttpsOnFirstFreePort(o: Omit<HttpsOptions, 'port'> & { preferred: number; fallback: number }): Promise<HttpsServer> {
  const { preferred, fallback, ...rest } = o;
  return onFirstFreePort(preferred, fallback, (port) => startHttps({ ...rest, port }), (code) =>
    o.logger.info({ preferred, fallback, code }, 'https: preferred port unavailable, using fallback'));
}
