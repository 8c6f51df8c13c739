import type { Hono, MiddlewareHandler } from 'hono';
import { UserError } from '../../core/errors.ts';
import type { VolumeView } from '../../core/volumes/volume-view.ts';
import { requireAdmin } from '../auth.ts';
import { volumeOpsRoutes, type VolumeOpsRouteDeps } from './volume-ops.ts';
import { volumeSyncRoutes, type VolumeSyncDeps } from './volume-sync.ts';

export interface VolumeRouteDeps {
  list(): VolumeView[];
  /** the view, with the volume's policy (`warren volume inspect`) */
  get(name: string): VolumeView;
  /** `GET /v1/volumes/:name/policy`: the effective snapshot interval and retention, which fields are defaults */
  policy(name: string): unknown;
  /** `PUT /v1/volumes/:name/policy` (checked by core/volumes/volume-policy.ts: 400 naming the bad field) */
  setPolicy(name: string, body: unknown): Promise<unknown>;
  /** `warren volume rm` (409 while a service uses it) */
  remove(name: string): Promise<unknown>;
  snapshots(name: string): Promise<unknown[]>;
  /** this node's own list (what another node's `snapshots` asks the owner for) */
  localSnapshots(name: string): unknown[];
  /** the owner's pushes of the volume under way: peer, snapshot, bytes sent of the bytes asked for */
  transfers(name: string): Promise<unknown[]>;
  /** this node's own (what another node's `transfers` asks the owner for) */
  localTransfers(name: string): unknown[];
  snapshot(name: string, wait: boolean): Promise<unknown>;
  /** on the owner: a snapshot now (what another node's `snapshot` asks for) */
  snapshotHere(name: string, wait: boolean): Promise<unknown>;
  sync: Omit<VolumeSyncDeps, 'auth' | 'adminToken'>;
  /** `POST /v1/volume-scrub`: this node's chunk store re-hashed now, bad chunks fetched again from peers */
  scrub(): Promise<unknown>;
  /** restore, clone, export, import (src/http/routes/volume-ops.ts) */
  ops?: VolumeOpsRouteDeps;
  /** admitted members only (src/http/node-auth.ts): JSON bodies signed, chunk streams not */
  member: { json: MiddlewareHandler; stream: MiddlewareHandler };
}

export interface VolumeDeps {
  adminToken: string;
  volumes?: VolumeRouteDeps;
}

async function waitFlag(c: { req: { text(): Promise<string> } }): Promise<boolean> {
  const text = await c.req.text();
  if (!text) return true;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new UserError('bad_request', 'the body must be JSON such as {"wait": false}', 400);
  }
  const wait = (body as { wait?: unknown } | null)?.wait;
  if (wait !== undefined && typeof wait !== 'boolean') throw new UserError('bad_request', 'wait must be true or false', 400);
  return wait !== false;
}

async function policyBody(c: { req: { text(): Promise<string> } }): Promise<unknown> {
  try {
    return JSON.parse(await c.req.text()) as unknown;
  } catch {
    throw new UserError('bad_request', 'the body must be JSON such as {"intervalMs": 30000, "retention": {"daily": 7}} ({} or {"reset": true}: every default)', 400);
  }
}

/** `GET /v1/volumes...` (README "Volumes"), and the member-only routes replication uses. */
export function volumeRoutes(app: Hono, deps: VolumeDeps): void {
  const v = deps.volumes;
  if (!v) return;
  app.get('/v1/volumes', (c) => c.json({ volumes: v.list() }));
  app.get('/v1/volumes/:name', (c) => c.json({ volume: v.get(c.req.param('name')) }));
  app.delete('/v1/volumes/:name', requireAdmin(deps.adminToken), async (c) => c.json(await v.remove(c.req.param('name'))));
  app.get('/v1/volumes/:name/policy', (c) => c.json(v.policy(c.req.param('name'))));
  app.put('/v1/volumes/:name/policy', requireAdmin(deps.adminToken), async (c) => c.json(await v.setPolicy(c.req.param('name'), await policyBody(c))));
  app.get('/v1/volumes/:name/snapshots', async (c) => c.json({ snapshots: await v.snapshots(c.req.param('name')) }));
  app.post('/v1/volumes/:name/snapshots', requireAdmin(deps.adminToken), async (c) => c.json(await v.snapshot(c.req.param('name'), await waitFlag(c))));
  app.get('/v1/volume-sync/:volume/snapshots', v.member.stream, (c) => c.json({ snapshots: v.localSnapshots(c.req.param('volume')) }));
  app.get('/v1/volumes/:name/transfers', async (c) => c.json({ transfers: await v.transfers(c.req.param('name')) }));
  app.get('/v1/volume-sync/:volume/transfers', v.member.stream, (c) => c.json({ transfers: v.localTransfers(c.req.param('volume')) }));
  app.post('/v1/volume-sync/:volume/snapshot', v.member.json, async (c) => c.json(await v.snapshotHere(c.req.param('volume'), await waitFlag(c))));
  app.post('/v1/volume-scrub', requireAdmin(deps.adminToken), async (c) => c.json(await v.scrub()));
  volumeSyncRoutes(app, { ...v.sync, auth: v.member });
  if (v.ops) volumeOpsRoutes(app, { adminToken: deps.adminToken, ops: v.ops, member: v.member });
}
