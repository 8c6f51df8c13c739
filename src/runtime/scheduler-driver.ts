import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { KEYS } from '../consensus/cluster-store.ts';
import type { Leadership } from '../consensus/leadership.ts';
import { messageOf } from '../core/errors.ts';
import { planSchedule, type NodeLiveness, type ScheduleEvent, type SchedNode } from '../core/scheduler.ts';
import type { HealthFigures, LivenessMap } from '../core/views.ts';
import type { Catalog } from './catalog.ts';
import { volumeHomesOf } from './volume-homes.ts';

export interface SchedulerDeps {
  catalog: Catalog;
  client: () => Etcd3 | undefined;
  /** while this node leads: the election key every write compares (consensus/leadership.ts) */
  leadership: () => Leadership | undefined;
  selfId: string;
  liveness: () => LivenessMap;
  health: () => Record<string, HealthFigures | undefined>;
  event: (e: ScheduleEvent) => void;
  logger: Logger;
}

/**
 * The leader's scheduling loop: feeds the pure planner (src/core/scheduler.ts) the catalog and
 * gossip's liveness, and writes each changed assignment in a transaction that compares the
 * revision the plan was based on and that this node's election key still exists — a deposed
 * leader's stale plan can never win, even before it learns it was deposed (back from a partition
 * it still saw the majority's nodes as dead, and moved their replicas back to itself).
 */
export class SchedulerDriver {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly d: SchedulerDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.step(), 250);
    // a node's death must move its replicas at once, not at the next tick
    this.d.catalog.on('change', () => void this.step());
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  nodes(): SchedNode[] {
    const live = this.d.liveness();
    const health = this.d.health();
    const { catalog } = this.d;
    return catalog.nodes().map((n) => {
      const rt = catalog.runtimeNode(n.id);
      const state: NodeLiveness = n.id === this.d.selfId ? 'alive' : (live[n.id]?.state ?? 'unknown');
      const h = health[n.id];
      return { id: n.id, name: n.name, labels: rt?.labels ?? {}, state, draining: catalog.draining(n.id), ...(h ? { health: h } : {}), ...(rt?.devices ? { devices: rt.devices } : {}) };
    });
  }

  /** Runs on the timer, on catalog changes, and when gossip's view of a node changes (a death moves replicas at once). */
  async step(): Promise<void> {
    const client = this.d.client();
    const lead = this.d.leadership();
    if (this.busy || !client || !lead || !this.d.catalog.ready) return;
    this.busy = true;
    try {
      const { catalog } = this.d;
      const assignments = Object.fromEntries([...catalog.maps.assignments].map(([k, v]) => [k, v.value]));
      const nodes = this.nodes();
      const plan = planSchedule({ now: Date.now(), services: catalog.services(), assignments, statuses: catalog.statuses(), nodes, volumeHomes: volumeHomesOf(catalog, nodes) });
      if (!plan.writes.length) return;
      const results = await Promise.all(
        plan.writes.map(async (w) => {
          const key = KEYS.assignmentPrefix + w.service;
          const rev = catalog.maps.assignments.get(w.service)?.modRevision;
          const txn = (rev === undefined ? client.if(key, 'Create', '==', 0) : client.if(key, 'Mod', '==', rev)).and(lead.key, 'Create', '>', 0);
          const op = w.record ? client.put(key).value(JSON.stringify(w.record)) : client.delete().key(key);
          const res = await txn.then(op).else(client.get(lead.key)).commit();
          const leading = res.succeeded || (res.responses[0]?.response_range?.kvs.length ?? 0) > 0;
          return [w.service, res.succeeded, leading] as const;
        }),
      );
      if (results.some(([, , leading]) => !leading)) {
        this.d.logger.warn('the election key is gone: this node was deposed; it schedules nothing until elected again');
        lead.deposed();
        return;
      }
      const won = new Set(results.filter(([, ok]) => ok).map(([s]) => s));
      for (const e of plan.events) if (won.has(e.payload.service)) this.d.event(e);
      if (won.size < results.length) {
        // someone wrote in between (or the watch lags): re-read and plan again next tick
        this.d.logger.debug('assignment write lost a revision race; re-reading');
        await catalog.reload();
      }
    } catch (err) {
      this.d.logger.debug({ err: messageOf(err) }, 'scheduling step failed');
    } finally {
      this.busy = false;
    }
  }
}
