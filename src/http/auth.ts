import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { UiSession } from '../consensus/ui-sessions.ts';
import { apiTokenAdmits, insufficientScope } from './api-token-auth.ts';
import { jsonError } from './errors.ts';

declare module 'hono' {
  interface ContextVariableMap {
    /** set by the guard (src/http/guard.ts) when the request carries a valid web UI session */
    uiSession?: UiSession;
  }
}

/**
 * Mutating calls need the agent's admin token (the CLI reads it from the data dir), or a web UI
 * session that is not read-only (the guard verified it already), or an API token of admin scope
 * (api-token-auth.ts verified it already).
 */
export function requireAdmin(token: string): MiddlewareHandler {
  const expected = Buffer.from(token);
  return async (c, next) => {
    const session = c.get('uiSession');
    if (session) {
      if (session.readOnly) return jsonError(c, 403, 'read_only', 'this session is read-only: it can look, not change (warren ui without --read-only gives one that can)');
      await next();
      return;
    }
    const byToken = apiTokenAdmits(c);
    if (byToken === false) return insufficientScope(c, 'use this admin call');
    if (byToken) {
      await next();
      return;
    }
    const given = Buffer.from((c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return jsonError(c, 401, 'unauthorized', 'this call needs the admin token (Authorization: Bearer <token from the data dir\'s admin-token>) or an API token (warren token create)');
    }
    await next();
  };
}
