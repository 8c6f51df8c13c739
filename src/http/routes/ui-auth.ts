import type { Hono, MiddlewareHandler } from 'hono';
import type { UiSessions } from '../../consensus/ui-sessions.ts';
import { UserError } from '../../core/errors.ts';
import { requireAdmin } from '../auth.ts';
import { jsonError } from '../errors.ts';

export interface UiAuthDeps {
  adminToken: string;
  apiUrl: string;
  uiSessions: UiSessions;
}

async function body(c: { req: { json(): Promise<unknown> } }): Promise<Record<string, unknown>> {
  const b = await c.req.json().catch(() => undefined);
  return b && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

/**
 * Logins and sessions are the admin token's business only: a session cannot mint another, nor
 * can an API token mint a session that would outlive its revocation.
 */
const tokenOnly: MiddlewareHandler = async (c, next) => {
  if (c.get('uiSession') || c.get('apiToken')) return jsonError(c, 403, 'admin_token_only', 'login links and sessions are managed with the admin token (warren ui on a member)');
  await next();
};

/** POST /v1/ui/tickets, POST /v1/ui/login, POST /v1/ui/move, GET /v1/ui/session, GET|DELETE /v1/ui/sessions[/:id]. */
export function uiAuthRoutes(app: Hono, deps: UiAuthDeps): void {
  const admin = [tokenOnly, requireAdmin(deps.adminToken)] as const;

  app.post('/v1/ui/tickets', ...admin, async (c) => {
    const readOnly = (await body(c)).readOnly === true;
    const { ticket, expiresAt } = await deps.uiSessions.createTicket(readOnly);
    // in the fragment: browsers never send it, so no server or proxy logs it
    return c.json({ url: `${deps.apiUrl}/#ticket=${ticket}`, expiresAt, readOnly }, 201);
  });

  app.post('/v1/ui/login', async (c) => {
    const ticket = (await body(c)).ticket;
    if (typeof ticket !== 'string' || ticket.length > 200) throw new UserError('bad_request', 'expected { "ticket": "<from the login link>" }', 400);
    const { token, session } = await deps.uiSessions.redeem(ticket, deps.apiUrl);
    const { hash: _hash, ...shown } = session;
    return c.json({ token, session: shown }, 201);
  });

  // a page whose policy cannot reach a member (it joined after the page's own node died) moves
  // to the page of the node it talks to now: its session goes with it, once (ui-sessions.ts)
  app.post('/v1/ui/move', async (c) => {
    const session = c.get('uiSession');
    if (!session) return jsonError(c, 401, 'no_session', 'only a web UI session moves to another node (Authorization: Bearer <session token>)');
    const { ticket, expiresAt } = await deps.uiSessions.moveTicket(session);
    return c.json({ url: `${deps.apiUrl}/#ticket=${ticket}`, expiresAt }, 201);
  });

  app.get('/v1/ui/session', (c) => {
    const session = c.get('uiSession');
    if (!session) return jsonError(c, 401, 'no_session', 'no web UI session (Authorization: Bearer <session token>)');
    return c.json({ session });
  });

  app.post('/v1/ui/logout', async (c) => {
    const session = c.get('uiSession');
    if (!session) return jsonError(c, 401, 'no_session', 'no web UI session (Authorization: Bearer <session token>)');
    await deps.uiSessions.revoke(session.id);
    return c.json({ revoked: session.id });
  });

  app.get('/v1/ui/sessions', ...admin, async (c) => c.json({ sessions: await deps.uiSessions.list() }));

  app.delete('/v1/ui/sessions/:id', ...admin, async (c) => {
    const id = c.req.param('id');
    if (!(await deps.uiSessions.revoke(id))) throw new UserError('not_found', `there is no session "${id}" (see warren ui --sessions)`, 404);
    return c.json({ revoked: id });
  });
}
