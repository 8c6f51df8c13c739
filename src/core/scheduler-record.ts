/**
 * Plumbing for the scheduler (src/core/scheduler.ts): reading the replica reports, reading and
 * writing assignment records. Records are plain JSON: optional fields are left out, never set to
 * undefined, so that a record means one thing and "did it change" is a structural comparison.
 */
import type { AssignmentRecord, ContainerSpec, ReplicaStatus, ServiceSpec, Slot } from './service-types.ts';

/** The replica reports by service and slot. */
export class Reports {
  private readonly bySlot = new Map<string, ReplicaStatus[]>();

  constructor(statuses: readonly ReplicaStatus[]) {
    for (const r of statuses) {
      const key = `${r.service}\0${r.slot}`;
      this.bySlot.set(key, [...(this.bySlot.get(key) ?? []), r]);
    }
  }

  /** the slot's report from its own node for its own generation: an older placement's says nothing */
  of(service: string, s: Slot): ReplicaStatus | undefined {
    return this.bySlot.get(`${service}\0${s.index}`)?.find((r) => r.nodeId === s.nodeId && r.generation === s.generation);
  }

  running(service: string, s: Slot): boolean {
    return this.of(service, s)?.state === 'running';
  }

  /** no container of this slot runs on its node yet (none reported, or still coming up): it will take memory */
  starting(service: string, s: Slot): boolean {
    const state = this.of(service, s)?.state;
    return state === undefined || state === 'pending' || state === 'pulling' || state === 'starting';
  }

  /** nodes that reported the slot's image, at this generation, as not pullable */
  imageFailures(service: string, index: number, generation: number): string[] {
    const all = this.bySlot.get(`${service}\0${index}`) ?? [];
    return all.filter((r) => r.generation === generation && r.state === 'failed' && r.failure === 'image').map((r) => r.nodeId);
  }
}

export const replicasOf = (svc: ServiceSpec): number => Math.max(0, Math.floor(svc.replicas));

/** the record's slots by index: only 0..replicas-1, the first of duplicates */
export function validSlots(rec: AssignmentRecord | undefined, svc: ServiceSpec): Map<number, Slot> {
  const out = new Map<number, Slot>();
  for (const s of rec?.slots ?? []) {
    if (Number.isInteger(s.index) && s.index >= 0 && s.index < replicasOf(svc) && !out.has(s.index)) out.set(s.index, s);
  }
  return out;
}

export function containerSpecOf(svc: ServiceSpec): ContainerSpec {
  const { image, command, env, ports, volumes, restart, cpus, memoryBytes, options } = svc;
  const out: ContainerSpec = { image, command, env, ports, volumes, restart };
  if (cpus !== undefined) out.cpus = cpus;
  if (memoryBytes !== undefined) out.memoryBytes = memoryBytes;
  if (options !== undefined) out.options = options;
  return out;
}

export function cleanSlot(s: Slot): Slot {
  const out: Slot = { index: s.index, nodeId: s.nodeId, generation: s.generation, since: s.since };
  if (s.reason) out.reason = s.reason;
  if (s.avoid?.length) out.avoid = s.avoid;
  return out;
}

/** structural equality of JSON values, key order and undefined-valued keys aside */
export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const kx = Object.keys(x).filter((k) => x[k] !== undefined);
  return kx.length === Object.keys(y).filter((k) => y[k] !== undefined).length && kx.every((k) => same(x[k], y[k]));
}
