import type { Hono } from 'hono';
import { jsonError } from '../errors.ts';

export interface CaDeps {
  /** the cluster CA certificate (PEM); undefined before this node is in a cluster */
  caPem(): Promise<string | undefined>;
}

/**
 * GET /v1/ca: the cluster CA's certificate, for browsers and phones to trust (HTTPS to services).
 * Public: a certificate is no secret (its key stays in etcd). `?format=json` → `{ caPem }`.
 */
export function caRoutes(app: Hono, deps: CaDeps): void {
  app.get('/v1/ca', async (c) => {
    const pem = await deps.caPem();
    if (!pem) return jsonError(c, 503, 'no_cluster', 'this node is not in a cluster yet: it has no CA');
    if (c.req.query('format') === 'json') return c.json({ caPem: pem });
    return c.body(pem, 200, { 'content-type': 'application/x-pem-file', 'content-disposition': 'attachment; filename="warren-ca.crt"' });
  });
}
