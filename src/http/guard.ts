import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { UiSessions } from '../consensus/ui-sessions.ts';
import { hostAllowed, isSessionToken, originAllowed } from '../core/ui-auth.ts';
import { jsonError } from './errors.ts';

export interface GuardDeps {
  adminToken: string;
  /** names (not IPs) this node answers to: its node name, NAME.<domain> */
  hostNames(): string[];
  /** every member's API base URL, this node's included */
  memberApis(): string[];
  uiSessions: UiSessions;
}

declare module 'hono' {
  interface ContextVariableMap {
    /** the origins this response's CSP lets the page connect to (the page is told them too) */
    connectOrigins?: string;
  }
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
/**
 * What machines ask each other (signed, or telling nothing a rebinding page could use): a joiner
 * may reach a member by a name only it knows (`--join pi.lan`), so these skip the Host check.
 */
const NODE_PROTOCOL = new Set(['/v1/join', '/v1/admit', '/v1/p2p', '/v1/probe', '/v1/health']);

function isAdminToken(header: string | undefined, token: string): boolean {
  const given = Buffer.from((header ?? '').replace(/^Bearer\s+/i, ''));
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function origins(apis: string[]): string {
  const out = new Set<string>();
  for (const api of apis) {
    try {
      out.add(new URL(api).origin);
    } catch {
      // not a URL: not an origin either
    }
  }
  return [...out].join(' ');
}

/**
 * No inline script, no eval, nothing from outside the cluster; the page may talk to every member
 * (it carries on through another node when its own dies).
 */
function securityHeaders(c: Context, apis: string[]): void {
  c.header('content-security-policy', `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ${c.get('connectOrigins') ?? origins(apis)}; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
  c.header('x-content-type-options', 'nosniff');
  c.header('x-frame-options', 'DENY');
  c.header('referrer-policy', 'no-referrer');
}

/**
 * Outermost: the security headers go on every answer, those of the API-token check (which runs
 * before the guard) and the guard's own refusals included.
 */
export function securityHeadersOnEveryAnswer(deps: Pick<GuardDeps, 'memberApis'>): MiddlewareHandler {
  return async (c, next) => {
    await next();
    // the guard computed the member origins already, unless an earlier refusal came first
    securityHeaders(c, c.get('connectOrigins') === undefined ? deps.memberApis() : []);
  };
}

/**
 * In front of every route: refuses an unknown Host (DNS rebinding) or a foreign Origin, answers
 * CORS preflights for the other members' pages, makes browser writes JSON-only, and turns a
 * web UI session token into `uiSession` (requireAdmin reads it).
 */
export function guard(deps: GuardDeps): MiddlewareHandler {
  return async (c, next) => {
    const apis = deps.memberApis();
    // computed once: the page (GET /) names the same origins as its policy
    c.set('connectOrigins', origins(apis));
    const host = c.req.header('host');
    const origin = c.req.header('origin');
    // a rebinding page never holds the admin token or an API token (verified before this guard):
    // the CLI may use any name for the node
    if (!hostAllowed(host, deps.hostNames()) && !NODE_PROTOCOL.has(c.req.path) && !c.get('apiToken') && !isAdminToken(c.req.header('authorization'), deps.adminToken)) {
      return jsonError(c, 403, 'unknown_host', `this agent does not answer to the host name "${host ?? ''}" (a guard against DNS rebinding): use its IP address or node name`);
    }
    if (!originAllowed(origin, host, apis)) {
      return jsonError(c, 403, 'bad_origin', `requests from ${origin} are refused: only pages served by this cluster's members may call its API`);
    }
    if (origin) {
      c.header('access-control-allow-origin', origin);
      c.header('vary', 'Origin');
      if (c.req.method === 'OPTIONS') {
        c.header('access-control-allow-methods', 'GET, POST, PATCH, PUT, DELETE');
        c.header('access-control-allow-headers', 'authorization, content-type, accept, last-event-id');
        c.header('access-control-max-age', '600');
        return c.body(null, 204);
      }
    }
    // a browser (it sends Origin on every write) may only write JSON: no form can post here
    const hasBody = Number(c.req.header('content-length') ?? 0) > 0 || c.req.header('transfer-encoding') !== undefined;
    if (origin && !SAFE.has(c.req.method) && hasBody && !/^application\/json\b/i.test(c.req.header('content-type') ?? '')) {
      return jsonError(c, 415, 'json_only', 'writes take a JSON body (Content-Type: application/json)');
    }
    const bearer = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
    if (isSessionToken(bearer)) {
      const session = await deps.uiSessions.verify(bearer);
      if (!session) {
        return jsonError(c, 401, 'session_invalid', 'this session is unknown, expired or revoked: run "warren ui" for a new login link');
      }
      c.set('uiSession', session);
    }
    await next();
  };
}
