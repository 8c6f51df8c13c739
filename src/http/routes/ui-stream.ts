import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { WarrenEvent } from '../../core/gossip-messages.ts';
import { resolveSubscription } from '../../core/topics.ts';
import type { ServiceView } from '../../core/service-types.ts';
import type { MemberView } from '../../core/views.ts';
import { within } from '../../system/within.ts';
import { jsonError } from '../errors.ts';
import { sseHead } from '../sse-head.ts';

export interface UiStreamDeps {
  /** the admitted members as gossip knows them now (no etcd read: pending joiners are in admission) */
  liveMembers(): MemberView[];
  /**
   * Calls `listener` on every change of a member's state as this node sees it. Events alone are
   * not enough: the hub delivers each fact once per cluster, so when another node's "node.dead"
   * came first, this node's own verdict (what its snapshot shows) comes with no event.
   */
  onMemberChange(listener: () => void): () => void;
  /** ids of the nodes marked draining (the runtime's watch cache: no etcd read) */
  drainingNodes(): string[];
  listServices(): Promise<ServiceView[]>;
  admissionView(): Promise<unknown>;
  subscribe(topics: string[], listener: (e: WarrenEvent) => void): () => void;
}

/** Whole-cluster state, as the page's overview needs it. */
export interface UiSnapshot {
  members: MemberView[];
  services: ServiceView[];
  admission: unknown;
  /** ids of the nodes marked draining */
  draining: string[];
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
/**
 * The last result of a read that needs etcd, refreshed in the background (one read at a time): a
 * snapshot waits for it at most `waitMs`, so a node's death (known from gossip at once) is never
 * held up by an etcd client that was talking to the dead node.
 */
class Refreshed<T> {
  value: T | undefined;
  ok = false;
  private inflight: Promise<void> | undefined;
  private lastStart = 0;

  /** `everyMs`: read again only this long after the last read started (or after `invalidate`) */
  constructor(
    private readonly read: () => Promise<T>,
    private readonly what: string,
    private readonly everyMs = 0,
  ) {}

  invalidate(): void {
    this.lastStart = 0;
  }

  async get(waitMs: number): Promise<{ value: T | undefined; ok: boolean }> {
    if (!this.inflight && this.ok && Date.now() - this.lastStart < this.everyMs) return { value: this.value, ok: true };
    if (!this.inflight) this.lastStart = Date.now();
    this.inflight ??= within(this.read(), 3000, this.what)
      .then((v) => {
        this.value = v;
        this.ok = true;
      }, () => {
        this.ok = false;
      })
      .finally(() => (this.inflight = undefined));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.inflight, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    return { value: this.value, ok: this.ok };
  }
}

/** How long a snapshot waits for etcd's part before it goes out with the last known one. */
const ETCD_WAIT_MS = 150;

export function uiStreamRoutes(app: Hono, deps: UiStreamDeps): void {
  const services = new Refreshed(() => deps.listServices(), 'listing services');
  // the admission view asks etcd three things (members, leader, queue) with a deadline: every
  // 5 s and after a membership event is enough, and keeps a loaded etcd's client breaker shut
  const admission = new Refreshed(() => deps.admissionView(), 'reading admission', 5000);
  // one listener on gossip for every open stream
  const memberListeners = new Set<() => void>();
  deps.onMemberChange(() => {
    admission.invalidate();
    for (const l of memberListeners) l();
  });
  const onMember = (l: () => void) => {
    memberListeners.add(l);
    return () => void memberListeners.delete(l);
  };
  const snapshot = async (waitMs: number): Promise<UiSnapshot> => {
    const [s, a] = await Promise.all([services.get(waitMs), admission.get(waitMs)]);
    const members = deps.liveMembers();
    return { members, services: s.value ?? [], admission: a.value ?? { queue: [], voters: [], leader: null }, draining: deps.drainingNodes(), ...(s.ok ? {} : { stale: true }) };
  };

  app.get('/v1/ui/stream', (c) => {
    if (!c.get('uiSession')) return jsonError(c, 401, 'no_session', 'the UI stream needs a session (Authorization: Bearer <session token>)');
    const head = sseHead(c);
    if (head) return head;
    return streamSSE(c, async (stream) => {
      const events: WarrenEvent[] = [];
      let wake: (() => void) | undefined;
      let dirty = true;
      // after an event the snapshot goes out at once with etcd's part as last known, and again
      // (fresh) a moment later: a node's death must not wait for a read
      let urgent = false;
      let followUp: NodeJS.Timeout | undefined;
      const off = deps.subscribe(resolveSubscription(['*']), (e) => {
        if (e.name.startsWith('node.')) admission.invalidate();
        events.push(e);
        dirty = true;
        urgent = true;
        wake?.();
      });
      const tick = setInterval(() => {
        dirty = true;
        wake?.();
      }, Math.min(CHECK_MS, HEARTBEAT_MS));
      const offMembers = onMember(() => {
        dirty = true;
        urgent = true;
        wake?.();
      });
      stream.onAbort(() => {
        off();
        offMembers();
        wake?.();
      });
      let sent = '';
      try {
        while (!stream.aborted && !stream.closed) {
          for (let e = events.shift(); e; e = events.shift()) await stream.writeSSE({ event: 'event', id: e.id, data: JSON.stringify(e) });
          if (dirty) {
            dirty = false;
            const data = JSON.stringify(await snapshot(urgent ? 0 : ETCD_WAIT_MS));
            if (urgent) {
              urgent = false;
              clearTimeout(followUp);
              followUp = setTimeout(() => {
                dirty = true;
                wake?.();
              }, 250);
            }
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
        clearTimeout(followUp);
        off();
        offMembers();
      }
    });
  });
}
