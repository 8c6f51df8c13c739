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
 */
import { serviceOfRelativeName } from '../core/mesh/stack-host.ts';
import http from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import type { Logger } from '../system/logger.ts';
import { httpsRedirectLocation } from '../core/https/service-certs.ts';
import { onFirstFreePort } from '../system/ports.ts';
import {
  badGatewayPage,
  badRequestPage,
  noReplicaPage,
  prefersJson,
  unknownServicePage,
  type Page,
} from './proxy-pages.ts';

export interface Backend {
  host: string;
  port: number;
  nodeId: string;
  slot: number;
  /** set when host:port is a local container's own address (no docker-proxy in the way) */
  container?: { id: string; epoch: number };
}

export interface RouteSource {
  /** running replicas of a service (already filtered to alive nodes); [] when none run */
  backends(service: string): Backend[];
  /** whether the service exists at all (for 503 "no running replica" vs 404 "unknown") */
  hasService(service: string): boolean;
  /** every service name (for the 404 page) */
  services(): string[];
  /** a container address could not be reached (connect timeout, no route): route it another way */
  unreachable?(b: Backend): void;
  /** whether the service asked for plain HTTP to be redirected to HTTPS */
  httpsRedirect?(service: string): boolean;
}

export interface ProxyOptions {
  bind: string;
  port: number;
  domain: string;
  routes: RouteSource;
  logger: Logger;
  /** how long to keep retrying a service with no reachable backend before the 503 page (default 5000 ms) */
  retryWindowMs?: number;
  /** tests only: every answer says which process served it (x-warren-proxy-pid) */
  pidHeader?: boolean;
  /** the port HTTPS is served on (for redirects); undefined while there is none */
  httpsPort?: () => number | undefined;
  /** each backend origin's pool (proxy-source.ts: other nodes' guards are connected to from this node's address) */ pools?: NonNullable<Agent.Options['factory']>;
}

export interface ProxyServer {
  port: number;
  /** the domain as the proxy matches it */
  domain: string;
  /** the listening server (its handle is shared with the proxy worker processes) */
  server: http.Server;
  close(): Promise<void>;
  stats(): ProxyStats;
}

export interface ProxyStats {
  requests: number;
  retries: number;
  errors: number;
  /** tries (a request and each of its retries) sent to a local container's own address */
  containerTries: number;
  /** tries sent to a node address : published port */
  publishedTries: number;
}

export const DEFAULT_DOMAIN = 'warren.internal';
const DEFAULT_RETRY_WINDOW_MS = 5_000;
/** connect timeout per backend try */
const CONNECT_TIMEOUT_MS = 1_000;
/** a backend that failed to connect is passed over (while others exist) for this long */
const DOWN_FOR_MS = 2_000;
/** pause between rounds of tries when every known backend has failed */
const RETRY_PAUSE_MIN_MS = 50;
const RETRY_PAUSE_MAX_MS = 250;
const HOST_CACHE_MAX = 1024;
const ANSWERED_MAX = 4096;

/** methods retried after the request may have reached a backend (when they carry no body) */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * connect failures that say a container address is not reachable from here (a refusal says it
 * is), when it never answered before (else: an overloaded or dying backend, same on any path)
 */
const UNREACHABLE_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'EADDRNOTAVAIL']);

/** request errors from undici that say the request itself is unusable (no retry, 400) */
const INVALID_REQUEST_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED']);

const CLIENT_GONE = new Error('client closed the connection');

interface Counter {
  i: number;
}

