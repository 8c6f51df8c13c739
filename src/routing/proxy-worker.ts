/**
 * A proxy worker process (started by the agent, see proxy-workers.ts): the same proxy as the
 * agent's own (proxy.ts), serving connections it accepts on the agent's listening socket
 * (handed over IPC; the kernel spreads the accepts over the processes), routing from a copy
 * of the agent's route table that the agent keeps current over IPC. It loads no gossip, etcd
 * or Docker code. It exits when the agent goes (IPC disconnect; the agent also starts it
 * under `setpriv --pdeathsig SIGKILL`).
 *
 * argv[2]: JSON { domain, source?, logLevel, name, worker, retryWindowMs?, httpsPort? }
 *
 * HTTPS: when the agent serves it, it hands over that listening socket too ('listen-https');
 * the worker terminates TLS itself, asking the agent for a service's certificate and key the
 * first time a client names the service and again when it is due for renewal (it never sees
 * the CA's key).
 */
import type { Server } from 'node:net';
import type { LogLevel } from '../core/agent-config.ts';
import { createProxyHandler } from './proxy.ts';
import { createHttpsFront } from './https-front.ts';
import { sourceBoundPools } from './proxy-source.ts';
import { parseCertAnswer, SnapshotRoutes, type FromWorker } from './route-snapshot.ts';
import type { ServiceCert } from './service-certs.ts';
import { createWorkerLogger } from './worker-logger.ts';

interface WorkerConfig {
  domain: string;
  /** the agent's bind address (proxy-source.ts) */
  source?: string;
  logLevel: LogLevel;
  name: string;
  worker: number;
  retryWindowMs?: number;
  httpsPort?: number;
}

/** how long a worker waits for the agent's answer to a certificate request */
const CERT_ANSWER_MS = 10_000;

function main(): void {
  const send = process.send?.bind(process);
  if (!send) {
    process.stderr.write('warren proxy worker: must be started by the agent (no IPC channel)\n');
    process.exit(2);
  }
  const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
  const log = createWorkerLogger(cfg.logLevel ?? 'info', { name: cfg.name, component: 'proxy-worker', worker: cfg.worker });
  const post = (m: FromWorker): void => {
    if (process.connected) send(m, undefined, undefined, () => undefined);
  };
  const routes = new SnapshotRoutes((backend) => post({ t: 'unreachable', backend }));
  const handler = createProxyHandler({
    domain: cfg.domain,
    routes,
    logger: log,
    ...(cfg.retryWindowMs !== undefined ? { retryWindowMs: cfg.retryWindowMs } : {}),
    pidHeader: process.env.WARREN_TEST_PROXY_PID_HEADER === '1',
    httpsPort: () => cfg.httpsPort,
    ...(cfg.source ? { pools: sourceBoundPools(cfg.source, (h) => routes.isContainerHost(h)) } : {}),
  });
  let listening = false;
  let listeningTls = false;
  let certSeq = 0;
  const certWaits = new Map<number, (cert: ServiceCert | undefined) => void>();
  const tls = createHttpsFront(handler, {
    cert: (service) =>
      new Promise((resolve) => {
        const seq = ++certSeq;
        const timer = setTimeout(() => {
          certWaits.delete(seq);
          resolve(undefined);
        }, CERT_ANSWER_MS);
        certWaits.set(seq, (cert) => {
          clearTimeout(timer);
          certWaits.delete(seq);
          resolve(cert);
        });
        post({ t: 'cert', seq, service });
      }),
  }, log);

  process.on('message', (m: unknown, handle?: unknown) => {
    if (m === 'listen') {
      if (listening || !handle) return;
      listening = true;
      // takes over the handle the agent sent (a dup of its listening socket)
      // (and anything the received net.Server accepted before the takeover goes to the proxy too)
      (handle as Server).on('connection', (socket) => handler.server.emit('connection', socket));
      handler.server.listen(handle as Server, () => {
        log.debug({ routes: routes.version }, 'proxy worker: accepting');
        post({ t: 'ready', pid: process.pid });
      });
      return;
    }
    if (m === 'listen-https') {
      if (listeningTls || !handle) return;
      listeningTls = true;
      (handle as Server).on('connection', (socket) => tls.emit('connection', socket));
      tls.listen(handle as Server, () => log.debug('proxy worker: accepting https'));
      return;
    }
    if (typeof m !== 'object' || m === null) return;
    const msg = m as { t?: unknown; snapshot?: unknown; seq?: unknown };
    if (msg.t === 'routes') {
      if (!routes.apply(msg.snapshot)) log.warn('proxy worker: malformed route snapshot ignored');
    } else if (msg.t === 'cert') {
      const a = parseCertAnswer(m);
      if (a) certWaits.get(a.seq)?.(a.cert ?? undefined);
    } else if (msg.t === 'stats' && typeof msg.seq === 'number') {
      post({ t: 'stats', seq: msg.seq, stats: handler.stats() });
    }
  });
  handler.server.on('error', (err) => log.error({ err }, 'proxy worker: server error'));
  // now the agent may send the routes and the listening socket
  post({ t: 'hello' });
  // the agent stopped or died: nothing to route with any more
  process.on('disconnect', () => process.exit(0));
  // A SIGTERM to the whole process group (systemd's stop, timeout(1)) reaches the agent too, which
  // then closes its workers by disconnecting them: wait a moment for that, or the agent sees an
  // exit it did not ask for and starts a replacement while it stops. Alone, exit after it.
  process.on('SIGTERM', () => setTimeout(() => process.exit(0), 1000));
  // counters go to the agent every second too, so a worker that crashes loses at most a second's
  setInterval(() => post({ t: 'stats', seq: -1, stats: handler.stats() }), 1000).unref();
}

main();
