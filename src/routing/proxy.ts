/**
 * Warren's HTTP reverse proxy: every node runs one. A request for `<service>.<domain>`
 * (or the short `<service>`) goes to one of the service's running replicas, round robin,
 * over keep-alive connection pools (undici Agent: one Pool per backend origin). The route
 * source says where: a replica on this node at its container's own address (no docker-proxy),
 * others at their node's published port; a container address that cannot be reached is
 * reported back (`unreachable`) and the retry goes to the published port.
 *
 * Failover: a backend that cannot be reached (refused, reset before the request went out,
 * connect timeout) is retried on another backend, re-reading the route table on every try,
 * so replicas that the driver adds while we retry are used. While the service exists but no
 * backend answers, tries go on for up to `retryWindowMs` (5 s), then a 503 page.
 * A request is retried only while nothing of it can have reached a backend (connect phase),
 * or, after that, when it is idempotent and carries no body (bodies are streamed, never
 * buffered, so a body that started flowing cannot be replayed).
 *
 * Streaming both ways (uploads, downloads, ranges, long-polls) with backpressure and no
 * idle timeouts on proxied exchanges; WebSocket (any Upgrade) through undici's upgrade path
 * and a plain socket pipe. Per-request success is not logged; failures at debug.
 *
 * This file builds the server; the parts: proxy-state.ts (host lookup, pools, round robin,
 * passive health), proxy-forward.ts (one request's tries), proxy-headers.ts, proxy-pages.ts,
 * proxy-types.ts (the route source contract).
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { httpsRedirectLocation } from '../core/https/service-certs.ts';
import { onFirstFreePort } from '../system/ports.ts';
import { Forward } from './proxy-forward.ts';
import { badGatewayPage, prefersJson, sendPage, unknownServicePage, writeRawPage, type Page } from './proxy-pages.ts';
import { ProxyState } from './proxy-state.ts';
import type { ProxyHandlerOptions, ProxyOptions, ProxyStats } from './proxy-types.ts';

export interface ProxyServer {
  port: number;
  /** the domain as the proxy matches it */
  domain: string;
  /** the listening server (its handle is shared with the proxy worker processes) */
  server: http.Server;
  close(): Promise<void>;
  stats(): ProxyStats;
}

/** A proxy's http.Server with every handler attached, not listening (see startProxy, proxy-worker.ts). */
export interface ProxyHandler {
  server: http.Server;
  /** the domain as the proxy matches it (lower case, no outer dots) */
  domain: string;
  stats(): ProxyStats;
  /** stops waiting forwards, cuts tunnels and connections, closes the pools (not the listener) */
  shutdown(): Promise<void>;
}

/**
 * Builds the proxy's http.Server without listening: startProxy listens on a port; a proxy
 * worker process feeds it the connections it accepts on the agent's listening socket.
 */
export function createProxyHandler(o: ProxyHandlerOptions): ProxyHandler {
  const core = new ProxyState(o);
  const log = o.logger;

  const server = http.createServer({
    // uploads may take long; long-polls may idle: no whole-request timer
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
  });

  const notFound = (host: string | undefined, accept: string | undefined): Page =>
    unknownServicePage(host, core.routes.services(), core.domain, prefersJson(accept));

  const pid = o.pidHeader ? String(process.pid) : undefined;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    core.requests++;
    if (pid !== undefined) res.setHeader('x-warren-proxy-pid', pid);
    const service = core.serviceFor(req.headers.host);
    if (service === null) {
      sendPage(res, notFound(req.headers.host, req.headers.accept));
      return;
    }
    const list = core.routes.backends(service);
    if (list.length === 0 && !core.routes.hasService(service)) {
      sendPage(res, notFound(req.headers.host, req.headers.accept));
      return;
    }
    if (core.routes.httpsRedirect !== undefined && !(req.socket as { encrypted?: boolean }).encrypted && core.routes.httpsRedirect(service)) {
      const httpsPort = o.httpsPort?.();
      if (httpsPort !== undefined) {
        // 308: the method and body are kept (301 lets clients turn a POST into a GET)
        res.writeHead(308, { location: httpsRedirectLocation(req.headers.host!, req.url ?? '/', httpsPort), 'content-length': 0 });
        res.end();
        return;
      }
    }
    new Forward(core, req, res, null, null, service).next(list);
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    try {
      onRequest(req, res);
    } catch (err) {
      // a bug or a failing route source must not take the node's proxy down
      core.errors++;
      log.warn({ err }, 'proxy: request handling failed');
      if (!res.headersSent) sendPage(res, badGatewayPage('this service', prefersJson(req.headers.accept)));
      else res.destroy();
    }
  });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    core.requests++;
    core.sockets.add(socket);
    socket.on('close', () => core.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const service = core.serviceFor(req.headers.host);
    if (service === null || (core.routes.backends(service).length === 0 && !core.routes.hasService(service))) {
      writeRawPage(socket, notFound(req.headers.host, req.headers.accept));
      return;
    }
    new Forward(core, req, null, socket, head, service).next();
  };
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      onUpgrade(req, socket, head);
    } catch (err) {
      core.errors++;
      log.warn({ err }, 'proxy: upgrade handling failed');
      socket.destroy();
    }
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (socket.writable && err.code !== 'ECONNRESET') {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    } else {
      socket.destroy();
    }
  });

  return {
    server,
    domain: core.domain,
    stats: () => ({ requests: core.requests, retries: core.retries, errors: core.errors, containerTries: core.containerTries, publishedTries: core.publishedTries }),
    async shutdown() {
      core.closed = true;
      for (const f of [...core.waiting]) f.cancel();
      core.waiting.clear();
      for (const s of [...core.sockets]) s.destroy();
      core.sockets.clear();
      server.closeAllConnections();
      await core.agent.destroy().catch(() => {});
    },
  };
}

export async function startProxy(o: ProxyOptions): Promise<ProxyServer> {
  const log = o.logger;
  const handler = createProxyHandler(o);
  const { server } = handler;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.bind, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await handler.shutdown();
    throw err;
  }
  server.on('error', (err) => log.error({ err }, 'proxy: server error'));

  const port = (server.address() as AddressInfo).port;
  log.info({ bind: o.bind, port, domain: handler.domain }, 'proxy: listening');

  let closing: Promise<void> | null = null;
  return {
    port,
    domain: handler.domain,
    server,
    stats: handler.stats,
    close() {
      closing ??= (async () => {
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        await handler.shutdown();
        await done;
        log.info({ port }, 'proxy: closed');
      })();
      return closing;
    },
  };
}

/**
 * Starts on `preferred` (e.g. 80); when that port cannot be bound (EACCES: no privilege,
 * EADDRINUSE: taken), on `fallback` (7380). The returned server's `port` says which.
 */
export async function startProxyOnFirstFreePort(
  o: Omit<ProxyOptions, 'port'> & { preferred: number; fallback: number },
): Promise<ProxyServer> {
  const { preferred, fallback, ...rest } = o;
  return onFirstFreePort(preferred, fallback, (port) => startProxy({ ...rest, port }), (code) =>
    o.logger.info({ preferred, fallback, code }, 'proxy: preferred port unavailable, using fallback'));
}
