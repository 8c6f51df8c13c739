/**
 * The leader's scheduler as a pure function of a snapshot: desired services, current assignments,
 * replica statuses and nodes in, the assignment records to write out. The driver writes each record
 * in a transaction that compares the revision it read, so a plan must be idempotent: planning again
 * on its own output changes nothing. Node choice lives in scheduler-place.ts.
 *
 * Per service, in order: replicas whose image their node cannot pull try another node; new, unplaced
 * and displaced replicas (node dead, left, removed, or no longer matching) are placed; then replicas
 * leave draining nodes and take the current generation in place (rolling update), one at a time,
 * each once the others run. A rolling update emits no event: the replica stays where it is and its
 * status shows the new container starting. Moved and new replicas take the current generation.
 */
import type { AssignmentRecord, ContainerSpec, ReplicaStatus, ServiceSpec, Slot } from './service-types.ts';
import type { HealthFigures } from './views.ts';
import { leaveReason, Placer, type Placement } from './scheduler-place.ts';
import { cleanSlot, containerSpecOf, replicasOf, Reports, same, validSlots } from './scheduler-record.ts';
import type { VolumeHome } from './volumes/volume-home.ts';

/** 'restarting': the node announced a graceful stop and is within its restart grace (core/membership/restart-hold.ts) */
export type NodeLiveness = 'alive' | 'suspect' | 'dead' | 'left' | 'restarting' | 'unknown';

export interface SchedNode {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** gossip's view; 'unknown' = admitted but not heard yet */
  state: NodeLiveness;
  draining: boolean;
  /** from heartbeats: memUsedBytes, memTotalBytes, cpuLoad, containers */
  health?: HealthFigures;
  /** host device path → present, for the devices services ask for that the node has checked (RuntimeNode.devices) */
  devices?: Readonly<Record<string, boolean>>;
}

export interface ScheduleInput {
  now: number;
  /** desired state, from etcd */
  services: ServiceSpec[];
  /** current, by service name */
  assignments: Record<string, AssignmentRecord | undefined>;
  /** what nodes report */
  statuses: ReplicaStatus[];
  /** admitted nodes only (a node absent here is gone) */
  nodes: SchedNode[];
  /** where replicas with replicated volumes may go, by "<service>/<slot>" (core/volumes/volume-home.ts); absent: anywhere */
  volumeHomes?: Record<string, VolumeHome>;
}

export interface ScheduleEvent {
  name: 'service.scheduled' | 'service.moved';
  payload: { service: string; slot: number; node: string | null; nodeName?: string; from?: string; fromName?: string; reason?: string };
}

export interface SchedulePlan {
  /** new AssignmentRecord per changed service; record null = delete (service removed) */
  writes: { service: string; record: AssignmentRecord | null }[];
  events: ScheduleEvent[];
}

/** a drain that cannot proceed says so on the slot; cleared once the node is no longer draining */
const STAY = 'stays on draining node';

interface Env {
  now: number;
  nodes: Map<string, SchedNode>;
  placer: Placer;
  reports: Reports;
  homes: Record<string, VolumeHome>;
}