/** Shared state of one proxy server: routing, pools, passive health, stats. */
class Core {
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
      connect: { timeout: CONNECT_TIMEOUT_MS }, ...(o.pools ? { factory: o.pools } : {}),
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
    if (until > Date.now()) return true;
    this.down.delete(origin);
    return false;
  }

  markDown(origin: string): void {
    this.down.set(origin, Date.now() + DOWN_FOR_MS);
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

function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * Request headers for the backend, from the raw client headers: hop-by-hop headers dropped
 * (undici writes its own connection/upgrade and framing), X-Forwarded-For appended,
 * X-Forwarded-Proto / -Host kept when a front proxy set them, else set.
 */
function forwardHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let xff: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let host: string | undefined;
  let connection: string | undefined;
  let sawLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    const v = raw[i + 1]!;
    switch (k.toLowerCase()) {
      case 'connection':
        connection = connection === undefined ? v : `${connection}, ${v}`;
        continue;
      case 'keep-alive':
      case 'proxy-connection':
      case 'transfer-encoding':
      case 'te':
      case 'trailer':
      case 'upgrade':
      case 'expect': // node's server already answered 100-continue to the client
      case 'http2-settings':
        continue;
      case 'x-forwarded-for':
        xff = xff === undefined ? v : `${xff}, ${v}`;
        continue;
      case 'x-forwarded-proto':
        xfProto ??= v;
        continue;
      case 'x-forwarded-host':
        xfHost ??= v;
        continue;
      case 'host':
        if (host !== undefined) continue;
        host = v;
        break;
      case 'content-length':
        if (sawLength) continue;
        sawLength = true;
        break;
    }
    out.push(k, v);
  }
  if (connection !== undefined) dropConnectionTokens(out, connection);
  const ip = clientAddress(req);
  out.push(
    'x-forwarded-for',
    xff === undefined ? ip : `${xff}, ${ip}`,
    'x-forwarded-proto',
    xfProto ?? ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'),
    'x-forwarded-host',
    xfHost ?? host ?? '',
  );
  return out;
}

/** Drops the headers a Connection header names (RFC 9110 7.6.1), in place. */
function dropConnectionTokens(headers: string[], connection: string): void {
  let names: Set<string> | undefined;
  for (const t of connection.split(',')) {
    const name = t.trim().toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive' || name === 'upgrade') continue;
    (names ??= new Set()).add(name);
  }
  if (names === undefined) return;
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (names.has(headers[r]!.toLowerCase())) continue;
    headers[w++] = headers[r]!;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
}

type ResponseHeaders = Record<string, string | string[] | undefined>;

/** Drops hop-by-hop response headers (node's server does its own framing), in place. */
function stripResponseHeaders(h: ResponseHeaders, keepUpgrade: boolean): void {
  const conn = h.connection;
  if (conn !== undefined) {
    delete h.connection;
    const value = Array.isArray(conn) ? conn.join(',') : conn;
    if (value.includes(',') || !/^\s*(keep-alive|close|upgrade)\s*$/i.test(value)) {
      for (const t of value.split(',')) {
        const name = t.trim().toLowerCase();
        if (name !== '' && name !== 'upgrade') delete h[name];
      }
    }
  }
  if (h['keep-alive'] !== undefined) delete h['keep-alive'];
  if (h['transfer-encoding'] !== undefined) delete h['transfer-encoding'];
  if (h['proxy-connection'] !== undefined) delete h['proxy-connection'];
  if (!keepUpgrade && h.upgrade !== undefined) delete h.upgrade;
}

function headerBlock(statusLine: string, h: ResponseHeaders, extra: string): string {
  let s = statusLine;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) s += `${k}: ${x}\r\n`;
    else s += `${k}: ${v}\r\n`;
  }
  return s + extra + '\r\n';
}

function statusLine(code: number): string {
  return `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? 'Unknown'}\r\n`;
}

function writeRawPage(socket: Duplex, page: Page): void {
  if (socket.destroyed) return;
  let head = statusLine(page.status);
  head += `content-type: ${page.contentType}\r\ncontent-length: ${page.body.length}\r\ncache-control: no-store\r\n`;
  if (page.headers) for (const k in page.headers) head += `${k}: ${page.headers[k]}\r\n`;
  head += 'connection: close\r\n\r\n';
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), page.body]));
}

function sendPage(res: ServerResponse, page: Page): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const headers: OutgoingHttpHeaders = {
    'content-type': page.contentType,
    'content-length': page.body.length,
    'cache-control': 'no-store',
    ...page.headers,
  };
  res.writeHead(page.status, headers);
  res.end(page.body);
}

/**
 * One client request on its way to a backend: the undici dispatch handler for each try,
 * and the retry loop around the tries. Either `res` (plain HTTP) or `socket` (an Upgrade
 * request) is set.
 */
class Forward implements Dispatcher.DispatchHandler {
  private readonly headers: string[];
  private readonly hasBody: boolean;
  private origin = '';
  private backend: Backend | null = null;
  private controller: Dispatcher.DispatchController | null = null;
  /** the current try reached a socket: its request (head, maybe body) is being written */
  private sent = false;
  /** a final response (or upgrade) started: no more tries */
  private responded = false;
  private gone = false;
  /** the proxy answered by itself (a page): later undici callbacks are ignored */
  private done = false;
  private tried: string[] | null = null;
  private deadline = 0;
  private rounds = 0;
  private timer: NodeJS.Timeout | null = null;
  private drainHook: (() => void) | null = null;
  /** upgrade requests: body bytes the client sent after its request head */
  private readonly head: Buffer | null;

