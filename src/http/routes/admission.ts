import type { Hono } from 'hono';
import { requireAdmin } from '../auth.ts';

export interface AdmissionDeps {
  adminToken: string;
  handleJoin(body: unknown, remote: string | undefined): Promise<unknown>;
  handleAdmit(body: unknown): Promise<unknown>;
  approve(node: string): Promise<unknown>;
  joinToken(): Promise<string>;
  admissionView(): Promise<unknown>;
  /** warren recover: rebuild etcd from this node's data (refused while the quorum is healthy) */
  recover(): Promise<unknown>;
}

/** The admission protocol's HTTP side (DESIGN.md "Joining"). */
export function admissionRoutes(app: Hono, deps: AdmissionDeps): void {
  app.post('/v1/join', async (c) => {
    const body = await c.req.json().catch(() => undefined);
    const remote = (c.env as { incoming?: { socket?: { remoteAddress?: string; remotePort?: number } } } | undefined)?.incoming?.socket;
    return c.json(await deps.handleJoin(body, remote?.remoteAddress ? `${remote.remoteAddress}:${remote.remotePort}` : undefined), 202);
  });
  app.post('/v1/admit', async (c) => c.json(await deps.handleAdmit(await c.req.json().catch(() => undefined))));
  app.get('/v1/admission', async (c) => c.json(await deps.admissionView()));
  app.post('/v1/admission/:node/approve', requireAdmin(deps.adminToken), async (c) => c.json({ approved: await deps.approve(c.req.param('node')) }));
  app.post('/v1/recover', requireAdmin(deps.adminToken), async (c) => c.json({ recovered: await deps.recover() }));
  app.get('/v1/join-token', requireAdmin(deps.adminToken), async (c) => c.json({ token: await deps.joinToken() }));
}
