/**
 * Shared state of one proxy server: the Host header -> service lookup, the keep-alive pools
 * (one undici Agent), round robin over a service's backends with passive health (origins
 * that failed to connect are passed over for a while), and the counters.
 */
import { serviceOfRelativeName } from '../core/mesh/stack-host.ts';
import type { Duplex } from 'node:stream';
import { Agent } from 'undici';
import type { Logger } from '../system/logger.ts';
import type { Forward } from './proxy-forward.ts';
import type { Backend, ProxyHandlerOptions, RouteSource } from './proxy-types.ts';
import { DEFAULT_DOMAIN } from '../core/default-domain.ts';
import { monoNow } from '../system/clock.ts';

/** the same default as the agent's --domain (core/agent-config.ts), for handlers built without one */
const DEFAULT_RETRY_WINDOW_MS = 5_000;
/** connect timeout per backend try */
const CONNECT_TIMEOUT_MS = 1_000;
/** a backend that failed to connect is passed over (while others exist) for this long */
const DOWN_FOR_MS = 2_000;
const HOST_CACHE_MAX = 1024;
const ANSWERED_MAX = 4096;

interface Counter {
  i: number;
}

/** Shared state of one proxy server: routing, pools, passive health, stats. */
export class ProxyState {
  readonly agent: Agent;
  readonly suffix: string;
  readonly retryWindowMs: number;
  readonly routes: RouteSource;
  readonly log: Logger;
  readonly domain: string;
  closed = false;
  requests = 0;
  retries = 0;
  errors = 0;
  containerTries = 0;
  publishedTries = 0;
  /** Host header value -> service name (null: names no service) */
  private readonly hostCache = new Map<string, string | null>();
  private readonly rr = new Map<string, Counter>();
  /** origin -> time until which it is passed over */
  private readonly down = new Map<string, number>();
  /**
   * container-address origins that have answered: the path to them works, so a later connect
   * timeout there is load or a death (Docker's events handle those), not a reason to give the
   * path up for the published port
   */
  readonly answered = new Set<string>();
  private readonly origins = new WeakMap<Backend, string>();
  /** forwards waiting between retry rounds (their timers are cleared on close) */
  readonly waiting = new Set<Forward>();
  /** client sockets of upgrade requests and live tunnels (destroyed on close) */
  readonly sockets = new Set<Duplex>();

  constructor(o: ProxyHandlerOptions) {
    this.routes = o.routes;
    this.log = o.logger;
    this.domain = (o.domain || DEFAULT_DOMAIN).toLowerCase().replace(/^\.+|\.+$/g, '');
    this.suffix = `.${this.domain}`;
    this.retryWindowMs = o.retryWindowMs ?? DEFAULT_RETRY_WINDOW_MS;
    this.agent = new Agent({
      connect: { timeout: CONNECT_TIMEOUT_MS },
      ...(o.pools ? { factory: o.pools } : {}),
      // long-polls, event streams and slow downloads must not be cut by the proxy
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 600_000,
      pipelining: 1,
    });
  }

  /** The service a Host header names, or null. Cached per distinct header value. */
  serviceFor(host: string | undefined): string | null {
    if (host === undefined) return null;
    let s = this.hostCache.get(host);
    if (s !== undefined) return s;
    s = parseHost(host, this.suffix);
    if (this.hostCache.size >= HOST_CACHE_MAX) this.hostCache.clear();
    this.hostCache.set(host, s);
    return s;
  }

  originOf(b: Backend): string {
    let o = this.origins.get(b);
    if (o === undefined) {
      o = b.host.includes(':') ? `http://[${b.host}]:${b.port}` : `http://${b.host}:${b.port}`;
      this.origins.set(b, o);
    }
    return o;
  }

  /**
   * Next backend for a service: round robin from a per-service counter, skipping origins
   * already tried by this request, and passing over recently failed ones while others
   * remain. null when every listed backend was tried (or none is listed).
   */
  pick(service: string, list: readonly Backend[], tried: string[] | null): Backend | null {
    const n = list.length;
    if (n === 0) return null;
    if (n === 1 && tried === null && this.down.size === 0) return list[0]!;
    let start = 0;
    if (n > 1) {
      let c = this.rr.get(service);
      if (c === undefined) {
        c = { i: 0 };
        this.rr.set(service, c);
      }
      start = c.i++ % n;
      if (c.i >= 0x3fffffff) c.i = 0;
    }
    let fallback: Backend | null = null;
    for (let k = 0; k < n; k++) {
      const b = list[(start + k) % n]!;
      const o = this.originOf(b);
      if (tried !== null && tried.includes(o)) continue;
      if (this.down.size > 0 && this.isDown(o)) {
        fallback ??= b;
        continue;
      }
      return b;
    }
    return fallback;
  }

  private isDown(origin: string): boolean {
    const until = this.down.get(origin);
    if (until === undefined) return false;
    if (until > monoNow()) return true;
    this.down.delete(origin);
    return false;
  }

  markDown(origin: string): void {
    this.down.set(origin, monoNow() + DOWN_FOR_MS);
  }

  markUp(origin: string, b: Backend | null): void {
    if (this.down.size > 0) this.down.delete(origin);
    if (b !== null && b.container !== undefined && !this.answered.has(origin)) {
      if (this.answered.size >= ANSWERED_MAX) this.answered.clear();
      this.answered.add(origin);
    }
  }
}

/** `Foo.Warren.Internal:7380` -> `foo`; `web.shop.warren.internal` -> `shop-web`; `foo` -> `foo`; anything else -> null. */
function parseHost(raw: string, suffix: string): string | null {
  let h = raw.trim().toLowerCase();
  if (h === '' || h.startsWith('[')) return null; // IPv6 literal: names no service
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.endsWith(suffix)) {
    const name = h.slice(0, -suffix.length);
    return name !== '' ? serviceOfRelativeName(name) : null; // `<service>.<stack>` too
  }
  return h !== '' && !h.includes('.') ? h : null;
}
