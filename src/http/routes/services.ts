import { Readable } from 'node:stream';
import type { Context, Hono } from 'hono';
import { UserError } from '../../core/errors.ts';
import { parseServiceInput, parseServicePatch, type ServiceInputParsed, type ServicePatch } from '../../core/service-spec.ts';
import type { ServiceView } from '../../core/service-types.ts';
import { requireAdmin } from '../auth.ts';

export interface ServiceDeps {
  adminToken: string;
  listServices(): Promise<ServiceView[]>;
  getService(name: string): Promise<ServiceView | undefined>;
  /** throws UserError('service_exists', ..., 409) when the name is taken */
  createService(spec: ServiceInputParsed): Promise<ServiceView>;
  /** throws UserError('not_found', ..., 404) when there is no such service */
  updateService(name: string, patch: ServicePatch): Promise<ServiceView>;
  /** false: there was no such service */
  removeService(name: string): Promise<boolean>;
  /** the replica's log as text; `signal` aborts when the client goes away */
  serviceLogs(name: string, opts: { follow: boolean; tail: number; replica?: number; local?: boolean }, signal: AbortSignal): Promise<NodeJS.ReadableStream | ReadableStream<Uint8Array>>;
  drainNode(nameOrId: string, drain: boolean): Promise<{ nodeId: string; name: string; draining: boolean }>;
}

/** Largest accepted service body. */
export const MAX_SERVICE_BODY_BYTES = 256 * 1024;
export const DEFAULT_LOG_TAIL = 100;
const MAX_LOG_TAIL = 100_000;

const noService = (name: string) => new UserError('not_found', `there is no service named "${name}" (see warren service ls)`, 404);

/** The request body as JSON; 400 bad_request when it is missing or not JSON. */
async function readJson(c: Context): Promise<unknown> {
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > MAX_SERVICE_BODY_BYTES) throw new UserError('payload_too_large', `the body is ${declared} bytes; at most ${MAX_SERVICE_BODY_BYTES} are accepted`, 413);
  const text = await c.req.text();
  if (text.length > MAX_SERVICE_BODY_BYTES) throw new UserError('payload_too_large', `the body is ${text.length} bytes; at most ${MAX_SERVICE_BODY_BYTES} are accepted`, 413);
  if (text.trim() === '') throw new UserError('bad_request', 'the request needs a JSON body (e.g. {"name": "web", "image": "nginx"})', 400);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError('bad_request', `the body is not valid JSON: ${(err as Error).message}`, 400);
  }
}

function flag(value: string | undefined, what: string): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new UserError('bad_request', `${what} must be 1 or 0, got "${value}"`, 400);
}

function wholeNumber(value: string | undefined, what: string, max: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value) || Number(value) > max) throw new UserError('bad_request', `${what} must be a whole number from 0 to ${max}, got "${value}"`, 400);
  return Number(value);
}

/**
 * A web stream that passes the source's chunks through as they come (no buffering) and aborts
 * `controller` when the client goes away (the response is cancelled) or the source ends.
 */
function passThrough(source: NodeJS.ReadableStream | ReadableStream<Uint8Array>, controller: AbortController): ReadableStream<Uint8Array> {
  const web: ReadableStream<Uint8Array> =
    source instanceof ReadableStream ? source : (Readable.toWeb(source instanceof Readable ? source : Readable.from(source as AsyncIterable<Uint8Array>)) as ReadableStream<Uint8Array>);
  const reader = web.getReader();
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(out) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          out.close();
          controller.abort();
          return;
        }
        out.enqueue(typeof value === 'string' ? encoder.encode(value) : value);
      } catch (err) {
        controller.abort();
        out.error(err);
      }
    },
    async cancel(reason) {
      controller.abort();
      await reader.cancel(reason).catch(() => undefined);
    },
  });
}

/** Services (GET|POST /v1/services, GET|PATCH|DELETE /v1/services/:name, logs) and node drain. */
export function serviceRoutes(app: Hono, deps: ServiceDeps): void {
  const admin = requireAdmin(deps.adminToken);

  app.get('/v1/services', async (c) => c.json({ services: await deps.listServices() }));

  app.post('/v1/services', admin, async (c) => {
    const spec = parseServiceInput(await readJson(c));
    return c.json({ service: await deps.createService(spec) }, 201);
  });

  app.get('/v1/services/:name', async (c) => {
    const name = c.req.param('name');
    const service = await deps.getService(name);
    if (!service) throw noService(name);
    return c.json({ service });
  });

  app.patch('/v1/services/:name', admin, async (c) => {
    const name = c.req.param('name');
    const patch = parseServicePatch(await readJson(c), name);
    return c.json({ service: await deps.updateService(name, patch) });
  });

  app.delete('/v1/services/:name', admin, async (c) => {
    const name = c.req.param('name');
    if (!(await deps.removeService(name))) throw noService(name);
    return c.json({ removed: name });
  });

  app.get('/v1/services/:name/logs', async (c) => {
    const name = c.req.param('name');
    const follow = flag(c.req.query('follow'), 'follow');
    const tail = wholeNumber(c.req.query('tail'), 'tail', MAX_LOG_TAIL) ?? DEFAULT_LOG_TAIL;
    const replica = wholeNumber(c.req.query('replica'), 'replica', 10_000);
    // local=1: another node forwarded this; answer from this node's Docker, never forward again
    const local = flag(c.req.query('local'), 'local');
    // HEAD: Hono would drop the body without cancelling it, leaving the log stream open
    if (c.req.method === 'HEAD') {
      if (!(await deps.getService(name))) throw noService(name);
      return c.body(null, 200, { 'content-type': 'text/plain; charset=utf-8' });
    }
    const controller = new AbortController();
    const clientGone = c.req.raw.signal;
    const onGone = () => controller.abort();
    if (clientGone.aborted) controller.abort();
    else clientGone.addEventListener('abort', onGone, { once: true });
    controller.signal.addEventListener('abort', () => clientGone.removeEventListener('abort', onGone), { once: true });
    let source: NodeJS.ReadableStream | ReadableStream<Uint8Array>;
    try {
      source = await deps.serviceLogs(name, { follow, tail, local, ...(replica === undefined ? {} : { replica }) }, controller.signal);
    } catch (err) {
      controller.abort();
      throw err;
    }
    return new Response(passThrough(source, controller), {
      status: 200,
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        // no proxy buffering of a followed log
        'x-accel-buffering': 'no',
      },
    });
  });

  app.post('/v1/nodes/:node/drain', admin, async (c) => c.json({ node: await deps.drainNode(c.req.param('node'), true) }));
  app.post('/v1/nodes/:node/activate', admin, async (c) => c.json({ node: await deps.drainNode(c.req.param('node'), false) }));
}

