import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { UserError } from '../../core/errors.ts';
import { MAX_CHUNKS_PER_ASK, type SnapshotReceiver } from '../../volumes/replication.ts';
import type { SnapshotRecord } from '../../volumes/volume-store.ts';
import { requireAdmin } from '../auth.ts';

export interface VolumeSyncDeps {
  /** who may push: the agent mounts these for admitted members (src/http/node-auth.ts); default the admin token */
  auth?: { json: MiddlewareHandler; stream: MiddlewareHandler };
  adminToken?: string;
  receiver: SnapshotReceiver;
  /** the agent's commit: checks the volume's epoch first, records the copy and warms it after */
  commit?: (rec: SnapshotRecord) => Promise<unknown>;
  /** the records of the chunks of these this node holds good (a peer's scrub repairing its own) */
  held?: (hashes: string[]) => AsyncGenerator<Uint8Array>;
}

/** The JSON body; a body that is no JSON at all is a 400 (it was a 500). */
async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch (err) {
    throw new UserError('bad_request', `the body is not valid JSON: ${(err as Error).message}`, 400);
  }
}

async function hashesBody(c: Context): Promise<string[]> {
  const hashes = ((await jsonBody(c)) as { hashes?: unknown } | null)?.hashes;
  if (!Array.isArray(hashes) || hashes.length > MAX_CHUNKS_PER_ASK || !hashes.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) {
    throw new UserError('bad_request', `the body must be {"hashes": [...]}: at most ${MAX_CHUNKS_PER_ASK} SHA-256 hashes in hex`, 400);
  }
  return hashes as string[];
}

function parseRecord(body: unknown, volume: string): SnapshotRecord {
  const r = body as SnapshotRecord;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string' || r.volume !== volume || !Array.isArray(r.manifest) ||
    !r.manifest.every((c) => c && typeof c.hash === 'string' && /^[0-9a-f]{64}$/.test(c.hash) && Number.isSafeInteger(c.size))) {
    throw new UserError('bad_request', 'the body must be a snapshot record of this volume', 400);
  }
  return r;
}

/** The JSON body as a record. */
async function recordBody(c: Context, volume: string): Promise<SnapshotRecord> {
  return parseRecord(await jsonBody(c), volume);
}

/**
 * The receiving side of snapshot replication (src/volumes/replication.ts). Every route changes
 * the store, so every one needs the caller to be a cluster member (or, without `auth`, the admin token).
 */
export function volumeSyncRoutes(app: Hono, deps: VolumeSyncDeps): void {
  const admin = deps.adminToken === undefined ? undefined : requireAdmin(deps.adminToken);
  const json = deps.auth?.json ?? admin;
  const stream = deps.auth?.stream ?? admin;
  if (!json || !stream) throw new Error('volumeSyncRoutes needs auth or an admin token');
  const commit = deps.commit ?? ((rec: SnapshotRecord) => deps.receiver.commit(rec));
  app.post('/v1/volume-sync/:volume/offer', json, async (c) => c.json(deps.receiver.offer(await recordBody(c, c.req.param('volume')))));
  app.post('/v1/volume-sync/chunks', stream, async (c) => {
    // node's own request stream when served by @hono/node-server: its web-stream wrapper copied
    // every piece once more (a receiver's time in a seed)
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const body = incoming && !incoming.readableDidRead ? incoming : c.req.raw.body;
    if (!body) throw new UserError('bad_request', 'no chunks in the body', 400);
    return c.json(await deps.receiver.receive(body as unknown as AsyncIterable<Uint8Array>));
  });
  const held = deps.held;
  if (held) {
    app.post('/v1/volume-sync/chunks/get', json, async (c) => {
      const records = held(await hashesBody(c));
      return c.body(Readable.toWeb(Readable.from(records)) as ReadableStream<Uint8Array>, 200, { 'content-type': 'application/octet-stream' });
    });
  }
  app.post('/v1/volume-sync/:volume/commit', json, async (c) => c.json(await commit(await recordBody(c, c.req.param('volume')))));
}
