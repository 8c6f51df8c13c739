import type { Context, MiddlewareHandler } from 'hono';
import { isSafeMethod, looksLikeApiToken, scopeAllows, type ApiTokenAuth, type TokenVerdict } from '../core/api-tokens.ts';
import { jsonError } from './errors.ts';

declare module 'hono' {
  interface ContextVariableMap {
    /** set by apiTokenAuth when the request carries a valid API token */
    apiToken?: ApiTokenAuth;
  }
}

export interface ApiTokenAuthDeps {
  verifyToken(token: string): Promise<TokenVerdict>;
}

function bearerOf(c: Context): string {
  return (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '').trim();
}

export function insufficientScope(c: Context, what: string) {
  return jsonError(c, 403, 'insufficient_scope', `this API token is read-only: it can look, not ${what} (warren token create without --read-only makes one that can)`);
}

/**
 * In front of every route (before the Host/Origin guard, which lets a valid token through as it
 * lets the admin token): a bearer that looks like an API token is judged as one. Unknown, expired
 * or revoked is a 401 even on routes that need no token, so a script learns at once that its
 * token is dead; a read-only token is refused any write here, whatever the route.
 */
export function apiTokenAuth(deps: ApiTokenAuthDeps): MiddlewareHandler {
  return async (c, next) => {
    const bearer = bearerOf(c);
    if (!looksLikeApiToken(bearer)) return next();
    const verdict = await deps.verifyToken(bearer);
    if (!verdict.ok) return jsonError(c, 401, verdict.code, verdict.message);
    if (verdict.scope === 'read' && !isSafeMethod(c.req.method)) return insufficientScope(c, 'change anything');
    c.set('apiToken', { id: verdict.id, scope: verdict.scope });
    await next();
  };
}

/** For requireAdmin: whether the request's API token may use an admin route (undefined: no token). */
export function apiTokenAdmits(c: Context): boolean | undefined {
  const t = c.get('apiToken');
  return t === undefined ? undefined : scopeAllows(t.scope, c.req.method, 'admin');
}