export function planSchedule(input: ScheduleInput): SchedulePlan {
  const nodes = [...input.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const services = new Map<string, ServiceSpec>();
  for (const s of [...input.services].sort((a, b) => (a.name < b.name ? -1 : 1))) if (!services.has(s.name)) services.set(s.name, s);
  const env: Env = { now: input.now, nodes: new Map(nodes.map((n) => [n.id, n])), placer: new Placer(nodes), reports: new Reports(input.statuses), homes: input.volumeHomes ?? {} };

  // tallies before any change: every replica counts towards its node's load, and one that stays but
  // has not started yet holds its memory (the heartbeat shows only running containers). Derived from
  // the records alone, so that a plan run again on its own output sees the same free memory.
  for (const svc of services.values()) {
    const rec = input.assignments[svc.name];
    if (!rec) continue;
    for (const s of validSlots(rec, svc).values()) {
      if (s.nodeId === null) continue;
      env.placer.count(s.nodeId, 1, svc);
      if (env.reports.starting(svc.name, s) && !leaveReason(s.nodeId, env.nodes.get(s.nodeId), svc)) env.placer.reserve(s.nodeId, rec.specs?.[s.generation]?.memoryBytes);
    }
  }

  const plan: SchedulePlan = { writes: [], events: [] };
  for (const name of Object.keys(input.assignments).sort()) {
    if (input.assignments[name] && !services.has(name)) plan.writes.push({ service: name, record: null });
  }
  for (const svc of services.values()) {
    const before = input.assignments[svc.name];
    const record = planService(svc, before, env, plan.events);
    if (!before || !same(before, record)) plan.writes.push({ service: svc.name, record });
  }
  return plan;
}

function planService(svc: ServiceSpec, before: AssignmentRecord | undefined, env: Env, events: ScheduleEvent[]): AssignmentRecord {
  const cur = svc.generation;
  const oldSpecs = before?.specs ?? {};
  const prior = validSlots(before, svc);
  const { placer, now } = env;
  const own = new Map<string, number>();
  const slots = new Map<number, Slot>();
  const attach = (s: Slot) => {
    slots.set(s.index, s);
    if (s.nodeId === null) return;
    own.set(s.nodeId, (own.get(s.nodeId) ?? 0) + 1);
    placer.count(s.nodeId, 1, svc);
  };
  const detach = (s: Slot) => {
    if (s.nodeId === null) return;
    own.set(s.nodeId, (own.get(s.nodeId) ?? 1) - 1);
    placer.count(s.nodeId, -1, svc);
  };
  /** a new placement: its memory is taken before its node's heartbeat shows it (the same test as
   * for replicas already assigned, so that planning again on the output sees the same free memory) */
  const land = (s: Slot) => {
    attach(s);
    if (s.nodeId !== null && env.reports.starting(svc.name, s)) placer.reserve(s.nodeId, svc.memoryBytes);
  };
  const nameOf = (id: string | null) => (id === null ? undefined : env.nodes.get(id)?.name);
  const emit = (name: ScheduleEvent['name'], s: Slot, extra: { from?: string; reason?: string }) => {
    const payload: ScheduleEvent['payload'] = { service: svc.name, slot: s.index, node: s.nodeId };
    if (s.nodeId !== null && env.nodes.has(s.nodeId)) payload.nodeName = nameOf(s.nodeId);
    if (extra.from !== undefined) payload.from = extra.from;
    if (extra.from !== undefined && env.nodes.has(extra.from)) payload.fromName = nameOf(extra.from);
    if (extra.reason) payload.reason = extra.reason;
    events.push({ name, payload });
  };
  /** a new container starts anyway, so it takes the current generation (and forgets old image failures) */
  const current = (s: Slot): Slot => (s.generation === cur ? s : { ...s, generation: cur, avoid: undefined });
  const moved = (s: Slot, p: Placement, reason: string | undefined): Slot => ({ ...current(s), nodeId: p.nodeId, since: now, reason: p.nodeId ? reason : p.reason });

  // 1. keep what may stay; collect what must be (re)placed. This service's replicas are counted again as they are kept.
  for (const s of prior.values()) if (s.nodeId !== null) placer.count(s.nodeId, -1, svc);
  const pending: { slot: Slot; from?: string; why?: string; fresh?: boolean }[] = [];
  const failedImage: Slot[] = [];
  for (let i = 0; i < replicasOf(svc); i++) {
    const prev = prior.get(i);
    if (!prev) {
      pending.push({ slot: { index: i, nodeId: null, generation: cur, since: now }, fresh: true });
      continue;
    }
    // a generation whose spec is lost cannot be run
    const s = { ...(oldSpecs[prev.generation] ? prev : current(prev)) };
    const why = s.nodeId === null ? undefined : leaveReason(s.nodeId, env.nodes.get(s.nodeId), svc);
    if (s.nodeId === null || why) {
      pending.push({ slot: s, from: s.nodeId ?? undefined, why });
      continue;
    }
    if (s.reason?.startsWith(STAY) && !env.nodes.get(s.nodeId)?.draining) s.reason = undefined;
    attach(s);
    const st = env.reports.of(svc.name, s);
    if (st?.state === 'failed' && st.failure === 'image') failedImage.push(s);
  }

  // 2. image failures first, so a replica that must stay is counted before new ones are placed
  for (const s of failedImage) {
    detach(s);
    const avoid = [...new Set([...(s.avoid ?? []), s.nodeId!])].sort();
    const p = placer.place(svc, own, avoid, false, env.homes[`${svc.name}/${s.index}`]);
    if (p.nodeId === null) {
      attach({ ...s, avoid }); // every node that could run it failed too: no ping-pong
      continue;
    }
    const image = oldSpecs[s.generation]?.image ?? svc.image;
    const next = moved({ ...s, avoid }, p, `image ${image} not available on ${nameOf(s.nodeId) ?? s.nodeId}`);
    land(next);
    emit('service.moved', next, { from: s.nodeId!, reason: next.reason });
  }

  // 3. new, unplaced and displaced slots: those that must avoid nodes first (they have fewer
  // choices, so the others spread around them), then lowest index first
  const constrained = (p: (typeof pending)[number]) => (current(p.slot).avoid?.length ? 0 : 1);
  pending.sort((a, b) => constrained(a) - constrained(b) || a.slot.index - b.slot.index);
  for (const { slot, from, why, fresh } of pending) {
    // a failure still on record for this generation counts: placing the slot back there would
    // only read as a fresh failure on the next run
    const cs = current(slot);
    const known = env.reports.imageFailures(svc.name, cs.index, cs.generation);
    const s = known.some((id) => !cs.avoid?.includes(id)) ? { ...cs, avoid: [...new Set([...(cs.avoid ?? []), ...known])].sort() } : cs;
    const p = placer.place(svc, own, s.avoid ?? [], true, env.homes[`${svc.name}/${s.index}`]);
    if (why !== undefined) {
      const next = moved(s, p, why);
      land(next);
      emit('service.moved', next, { from, reason: p.nodeId ? why : `${why}; ${p.reason}` });
    } else if (p.nodeId !== null) {
      const next = { ...s, nodeId: p.nodeId, since: now, reason: undefined };
      land(next);
      emit('service.scheduled', next, {});
    } else {
      attach({ ...s, reason: p.reason });
      if (fresh) emit('service.scheduled', s, { reason: p.reason });
    }
  }

  const all = () => [...slots.values()];
  const running = (s: Slot) => env.reports.running(svc.name, s);
  const draining = (s: Slot) => s.nodeId !== null && env.nodes.get(s.nodeId)?.draining === true;

  // 4. drain: one slot at a time, only while every other replica runs, so a drain never takes a
  // service with two or more replicas down to zero. A slot with nowhere to go lets the next one try.
  const drainOne = (): boolean => {
    for (const leaving of all().filter(draining)) {
      if (!all().every((s) => s.index === leaving.index || running(s))) return false;
      detach(leaving);
      const p = placer.place(svc, own, current(leaving).avoid ?? [], false, env.homes[`${svc.name}/${leaving.index}`]);
      const why = `node ${nameOf(leaving.nodeId)} is draining`;
      if (p.nodeId === null) {
        attach({ ...leaving, reason: `${STAY} ${nameOf(leaving.nodeId)}: ${p.reason}` });
        continue;
      }
      const next = moved(leaving, p, why);
      land(next);
      emit('service.moved', next, { from: leaving.nodeId!, reason: why });
      return true;
    }
    return false;
  };

  // 5. rolling update: one slot at a time, once every placed replica of the current generation
  // runs. An unplaceable replica does not hold the update hostage. Broken old replicas go first.
  const updateOne = (): boolean => {
    const stale = all().filter((s) => s.nodeId !== null && s.generation !== cur);
    if (stale.length === 0 || !all().every((s) => s.nodeId === null || s.generation !== cur || running(s))) return false;
    const key = (s: Slot) => (draining(s) ? 2 : 0) + (running(s) ? 1 : 0);
    const pick = stale.sort((a, b) => key(a) - key(b) || a.index - b.index)[0]!;
    slots.set(pick.index, { ...pick, generation: cur, since: now, avoid: undefined });
    return true;
  };

  // "runs" is what statuses say for the slot's node and generation, and one may already say so for
  // a slot this plan just moved (a node that ran it before and kept it): the next run would then
  // take the next step, so this one does, until nothing more may change
  while (drainOne() || updateOne());

  const out = all().sort((a, b) => a.index - b.index).map(cleanSlot);
  const specs: Record<string, ContainerSpec> = {};
  for (const g of new Set([cur, ...out.map((s) => s.generation)])) specs[g] = g === cur ? containerSpecOf(svc) : oldSpecs[g]!;
  return { service: svc.name, specs, slots: out };
}
