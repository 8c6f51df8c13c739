/** GET|POST /v1/stacks, GET|DELETE /v1/stacks/:name (mutations need the admin token). */
import type { Context, Hono } from 'hono';
import { UserError } from '../../core/errors.ts';
import { requireAdmin } from '../auth.ts';

export interface StackDeps {
  adminToken: string;
  listStacks(): Promise<unknown[]>;
  getStack(name: string): Promise<unknown | undefined>;
  /** the body is validated by the stack manager (the compose rules live in src/core/compose) */
  deployStack(body: unknown): Promise<{ dryRun: boolean }>;
  removeStack(name: string, volumes: boolean): Promise<unknown>;
}

/** Compose files with their .env and env_file files: generous, still bounded. */
export const MAX_STACK_BODY_BYTES = 2 * 1024 * 1024;

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.length > MAX_STACK_BODY_BYTES) throw new UserError('payload_too_large', `the body is ${text.length} bytes; at most ${MAX_STACK_BODY_BYTES} are accepted`, 413);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError('bad_request', `the body is not valid JSON: ${(err as Error).message}`, 400);
  }
}

export function stackRoutes(app: Hono, deps: StackDeps): void {
  const admin = requireAdmin(deps.adminToken);

  app.get('/v1/stacks', async (c) => c.json({ stacks: await deps.listStacks() }));

  app.post('/v1/stacks', admin, async (c) => {
    const result = await deps.deployStack(await readJson(c));
    return c.json(result, result.dryRun ? 200 : 201);
  });

  app.get('/v1/stacks/:name', async (c) => {
    const stack = await deps.getStack(c.req.param('name'));
    if (!stack) throw new UserError('not_found', `there is no stack named "${c.req.param('name')}" (see warren stack ls)`, 404);
    return c.json({ stack });
  });

  app.delete('/v1/stacks/:name', admin, async (c) => {
    const v = c.req.query('volumes');
    if (v !== undefined && !['0', '1', 'true', 'false', ''].includes(v)) throw new UserError('bad_request', `volumes must be 1 or 0, got "${v}"`, 400);
    return c.json({ removed: await deps.removeStack(c.req.param('name'), v === '1' || v === 'true') });
  });
}
