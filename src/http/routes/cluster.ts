import type { Hono } from 'hono';
import { jsonError } from '../errors.ts';
import { requireAdmin } from '../auth.ts';

export interface ClusterDeps {
  adminToken: string;
  p2pInfo(): { id: string; addrs: string[] };
  pingForPeer(target: string, timeoutMs: number): Promise<boolean>;
  leave(): Promise<void>;
  metrics(): string | Promise<string>;
}

/** Node-to-node helpers (discovery, indirect probes), leave, and Prometheus metrics. */
export function clusterRoutes(app: Hono, deps: ClusterDeps): void {
  app.get('/v1/p2p', (c) => c.json(deps.p2pInfo()));

  app.post('/v1/probe', async (c) => {
    const body = (await c.req.json().catch(() => undefined)) as { target?: unknown; timeoutMs?: unknown } | undefined;
    if (!body || typeof body.target !== 'string') return jsonError(c, 400, 'bad_request', 'expected { "target": "<node id>" }');
    const timeoutMs = typeof body.timeoutMs === 'number' ? body.timeoutMs : 500;
    return c.json({ ok: await deps.pingForPeer(body.target, timeoutMs) });
  });

  app.post('/v1/leave', requireAdmin(deps.adminToken), async (c) => {
    // the hand-over may take seconds: the agent answers once it is done, then exits
    await deps.leave();
    return c.json({ left: true });
  });

  app.get('/metrics', async (c) => c.text(await deps.metrics(), 200, { 'content-type': 'text/plain; version=0.0.4' }));
}
