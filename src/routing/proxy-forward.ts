/**
 * One client request on its way to a backend (see proxy.ts for the failover rules): the
 * undici dispatch handler of each try, the retry loop around the tries, and the tunnel an
 * answered Upgrade becomes.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { forwardHeaders, headerBlock, statusLine, stripResponseHeaders, type ResponseHeaders } from './proxy-headers.ts';
import {
  badGatewayPage,
  badRequestPage,
  noReplicaPage,
  prefersJson,
  sendPage,
  unknownServicePage,
  writeRawPage,
  type Page,
} from './proxy-pages.ts';
import type { ProxyState } from './proxy-state.ts';
import type { Backend } from './proxy-types.ts';
import { monoNow } from '../system/clock.ts';

/** pause between rounds of tries when every known backend has failed */
const RETRY_PAUSE_MIN_MS = 50;
const RETRY_PAUSE_MAX_MS = 250;

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

/**
 * One client request on its way to a backend: the undici dispatch handler for each try,
 * and the retry loop around the tries. Either `res` (plain HTTP) or `socket` (an Upgrade
 * request) is set.
 */
export class Forward implements Dispatcher.DispatchHandler {
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
    private readonly core: ProxyState,
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
    if (this.deadline !== 0 && monoNow() >= this.deadline) {
      this.giveUp(backends.length > 0);
      return;
    }
    const backend = core.pick(this.service, backends, this.tried);
    if (backend !== null) {
      this.dispatch(backend);
      return;
    }
    // Nothing left to try right now: wait for the route table (or a backend) to come back. A
    // service removed meanwhile does not come back: its 404 now (a request in flight while its
    // service was removed waited out the whole window for it)
    if (backends.length === 0 && !core.routes.hasService(this.service)) {
      this.giveUp(false);
      return;
    }
    const now = monoNow();
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
    if (this.deadline === 0) this.deadline = monoNow() + core.retryWindowMs;
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
