import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { HealthReport, MemberView } from '../core/views.ts';
import { errorAnswer, jsonError } from './errors.ts';
import { eventRoutes, type EventDeps } from './routes/events.ts';
import { clusterRoutes, type ClusterDeps } from './routes/cluster.ts';
import { admissionRoutes, type AdmissionDeps } from './routes/admission.ts';
import { serviceRoutes, type ServiceDeps } from './routes/services.ts';
import { caRoutes, type CaDeps } from './routes/ca.ts';
import { backupRoutes, type BackupDeps } from './routes/backup.ts';
import { guard, securityHeadersOnEveryAnswer, type GuardDeps } from './guard.ts';
import { uiAuthRoutes } from './routes/ui-auth.ts';
import { uiStreamRoutes, type UiStreamDeps } from './routes/ui-stream.ts';
import { defaultUiDir, loadUiAssets, uiPageRoutes } from './routes/ui-page.ts';

import { hookRoutes, type HookDeps } from './routes/hooks.ts';
import { stackRoutes, type StackDeps } from './routes/stacks.ts';
import { volumeRoutes, type VolumeDeps } from './routes/volumes.ts';
import { tokenRoutes, type TokenDeps } from './routes/tokens.ts';
import { apiTokenAuth } from './api-token-auth.ts';

export interface ApiDeps extends EventDeps, ClusterDeps, AdmissionDeps, ServiceDeps, CaDeps, BackupDeps, StackDeps, HookDeps, VolumeDeps, TokenDeps {
  logger: Logger;
  health(): Promise<HealthReport>;
  members(): MemberView[] | Promise<MemberView[]>;
  /** the web UI, its logins, and the Host/Origin/CSP guard in front of everything */
  ui?: Omit<GuardDeps, 'adminToken'> & { apiUrl: string; uiDir?: string } & Pick<UiStreamDeps, 'liveMembers' | 'drainingNodes' | 'onMemberChange'>;
}

/** The agent's HTTP API. Routes are added by feature; every failure has the JSON error shape. */
export function createApi(deps: ApiDeps): Hono {
  const app = new Hono();
  if (deps.ui) app.use('*', securityHeadersOnEveryAnswer(deps.ui));
  app.use('*', apiTokenAuth(deps));
  if (deps.ui) app.use('*', guard({ ...deps.ui, adminToken: deps.adminToken }));

  app.get('/v1/health', async (c) => {
    const report = await deps.health();
    return c.json(report, report.status === 'ok' ? 200 : 503);
  });

  app.get('/v1/members', async (c) => c.json({ members: await deps.members() }));

  eventRoutes(app, deps);
  clusterRoutes(app, deps);
  admissionRoutes(app, deps);
  serviceRoutes(app, deps);
  caRoutes(app, deps);
  backupRoutes(app, deps);
  stackRoutes(app, deps);
  hookRoutes(app, deps);
  volumeRoutes(app, deps);
  tokenRoutes(app, deps);
  if (deps.ui) {
    uiAuthRoutes(app, { adminToken: deps.adminToken, apiUrl: deps.ui.apiUrl, uiSessions: deps.ui.uiSessions });
    uiStreamRoutes(app, { ...deps, liveMembers: deps.ui.liveMembers, drainingNodes: deps.ui.drainingNodes, onMemberChange: deps.ui.onMemberChange });
    uiPageRoutes(app, loadUiAssets(deps.ui.uiDir ?? defaultUiDir()));
  }

  app.notFound((c) => jsonError(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));

  app.onError((err, c) => errorAnswer(c, err, deps.logger));

  return app;
}