  constructor(
    private readonly core: Core,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse | null,
    private readonly socket: Duplex | null,
    head: Buffer | null,
    private readonly service: string,
  ) {
    this.head = head;
    this.headers = forwardHeaders(req);
    const h = req.headers;
    const len = h['content-length'];
    this.hasBody = socket === null && (h['transfer-encoding'] !== undefined || (len !== undefined && len !== '0'));
    if (res !== null) {
      res.on('close', () => {
        if (!res.writableFinished) this.clientGone();
      });
    } else if (socket !== null) {
      socket.on('close', () => {
        if (!this.responded) this.clientGone();
      });
    }
  }

  /** Tries the next backend (re-reading the route table), or waits, or gives up. */
  next(list?: readonly Backend[]): void {
    if (this.gone || this.core.closed) return;
    try {
      this.step(list ?? this.core.routes.backends(this.service));
    } catch (err) {
      // runs from timers too: never let a failing route source escape as an uncaught error
      this.core.log.warn({ err, service: this.service }, 'proxy: retry step failed');
      if (!this.done) this.fail(err as Error, true);
    }
  }

  private step(backends: readonly Backend[]): void {
    const core = this.core;
    if (this.deadline !== 0 && Date.now() >= this.deadline) {
      this.giveUp(backends.length > 0);
      return;
    }
    const backend = core.pick(this.service, backends, this.tried);
    if (backend !== null) {
      this.dispatch(backend);
      return;
    }
    // Nothing left to try right now: wait for the route table (or a backend) to come back.
    const now = Date.now();
    if (this.deadline === 0) this.deadline = now + core.retryWindowMs;
    if (now >= this.deadline) {
      this.giveUp(backends.length > 0);
      return;
    }
    if (this.tried !== null) this.tried.length = 0;
    const pause = Math.min(RETRY_PAUSE_MIN_MS << Math.min(this.rounds++, 4), RETRY_PAUSE_MAX_MS, this.deadline - now);
    core.waiting.add(this);
    this.timer = setTimeout(() => {
      this.timer = null;
      core.waiting.delete(this);
      this.next();
    }, pause);
  }

  private dispatch(backend: Backend): void {
    const origin = this.core.originOf(backend);
    this.origin = origin;
    this.backend = backend;
    if (backend.container !== undefined) this.core.containerTries++;
    else this.core.publishedTries++;
    this.sent = false;
    this.controller = null;
    const req = this.req;
    this.core.agent.dispatch(
      {
        origin,
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        headers: this.headers,
        body: this.hasBody ? req : null,
        upgrade: this.socket !== null ? (req.headers.upgrade ?? 'websocket') : null,
      },
      this,
    );
  }

  /** `unreachable`: the table lists backends but none answered (else it lists none) */
  private giveUp(unreachable: boolean): void {
    const core = this.core;
    core.errors++;
    const json = prefersJson(this.req.headers.accept);
    if (!core.routes.hasService(this.service)) {
      this.respondPage(unknownServicePage(this.req.headers.host, core.routes.services(), core.domain, json));
      return;
    }
    if (core.log.isLevelEnabled('debug')) {
      core.log.debug({ service: this.service, unreachable }, 'proxy: no reachable replica, answering 503');
    }
    this.respondPage(noReplicaPage(this.service, json, unreachable));
  }

  private respondPage(page: Page): void {
    this.done = true;
    if (this.res !== null) sendPage(this.res, page);
    else if (this.socket !== null) writeRawPage(this.socket, page);
  }

