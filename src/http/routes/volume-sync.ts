import type { Context, Hono } from 'hono';
import { UserError } from '../../core/errors.ts';
import type { SnapshotReceiver } from '../../volumes/replication.ts';
import type { SnapshotRecord } from '../../volumes/volume-store.ts';
import { requireAdmin } from '../auth.ts';

export interface VolumeSyncDeps {
  adminToken: string;
  receiver: SnapshotReceiver;
}

function parseRecord(body: unknown, volume: string): SnapshotRecord {
  const r = body as SnapshotRecord;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string' || r.volume !== volume || !Array.isArray(r.manifest) ||
    !r.manifest.every((c) => c && typeof c.hash === 'string' && /^[0-9a-f]{64}$/.test(c.hash) && Number.isSafeInteger(c.size))) {
    throw new UserError('bad_request', 'the body must be a snapshot record of this volume', 400);
  }
  return r;
}

/** The JSON body as a record; a body that is no JSON at all is a 400 too (it was a 500). */
async function recordBody(c: Context, volume: string): Promise<SnapshotRecord> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (err) {
    throw new UserError('bad_request', `the body is not valid JSON: ${(err as Error).message}`, 400);
  }
  return parseRecord(body, volume);
}

/**
 * The receiving side of snapshot replication (src/volumes/replication.ts). Every route changes
 * the store, so every one needs the admin token (peers will authenticate as members when the
 * agent mounts these).
 */
export function volumeSyncRoutes(app: Hono, deps: VolumeSyncDeps): void {
  const admin = requireAdmin(deps.adminToken);
  app.post('/v1/volume-sync/:volume/offer', admin, async (c) => c.json(deps.receiver.offer(await recordBody(c, c.req.param('volume')))));
  app.post('/v1/volume-sync/chunks', admin, async (c) => {
    const body = c.req.raw.body;
    if (!body) throw new UserError('bad_request', 'no chunks in the body', 400);
    return c.json(await deps.receiver.receive(body as unknown as AsyncIterable<Uint8Array>));
  });
  app.post('/v1/volume-sync/:volume/commit', admin, async (c) => c.json(await deps.receiver.commit(await recordBody(c, c.req.param('volume')))));
}
