import { Readable } from 'node:stream';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { UserError } from '../../core/errors.ts';
import { requireAdmin } from '../auth.ts';

/** An export: the snapshot it is of and the tar stream. */
export interface VolumeExport {
  snapshot: string;
  sizeBytes: number;
  body: Readable;
}

export interface VolumeOpsRouteDeps {
  /** from any node: carried out on the volume's owner */
  restore(name: string, snapshot: string): Promise<unknown>;
  /** on this node, the owner (what another node's `restore` asks for) */
  restoreHere(name: string, snapshot: string): Promise<unknown>;
  clone(name: string, snapshot: string | undefined, to: string): Promise<unknown>;
  cloneHere(name: string, snapshot: string | undefined, to: string): Promise<unknown>;
  export(name: string, snapshot: string | undefined): Promise<VolumeExport>;
  exportHere(name: string, snapshot: string | undefined): VolumeExport;
  importTar(name: string, body: Readable, announcedBytes?: number): Promise<unknown>;
  /** a Docker volume of this node's engine, as a new volume */
  importDocker(name: string, dockerVolume: unknown): Promise<unknown>;
  /** on the owner, asked by the node the replica moved to: stop it, send that node a last snapshot */
  handoverHere(name: string, to: string): Promise<unknown>;
}

const SNAPSHOT_ID = /^[0-9a-z-]{1,64}$/;

async function jsonObject(c: Context, example: string): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    throw new UserError('bad_request', `the body must be JSON such as ${example}`, 400);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new UserError('bad_request', `the body must be a JSON object such as ${example}`, 400);
  return body as Record<string, unknown>;
}

function snapshotId(value: unknown, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || !SNAPSHOT_ID.test(value)) throw new UserError('bad_request', 'snapshot must be a snapshot id such as 000012-1a2b3c4d (see warren volume snapshots NAME)', 400);
  return value;
}

async function restoreBody(c: Context): Promise<string> {
  return snapshotId((await jsonObject(c, '{"snapshot": "000012-1a2b3c4d"}')).snapshot, true)!;
}

async function cloneBody(c: Context): Promise<{ to: string; snapshot: string | undefined }> {
  const b = await jsonObject(c, '{"name": "web2_data", "snapshot": "000012-1a2b3c4d"}');
  if (typeof b.name !== 'string' || b.name === '') throw new UserError('bad_request', 'name (the new volume\'s name) must be a string', 400);
  return { to: b.name, snapshot: snapshotId(b.snapshot, false) };
}

const tarAnswer = (c: Context, x: VolumeExport) => c.body(Readable.toWeb(x.body) as ReadableStream<Uint8Array>, 200, {
  'content-type': 'application/x-tar',
  'cache-control': 'no-store',
  'x-warren-snapshot': x.snapshot,
  'x-warren-size': String(x.sizeBytes),
});

/**
 * `POST /v1/volumes/:name/restore|clone|import-docker`, `GET .../export`, `PUT .../import` (admin token: an
 * export is every byte of the volume), and the member-only routes through which the node that
 * received one has it carried out where the data is.
 */
export function volumeOpsRoutes(app: Hono, deps: { adminToken: string; ops: VolumeOpsRouteDeps; member: { json: MiddlewareHandler; stream: MiddlewareHandler } }): void {
  const { ops, member } = deps;
  const admin = requireAdmin(deps.adminToken);
  app.post('/v1/volumes/:name/restore', admin, async (c) => c.json(await ops.restore(c.req.param('name'), await restoreBody(c))));
  app.post('/v1/volumes/:name/clone', admin, async (c) => {
    const { to, snapshot } = await cloneBody(c);
    return c.json(await ops.clone(c.req.param('name'), snapshot, to), 201);
  });
  app.get('/v1/volumes/:name/export', admin, async (c) => tarAnswer(c, await ops.export(c.req.param('name'), snapshotId(c.req.query('snapshot'), false))));
  app.put('/v1/volumes/:name/import', admin, async (c) => {
    const body = c.req.raw.body;
    if (!body) throw new UserError('bad_request', 'the body must be a tar (warren volume import NAME < x.tar)', 400);
    // the CLI announces a file's size (its body is streamed without a length)
    const length = Number(c.req.header('x-warren-size') ?? c.req.header('content-length'));
    const announced = Number.isSafeInteger(length) && length > 0 ? length : undefined;
    return c.json(await ops.importTar(c.req.param('name'), Readable.fromWeb(body as never), announced), 201);
  });
  app.post('/v1/volumes/:name/import-docker', admin, async (c) => {
    const { dockerVolume } = await jsonObject(c, '{"dockerVolume": "myapp_data"}');
    return c.json(await ops.importDocker(c.req.param('name'), dockerVolume), 201);
  });
  app.post('/v1/volume-sync/:volume/restore', member.json, async (c) => c.json(await ops.restoreHere(c.req.param('volume'), await restoreBody(c))));
  app.post('/v1/volume-sync/:volume/clone', member.json, async (c) => {
    const { to, snapshot } = await cloneBody(c);
    return c.json(await ops.cloneHere(c.req.param('volume'), snapshot, to), 201);
  });
  app.post('/v1/volume-sync/:volume/handover', member.json, async (c) => {
    const to = (await jsonObject(c, '{"to": "NODE-ID"}')).to;
    if (typeof to !== 'string' || to === '') throw new UserError('bad_request', 'to must be a node id', 400);
    return c.json(await ops.handoverHere(c.req.param('volume'), to));
  });
  app.get('/v1/volume-sync/:volume/export', member.stream, (c) => tarAnswer(c, ops.exportHere(c.req.param('volume'), snapshotId(c.req.query('snapshot'), false))));
}
