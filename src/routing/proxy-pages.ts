/**
 * The few pages Warren's reverse proxy answers by itself (no replica, unknown service,
 * bad gateway), each as readable HTML or as JSON when the client prefers JSON.
 * Kept apart from proxy.ts so the hot path there stays small.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { statusLine } from './proxy-headers.ts';

export interface Page {
  status: number;
  contentType: string;
  body: Buffer;
  /** extra response headers (e.g. retry-after) */
  headers?: Record<string, string>;
}

export type PageCode = 'no_replica' | 'replica_unreachable' | 'unknown_service' | 'bad_gateway' | 'bad_request';

const HTML = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/**
 * Whether an Accept header prefers JSON over HTML: JSON (application/json or any +json type)
 * must have a higher q than text/html, or the same q and come first. No Accept, `*\/*`
 * and browsers' usual header give HTML.
 */
export function prefersJson(accept: string | undefined): boolean {
  if (!accept || !accept.includes('json')) return false;
  let jsonQ = -1;
  let htmlQ = -1;
  let jsonAt = -1;
  let htmlAt = -1;
  const parts = accept.split(',');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const semi = part.indexOf(';');
    const type = (semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase();
    let q = 1;
    if (semi >= 0) {
      for (const param of part.slice(semi + 1).split(';')) {
        const p = param.trim();
        if (p.startsWith('q=')) {
          const n = Number(p.slice(2));
          q = Number.isFinite(n) ? n : 0;
        }
      }
    }
    if (type === 'application/json' || type.endsWith('+json')) {
      if (q > jsonQ) {
        jsonQ = q;
        jsonAt = i;
      }
    } else if (type === 'text/html' || type === 'application/xhtml+xml') {
      if (q > htmlQ) {
        htmlQ = q;
        htmlAt = i;
      }
    }
  }
  if (jsonQ <= 0) return false;
  if (jsonQ !== htmlQ) return jsonQ > htmlQ;
  return jsonAt < htmlAt;
}

function htmlDoc(title: string, bodyHtml: string, refreshSeconds?: number): Buffer {
  const refresh = refreshSeconds ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : '';
  return Buffer.from(
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222;line-height:1.5}
h1{font-size:1.4rem}code{background:#f2f2f2;padding:0 .25rem;border-radius:3px}small{color:#777}ul{padding-left:1.2rem}</style>
</head><body>
${bodyHtml}
<p><small>Warren reverse proxy</small></p>
</body></html>
`,
    'utf8',
  );
}

function jsonBody(code: PageCode, message: string, extra?: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ error: { code, message, ...extra } }), 'utf8');
}

/** 503 for a service that exists but has no running (or no reachable) replica right now. */
export function noReplicaPage(service: string, json: boolean, unreachable = false): Page {
  const message = unreachable
    ? `${service} has replicas but none answered; Warren is moving it to a working node`
    : `${service} has no running replica right now; Warren is starting one`;
  const code: PageCode = unreachable ? 'replica_unreachable' : 'no_replica';
  const headers = { 'retry-after': '5' };
  if (json) return { status: 503, contentType: JSON_TYPE, body: jsonBody(code, message, { service }), headers };
  const body = htmlDoc(
    `${service} is starting`,
    `<h1>${escapeHtml(service)} is not available yet</h1>
<p>${escapeHtml(message)}.</p>
<p>This page reloads by itself in a few seconds.</p>`,
    5,
  );
  return { status: 503, contentType: HTML, body, headers };
}

/**
 * 404 for a Host that names no service: lists the services, each linked as
 * `http://<svc>.<domain><port>/` (port kept from the request's Host when it had one).
 */
export function unknownServicePage(
  host: string | undefined,
  services: readonly string[],
  domain: string,
  json: boolean,
): Page {
  const port = hostPort(host);
  const sorted = [...services].sort();
  const url = (svc: string) => `http://${svc}.${domain}${port}/`;
  const what = host ? `No service answers to ${host}` : 'The request named no host';
  if (json) {
    const body = jsonBody('unknown_service', what, {
      services: sorted.map((name) => ({ name, url: url(name) })),
    });
    return { status: 404, contentType: JSON_TYPE, body };
  }
  const list = sorted.length
    ? `<p>Services in this cluster:</p>\n<ul>\n${sorted
        .map((s) => `<li><a href="${escapeHtml(url(s))}">${escapeHtml(s)}</a></li>`)
        .join('\n')}\n</ul>`
    : '<p>This cluster runs no services yet.</p>';
  const body = htmlDoc(
    'Unknown service',
    `<h1>${escapeHtml(what)}</h1>
<p>Warren routes <code>&lt;service&gt;.${escapeHtml(domain)}</code> (or the short name alone) to that service.</p>
${list}`,
  );
  return { status: 404, contentType: HTML, body };
}

/** 502 when a backend failed in a way that cannot be retried (the request was already sent). */
export function badGatewayPage(service: string, json: boolean): Page {
  const message = `${service} failed while answering this request`;
  if (json) return { status: 502, contentType: JSON_TYPE, body: jsonBody('bad_gateway', message, { service }) };
  return {
    status: 502,
    contentType: HTML,
    body: htmlDoc('Bad gateway', `<h1>Bad gateway</h1>\n<p>${escapeHtml(message)}.</p>`),
  };
}

/** 400 for a request the proxy cannot forward (e.g. malformed headers). */
export function badRequestPage(json: boolean): Page {
  const message = 'this request cannot be forwarded';
  if (json) return { status: 400, contentType: JSON_TYPE, body: jsonBody('bad_request', message) };
  return {
    status: 400,
    contentType: HTML,
    body: htmlDoc('Bad request', `<h1>Bad request</h1>\n<p>${escapeHtml(message)}.</p>`),
  };
}

/** ":port" of a Host header when it carries one other than 80, else "". */
function hostPort(host: string | undefined): string {
  if (!host) return '';
  const close = host.lastIndexOf(']');
  const colon = host.lastIndexOf(':');
  if (colon <= close) return '';
  const port = host.slice(colon + 1);
  return /^\d+$/.test(port) && port !== '80' ? `:${port}` : '';
}

/** Writes a page on an Upgrade request's bare socket, then closes it. */
export function writeRawPage(socket: Duplex, page: Page): void {
  if (socket.destroyed) return;
  let head = statusLine(page.status);
  head += `content-type: ${page.contentType}\r\ncontent-length: ${page.body.length}\r\ncache-control: no-store\r\n`;
  if (page.headers) for (const k in page.headers) head += `${k}: ${page.headers[k]}\r\n`;
  head += 'connection: close\r\n\r\n';
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), page.body]));
}

export function sendPage(res: ServerResponse, page: Page): void {
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
