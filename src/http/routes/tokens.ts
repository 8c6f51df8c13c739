import type { Hono, MiddlewareHandler } from 'hono';
import { checkTokenName, parseDuration, type TokenScope, type TokenView } from '../../core/api-tokens.ts';
import { UserError } from '../../core/errors.ts';
import { requireAdmin } from '../auth.ts';
import { jsonError } from '../errors.ts';
import type { ApiTokenAuthDeps } from '../api-token-auth.ts';

export interface TokenDeps extends ApiTokenAuthDeps {
  adminToken: string;
  createToken(opts: { name: string; scope: TokenScope; expiresInMs?: number }): Promise<{ token: string; view: TokenView }>;
  listTokens(): Promise<TokenView[]>;
  revokeToken(id: string): Promise<TokenView>;
}

/** Tokens are the admin token's business only: neither a token nor a UI session can mint or keep others. */
const adminTokenOnly: MiddlewareHandler = async (c, next) => {
  if (c.get('apiToken') || c.get('uiSession')) return jsonError(c, 403, 'admin_token_only', "API tokens are managed with a node's admin token: run warren token on a member, without WARREN_TOKEN set (the CLI then sends the data dir's admin token)");
  await next();
};

function parseCreate(body: unknown): { name: string; scope: TokenScope; expiresInMs?: number } {
  const b = (body && typeof body === 'object' && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !['name', 'readOnly', 'expires'].includes(k));
  if (unknown.length > 0) throw new UserError('invalid_token_request', `unknown field "${unknown[0]}" (expected name, readOnly, expires)`);
  if (b.name !== undefined && typeof b.name !== 'string') throw new UserError('invalid_token_request', '"name" is a string');
  if (b.readOnly !== undefined && typeof b.readOnly !== 'boolean') throw new UserError('invalid_token_request', '"readOnly" is true or false');
  if (b.expires !== undefined && typeof b.expires !== 'string') throw new UserError('invalid_token_request', '"expires" is a duration such as "30d"');
  const name = (b.name as string | undefined) ?? 'api';
  const bad = checkTokenName(name);
  if (bad) throw new UserError('invalid_token_request', bad);
  const out: { name: string; scope: TokenScope; expiresInMs?: number } = { name, scope: b.readOnly === true ? 'read' : 'admin' };
  if (b.expires !== undefined) {
    const d = parseDuration(b.expires as string);
    if (!d.ok) throw new UserError('invalid_token_request', `expires: ${d.message}`);
    out.expiresInMs = d.ms;
  }
  return out;
}

/** POST /v1/tokens, GET /v1/tokens, DELETE /v1/tokens/:id (the node's admin token only). */
export function tokenRoutes(app: Hono, deps: TokenDeps): void {
  const admin = [adminTokenOnly, requireAdmin(deps.adminToken)] as const;

  app.post('/v1/tokens', ...admin, async (c) => {
    const opts = parseCreate(await c.req.json().catch(() => undefined));
    const { token, view } = await deps.createToken(opts);
    return c.json({ token, info: view }, 201);
  });

  app.get('/v1/tokens', ...admin, async (c) => c.json({ tokens: await deps.listTokens() }));

  app.delete('/v1/tokens/:id', ...admin, async (c) => {
    const id = c.req.param('id');
    if (!/^[A-Za-z0-9]{1,32}$/.test(id)) throw new UserError('not_found', `there is no API token "${id.slice(0, 40)}" (see warren token ls)`, 404);
    return c.json({ revoked: await deps.revokeToken(id) });
  });
}

/** The deps above from a token store (consensus/api-tokens.ts ApiTokens). */
export function tokenDeps(store: {
  create: TokenDeps['createToken'];
  list: TokenDeps['listTokens'];
  revoke: TokenDeps['revokeToken'];
  verify: TokenDeps['verifyToken'];
}): Omit<TokenDeps, 'adminToken'> {
  return {
    createToken: (opts) => store.create(opts),
    listTokens: () => store.list(),
    revokeToken: (id) => store.revoke(id),
    verifyToken: (token) => store.verify(token),
  };
}