  clientGone(): void {
    if (this.gone) return;
    this.gone = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.core.waiting.delete(this);
    }
    const c = this.controller;
    if (c !== null && !c.aborted) c.abort(CLIENT_GONE);
  }

  /** proxy closing: stop waiting */
  cancel(): void {
    this.clientGone();
    if (this.res !== null) this.res.destroy();
    else this.socket?.destroy();
  }

  // ---- undici dispatch handler ----

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.sent = true;
    if (this.gone) controller.abort(CLIENT_GONE);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: ResponseHeaders,
  ): void {
    if (statusCode < 200) return; // informational (100/103): not forwarded
    this.responded = true;
    this.core.markUp(this.origin, this.backend);
    const res = this.res;
    if (res !== null) {
      stripResponseHeaders(headers, false);
      try {
        res.writeHead(statusCode, headers as OutgoingHttpHeaders);
      } catch (err) {
        // invalid header from the backend: nothing was sent to the client yet
        this.fail(err as Error, true);
        controller.abort(err as Error);
      }
      return;
    }
    // an Upgrade request that the backend answered without upgrading: relay as is, then close
    const socket = this.socket!;
    stripResponseHeaders(headers, true);
    socket.write(headerBlock(statusLine(statusCode), headers, 'connection: close\r\n'), 'latin1');
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.res;
    if (res !== null) {
      if (!res.write(chunk)) {
        controller.pause();
        res.once('drain', (this.drainHook ??= () => this.controller?.resume()));
      }
    } else if (!this.socket!.write(chunk)) {
      controller.pause();
      this.socket!.once('drain', (this.drainHook ??= () => this.controller?.resume()));
    }
  }

  onResponseEnd(): void {
    if (this.res !== null) this.res.end();
    else this.socket?.end();
  }

  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: ResponseHeaders,
    upstream: Duplex,
  ): void {
    const core = this.core;
    const client = this.socket;
    this.responded = true;
    core.markUp(this.origin, this.backend);
    if (client === null || client.destroyed || this.gone) {
      upstream.destroy();
      return;
    }
    stripResponseHeaders(headers, true);
    client.write(headerBlock(statusLine(statusCode), headers, 'connection: upgrade\r\n'), 'latin1');
    const head = this.head;
    if (head !== null && head.length > 0) upstream.write(head);
    core.sockets.add(upstream);
    let closed = false;
    const teardown = () => {
      if (closed) return;
      closed = true;
      core.sockets.delete(client);
      core.sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', teardown).on('close', teardown);
    upstream.on('error', teardown).on('close', teardown);
    (upstream as Partial<Socket>).setNoDelay?.(true);
    upstream.pipe(client);
    client.pipe(upstream);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.gone || this.done) return;
    const core = this.core;
    if (this.responded) {
      // the response (or tunnel) had started: the client can only see a cut
      core.errors++;
      if (core.log.isLevelEnabled('debug')) {
        core.log.debug({ service: this.service, backend: this.origin, err: err.message }, 'proxy: backend response failed');
      }
      if (this.res !== null) this.res.destroy();
      else this.socket?.destroy();
      return;
    }
    const code = (err as { code?: string }).code;
    if (code !== undefined && INVALID_REQUEST_CODES.has(code)) {
      this.fail(err, false);
      return;
    }
    if (core.closed) return;
    // Retry unless a part of the request that cannot be replayed may have reached the backend.
    const retryable = !this.sent || (!this.hasBody && IDEMPOTENT.has(this.req.method ?? ''));
    if (!this.sent) {
      core.markDown(this.origin);
      // a container address never reached from here: the next try re-reads the table (published port)
      const b = this.backend;
      if (b !== null && b.container !== undefined && code !== undefined && UNREACHABLE_CODES.has(code) && !core.answered.has(this.origin)) {
        core.routes.unreachable?.(b);
      }
    }
    if (core.log.isLevelEnabled('debug')) {
      core.log.debug(
        { service: this.service, backend: this.origin, code, err: err.message, sent: this.sent, retry: retryable },
        'proxy: backend try failed',
      );
    }
    if (!retryable) {
      this.fail(err, true);
      return;
    }
    core.retries++;
    if (this.tried === null) this.tried = [this.origin];
    else this.tried.push(this.origin);
    if (this.deadline === 0) this.deadline = Date.now() + core.retryWindowMs;
    // leave undici's error path before dispatching again
    process.nextTick(() => this.next());
  }

  /** answers 502 (backend failure) or 400 (request undici refused) */
  private fail(err: Error, backend: boolean): void {
    const core = this.core;
    core.errors++;
    if (!backend && core.log.isLevelEnabled('debug')) {
      core.log.debug({ service: this.service, err: err.message }, 'proxy: request cannot be forwarded');
    }
    const json = prefersJson(this.req.headers.accept);
    this.respondPage(backend ? badGatewayPage(this.service, json) : badRequestPage(json));
  }
}

/** What the proxy needs apart from where it listens. */
export type ProxyHandlerOptions = Omit<ProxyOptions, 'bind' | 'port'>;

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
  const core = new Core(o);
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
