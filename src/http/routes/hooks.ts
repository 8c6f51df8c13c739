import type { Hono } from 'hono';
import type { HooksResponse } from '../../core/hooks/hook-views.ts';
import { requireAdmin } from '../auth.ts';

export interface HookDeps {
  adminToken: string;
  hooks(): Promise<HooksResponse>;
}

/** GET /v1/hooks: the hooks and their last runs. Admin only: a hook's output may hold secrets. */
export function hookRoutes(app: Hono, deps: HookDeps): void {
  app.get('/v1/hooks', requireAdmin(deps.adminToken), async (c) => c.json(await deps.hooks()));
}
