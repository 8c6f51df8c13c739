import type { Hono } from 'hono';
import { requireAdmin } from '../auth.ts';

export interface BackupDeps {
  adminToken: string;
  /** the backup bundle: etcd snapshot and CA, NOT encrypted (the CLI encrypts it) */
  backup(): Promise<Buffer>;
}

/** GET /v1/cluster/backup (admin token): what `warren cluster backup` encrypts into a file. */
export function backupRoutes(app: Hono, deps: BackupDeps): void {
  app.get('/v1/cluster/backup', requireAdmin(deps.adminToken), async (c) => {
    const bundle = await deps.backup();
    return c.body(new Uint8Array(bundle), 200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' });
  });
}
