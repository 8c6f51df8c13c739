import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { WarrenEvent } from '../../core/gossip-messages.ts';
import { resolveSubscription } from '../../core/topics.ts';
import type { ServiceView } from '../../core/service-types.ts';
import type { MemberView } from '../../core/views.ts';
import { within } from '../../system/within.ts';
import { jsonError } from '../errors.ts';

export interface UiStreamDeps {
  members(): MemberView[] | Promise<MemberView[]>;
  listServices(): Promise<ServiceView[]>;
  admissionView(): Promise<unknown>;
  subscribe(topics: string[], listener: (e: WarrenEvent) => void): () => void;
}

/** Whole-cluster state, as the page's overview needs it. */
export interface UiSnapshot {
  members: MemberView[];
  services: ServiceView[];
  admission: unknown;
  /** true when this node could not read the services (etcd out of reach): they are the last known */
  stale?: boolean;
}

/** How often the stream looks for changes events do not announce (load, replica states). */
const CHECK_MS = 1000;
/** A heartbeat at least this often: the page takes a silent stream for a dead node. */
const HEARTBEAT_MS = 1000;

/**
 * GET /v1/ui/stream: the web UI's one live stream (SSE). A `snapshot` of the whole cluster first
 * (so a reconnect catches up), then a new one whenever it changes (at once after an event, else
 * within a second), every cluster `event` for the feed, and a `ping` every second.
 */
export function uiStreamRoutes(app: Hono, deps: UiStreamDeps): void {
  let lastServices: ServiceView[] = [];
  const snapshot = async (): Promise<UiSnapshot> => {
    const [members, services, admission] = await Promise.all([
      deps.members(),
      within(deps.listServices(), 1500, 'listing services').then((s) => ((lastServices = s), s), () => undefined),
      within(deps.admissionView(), 1500, 'reading admission').catch(() => ({ queue: [], voters: [], leader: null })),
    ]);
    return { members, services: services ?? lastServices, admission, ...(services ? {} : { stale: true }) };
  };

  app.get('/v1/ui/stream', (c) => {
    if (!c.get('uiSession')) return jsonError(c, 401, 'no_session', 'the UI stream needs a session (Authorization: Bearer <session token>)');
    return streamSSE(c, async (stream) => {
      const events: WarrenEvent[] = [];
      let wake: (() => void) | undefined;
      let dirty = true;
      const off = deps.subscribe(resolveSubscription(['*']), (e) => {
        events.push(e);
        dirty = true;
        wake?.();
      });
      const tick = setInterval(() => {
        dirty = true;
        wake?.();
      }, Math.min(CHECK_MS, HEARTBEAT_MS));
      stream.onAbort(() => {
        off();
        wake?.();
      });
      let sent = '';
      try {
        while (!stream.aborted && !stream.closed) {
          for (let e = events.shift(); e; e = events.shift()) await stream.writeSSE({ event: 'event', id: e.id, data: JSON.stringify(e) });
          if (dirty) {
            dirty = false;
            const data = JSON.stringify(await snapshot());
            if (data !== sent) await stream.writeSSE({ event: 'snapshot', data });
            else await stream.writeSSE({ event: 'ping', data: String(Date.now()) });
            sent = data;
            continue;
          }
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      } finally {
        clearInterval(tick);
        off();
      }
    });
  });
}
