/**
 * Header rewriting for proxied exchanges: hop-by-hop headers dropped both ways, the
 * X-Forwarded-* headers set, and raw HTTP/1.1 response heads for Upgrade requests (which
 * node's server hands over as a bare socket).
 */
import http from 'node:http';
import type { IncomingMessage } from 'node:http';

function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * Request headers for the backend, from the raw client headers: hop-by-hop headers dropped
 * (undici writes its own connection/upgrade and framing), X-Forwarded-For appended,
 * X-Forwarded-Proto / -Host kept when a front proxy set them, else set.
 */
export function forwardHeaders(req: IncomingMessage): string[] {
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

export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** Drops hop-by-hop response headers (node's server does its own framing), in place. */
export function stripResponseHeaders(h: ResponseHeaders, keepUpgrade: boolean): void {
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

export function headerBlock(statusLine: string, h: ResponseHeaders, extra: string): string {
  let s = statusLine;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) s += `${k}: ${x}\r\n`;
    else s += `${k}: ${v}\r\n`;
  }
  return s + extra + '\r\n';
}

export function statusLine(code: number): string {
  return `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? 'Unknown'}\r\n`;
}
