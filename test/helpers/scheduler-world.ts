/** The scheduler's test world (test/unit/scheduler*.test.ts): fixtures, and a driver that applies plans and checks each is idempotent. */
import assert from 'node:assert/strict';
import { planSchedule, type ScheduleInput, type SchedulePlan, type SchedNode } from '../../src/core/scheduler.ts';
import type { AssignmentRecord, Constraint, ReplicaState, ReplicaStatus, ServiceSpec, Slot } from '../../src/core/service-types.ts';

export const NOW = 1_000_000;
export const MiB = 2 ** 20;
export const GiB = 2 ** 30;

/** node('nas') has id 'n-nas' and name 'nas': tests can tell a match by name from one by id */
export const node = (name: string, extra: Partial<SchedNode> = {}): SchedNode => ({ id: `n-${name}`, name, labels: {}, state: 'alive', draining: false, ...extra });
export const health = (usedBytes: number, totalBytes = 4 * GiB) => ({ cpuLoad: 0, memUsedBytes: usedBytes, memTotalBytes: totalBytes, diskFreeBytes: 0, containers: 0, uptimeMs: 0 });
export const svc = (name: string, extra: Partial<ServiceSpec> = {}): ServiceSpec => ({
  name, image: `${name}:1`, command: [], env: {}, ports: [], volumes: [], restart: 'always',
  replicas: 1, constraints: [], generation: 1, createdAt: 0, updatedAt: 0, ...extra,
});
export const label = (key: string, value: string): Constraint => ({ kind: 'label', key, value });
export const status = (service: string, slot: number, nodeId: string, generation: number, state: ReplicaState = 'running', extra: Partial<ReplicaStatus> = {}): ReplicaStatus => ({
  service, slot, nodeId, generation, state, addr: '127.0.0.1', ports: [], restarts: 0, updatedAt: 0, ...extra,
});
export const world = (o: Partial<ScheduleInput>): ScheduleInput => ({ now: NOW, services: [], assignments: {}, statuses: [], nodes: [], ...o });

/** the driver: write every record of the plan, time goes on */
export function apply(w: ScheduleInput, plan: SchedulePlan): ScheduleInput {
  const assignments = { ...w.assignments };
  for (const { service, record } of plan.writes) {
    if (record) assignments[service] = record;
    else delete assignments[service];
  }
  return { ...w, now: w.now + 250, assignments };
}

export function assertIdempotent(w: ScheduleInput, why = ''): void {
  const again = planSchedule(w);
  assert.deepEqual(again, { writes: [], events: [] }, `${why} planning again on the plan's own output must change nothing`);
}

/** plan, apply, and check that planning again on the result is a no-op */
export function run(w: ScheduleInput, why = ''): { plan: SchedulePlan; w: ScheduleInput } {
  const copy = JSON.stringify(w);
  const plan = planSchedule(w);
  assert.equal(JSON.stringify(w), copy, `${why} the input is left as it was`);
  const next = apply(w, plan);
  assertIdempotent({ ...next, now: next.now + 1 }, why);
  return { plan, w: next };
}

/** every placed slot reports running for its node and generation */
export function allRunning(w: ScheduleInput): ScheduleInput {
  const statuses: ReplicaStatus[] = [];
  for (const rec of Object.values(w.assignments)) {
    for (const s of rec?.slots ?? []) if (s.nodeId) statuses.push(status(rec!.service, s.index, s.nodeId, s.generation));
  }
  return { ...w, statuses };
}

export const nameOf = (id: string | null) => (id === null ? null : id.replace(/^n-/, ''));
/** node names of a service's slots, by index (null: unplaced) */
export const where = (w: ScheduleInput, service: string) => w.assignments[service]!.slots.map((s) => nameOf(s.nodeId));
export const slot = (w: ScheduleInput, service: string, index: number): Slot => w.assignments[service]!.slots.find((s) => s.index === index)!;
export const record = (service: string, slots: Partial<Slot>[], specs: ServiceSpec[] = [svc(service)]): AssignmentRecord => ({
  service,
  specs: Object.fromEntries(specs.map((s) => [String(s.generation), { image: s.image, command: s.command, env: s.env, ports: s.ports, volumes: s.volumes, restart: s.restart }])),
  slots: slots.map((s, i) => ({ index: i, nodeId: null, generation: 1, since: 0, ...s })),
});
export const on = (...names: string[]) => names.map((n) => ({ nodeId: `n-${n}` }));
export const events = (plan: SchedulePlan) => plan.events.map((e) => `${e.name} ${e.payload.service}/${e.payload.slot} ${nameOf(e.payload.from ?? null) ?? '-'}>${nameOf(e.payload.node) ?? 'null'}${e.payload.reason ? ` (${e.payload.reason})` : ''}`);
