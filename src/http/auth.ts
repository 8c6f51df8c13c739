import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { jsonError } from './errors.ts';

/** Mutating calls need the agent's admin token (the CLI reads it from the data dir). */
export function requireAdmin(token: string): MiddlewareHandler {
  const expected = Buffer.from(token);
  return async (c, next) => {
    const given = Buffer.from((c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return jsonError(c, 401, 'unauthorized', 'this call needs the admin token (Authorization: Bearer <token from the data dir\'s admin-token>)');
    }
    await next();
  };
}
