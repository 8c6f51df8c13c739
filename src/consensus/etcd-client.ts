import { Etcd3, GRPCCancelledError, isRecoverableError, type IOptions } from 'etcd3';
import { ConsecutiveBreaker, DelegateBackoff, circuitBreaker, handleWhen, isBrokenCircuitError, noop, retry, type CircuitBreakerPolicy } from 'cockatiel';
import { request } from 'node:https';
import { isUserError } from '../core/errors.ts';
import { storeFailure, storeUnavailable } from './store-call.ts';
import type { TlsFiles } from '../system/pki.ts';
import { monoNow } from '../system/clock.ts';

export interface EtcdConnection {
  endpoints: string[];
  tls: TlsFiles;
}

/** gRPC keep-alive ping interval and answer timeout; etcd is told to accept pings this often (etcd-command.ts) */
export const KEEPALIVE_MS = 2000;

/** how long a host that failed is skipped */
const HOST_SKIP_MS = 1000;

/**
 * An etcd3 client whose fault handling suits a cluster that reconfigures: a host that fails is
 * skipped for one second only (etcd3's default, five seconds after three failures, would stall
 * admission), and a failed call is retried once or twice on the other hosts. When every host is
 * being skipped the call waits for the first to be tried again instead of failing unasked: a
 * moment in which each member had failed one call (a voter restarting while another was busy)
 * failed every call for that second, `warren status` read the voters as "etcd unreachable".
 */
export function createEtcdClient(conn: EtcdConnection, extra: Partial<IOptions> = {}, log?: BreakerLog): Etcd3 {
  return new Etcd3({
    hosts: conn.endpoints,
    credentials: {
      rootCertificate: Buffer.from(conn.tls.caPem),
      certChain: Buffer.from(conn.tls.certPem),
      privateKey: Buffer.from(conn.tls.keyPem),
    },
    dialTimeout: 3000,
    faultHandling: {
      host: (host) => watchBreaker(circuitBreaker(handleWhen(hostUnreachable), { halfOpenAfter: HOST_SKIP_MS, breaker: new ConsecutiveBreaker(1) }), host, log),
      global: retry(handleWhen((err) => isRecoverableError(err) || isBrokenCircuitError(err)), {
        maxAttempts: Math.min(3, conn.endpoints.length),
        backoff: new DelegateBackoff((ctx) => ('error' in ctx.result && isBrokenCircuitError(ctx.result.error) ? HOST_SKIP_MS + 50 : 0)),
      }),
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 5000 }),
    // streams (watches, lease keep-alives, an election's wait) have no deadline: to a member cut
    // off by a partition that drops packets they hung for good, and a campaign waiting on such a
    // watch left the majority without a leader until the heal. HTTP/2 pings close a channel that
    // stops answering; its streams then fail and are opened again on another member
    grpcOptions: { 'grpc.keepalive_time_ms': KEEPALIVE_MS, 'grpc.keepalive_timeout_ms': KEEPALIVE_MS },
    ...extra,
  });
}

/**
 * Call options bounding each attempt of a call to `ms`, for reads that must answer quickly (views:
 * health, members, status; the caller bounds the whole call with within()). A fixed deadline was
 * outlived by the client's retry, which waits 1.05 s for a skipped host: the retry went out past
 * its deadline, failed at once, and the host's breaker counted that against a healthy member (and
 * reset its channel). A client-only node reading its health every 1.5 s kept every member's breaker
 * open that way for over a minute after one slow answer (chaos seed 47: "not healthy" 60 s after
 * the fault healed). The getter is read at each attempt (etcd3 spreads the options per attempt).
 */
export function attemptDeadline(ms: number): { deadline: number } {
  return {
    get deadline() {
      return Date.now() + ms;
    },
  };
}

/** Where a client's breakers say when they skip a host and when they try it again (debug). */
export type BreakerLog = (fields: Record<string, unknown>, msg: string) => void;

function watchBreaker<T extends CircuitBreakerPolicy>(breaker: T, host: string, log?: BreakerLog): T {
  if (!log) return breaker;
  breaker.onBreak((r) => log({ host, err: 'error' in r ? r.error.message : 'isolated' }, 'etcd host skipped'));
  breaker.onReset(() => log({ host }, 'etcd host in use again'));
  return breaker;
}

/**
 * A client of one member for the quorum probe (src/runtime/quorum-watch.ts): no breaker, no retry.
 * The probe bounds each read itself and reads once a second; a breaker tripped by one late answer
 * (the agent stalled a moment, a busy machine) failed the next probes on every member at once
 * without asking (seen after a 1.5 s SIGSTOP of an agent: ~10 s without a good read, fenced).
 */
export function createProbeClient(conn: EtcdConnection): Etcd3 {
  return createEtcdClient(conn, { faultHandling: { host: () => noop, global: noop } });
}

/**
 * Whether a failed call says its host cannot be reached (then the host is skipped for a second).
 * etcd's own refusals ("etcdserver: ...", e.g. the member add it declines for 5 s after a voter
 * joins) say nothing about the host: tripping the breaker on them failed every other call through
 * it for a second, the quorum probe too, and the leader's retries fenced a healthy founder. Nor
 * does a call this process cancelled (a campaign resigned, a watch closed): etcd3 counts those as
 * recoverable, and after a quorum recovery a failing campaign's own cancellations kept the breaker
 * of the only host open for good (each retry failed on the open breaker and cancelled again).
 */
export function hostUnreachable(err: Error): boolean {
  return isRecoverableError(err) && !err.message.includes('etcdserver:') && !(err instanceof GRPCCancelledError);
}

/** GET /health of one etcd member over TLS with the node's client certificate. */
export function etcdMemberHealthy(url: string, tls: TlsFiles, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    // a signal bounds the whole exchange (the socket `timeout` is an idle timer: measured 2 s for 1 s here)
    const req = request(`${url}/health`, { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('error', () => resolve(false));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 && (JSON.parse(body) as { health?: string }).health === 'true');
        } catch {
          resolve(false);
        }
      });
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The refusals etcd gives while it reconfigures or elects: worth waiting out. */
export function isTransientEtcdError(err: Error): boolean {
  return /unhealthy cluster|in sync with leader|too many learner|leader changed|no leader|UNAVAILABLE|DEADLINE_EXCEEDED|timed out|not started|ECONNREFUSED|breaker is open|BrokenCircuit/i.test(err.message);
}

/** Retries an etcd call through the refusals etcd gives while it reconfigures; other errors fail at once. */
export async function retryEtcd<T>(what: string, fn: () => Promise<T>, opts: { timeoutMs?: number; onRetry?: (err: Error) => void } = {}): Promise<T> {
  const deadline = monoNow() + (opts.timeoutMs ?? 30_000);
  let delay = 100;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientEtcdError(err as Error) || monoNow() + delay > deadline) throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
      opts.onRetry?.(err as Error);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
  }
}

/** An etcd call for an API request, retried through reconfiguration refusals; what still fails is a clear 503. */
export async function apiEtcdCall<T>(what: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  try {
    return await retryEtcd(what, fn, { timeoutMs });
  } catch (err) {
    if (isUserError(err)) throw err;
    // a client closed under the request (a voter change) is a 503 the CLI sends again: nothing was sent
    const closed = storeFailure((err as Error).cause);
    if (closed?.code === 'store_reconnecting') throw closed;
    throw storeUnavailable((err as Error).message);
  }
}
