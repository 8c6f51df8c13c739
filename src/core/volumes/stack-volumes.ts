/**
 * A compose stack's named volumes as Warren volumes (DESIGN.md "Stacks": a stack that moves as a
 * unit needs every one of its volumes' copies on the node it moves to). Pure.
 *
 * Naming: the stack's volume `data` of stack `shop` is the Warren volume `shop.data` (replica slot
 * N > 0 of a service adds `.N`: `shop.data.1`). A stack name has no ".", and a service's volume
 * (`<service>_<volume>`) never has one, so these names are unique per stack and never clash with
 * a plain service's volumes. The stack's services that mount `data` share the one Warren volume
 * (as under `docker compose up`, where they share one Docker volume): they run on one node.
 *
 * Which slot needs which copies: a stack's services are placed together by default, so a replica
 * slot of a stack service needs copies of its own volumes and of those of its siblings placed by
 * the same rules (same constraints, same slot): the whole group lands on a node holding them all.
 * A service whose constraints differ (pinned elsewhere) needs only its own.
 */
import type { Constraint, ContainerSpec, ServiceSpec } from '../service-types.ts';
import { volumeHome, type HomeNode, type VolumeHome } from './volume-home.ts';
import type { CopyRecord, VolumeMeta } from './volume-records.ts';

/** A replicated volume as one replica slot mounts it. */
export interface SlotVolume {
  /** the Warren volume name */
  name: string;
  /** the path in the container */
  path: string;
  readOnly: boolean;
}

/** The Warren volume name of a stack's named volume, for one replica slot. */
export function stackVolumeName(stack: string, volume: string, slot = 0): string {
  return slot === 0 ? `${stack}.${volume}` : `${stack}.${volume}.${slot}`;
}

/** The stack a Warren volume belongs to (from its name), or undefined for a service's own volume. */
export function stackOfVolume(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot > 0 && !name.includes('.fenced-') ? name.slice(0, dot) : undefined;
}

type SpecLike = Pick<ContainerSpec, 'volumes' | 'options'>;

/**
 * Every replicated volume one replica slot mounts: the service's own (`-v NAME:/path`, named
 * `<service>_<name>[_<slot>]`, core/volumes/volume-records.ts) and its stack's (options.stackVolumes).
 */
export function slotVolumes(service: string, slot: number, spec: SpecLike): SlotVolume[] {
  const own = spec.volumes.filter((v) => v.local !== true).map((v) => ({ name: slot === 0 ? `${service}_${v.name}` : `${service}_${v.name}_${slot}`, path: v.path, readOnly: false }));
  const stack = (spec.options?.stackVolumes ?? []).map((v) => ({ name: slot === 0 ? v.name : `${v.name}.${slot}`, path: v.target, readOnly: v.readOnly }));
  return [...own, ...stack];
}

/** Whether two services' constraints are one placement rule (their order aside). */
export const sameConstraints = (a: readonly Constraint[], b: readonly Constraint[]) => {
  const key = (c: Constraint) => (c.kind === 'node' ? `node=${c.value}` : `label=${c.key}=${c.value}`);
  const ka = a.map(key).sort();
  const kb = b.map(key).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
};

type ServiceLike = Pick<ServiceSpec, 'name' | 'stack' | 'replicas' | 'constraints' | 'volumes' | 'options'>;

/**
 * The Warren volumes whose copies the node of `svc`'s slot must hold (sorted, unique): its own, and
 * for a stack service those of the siblings placed with it (same stack, same constraints, a slot of
 * that index).
 */
export function homeVolumes(svc: ServiceLike, slot: number, services: readonly ServiceLike[]): string[] {
  const names = new Set(slotVolumes(svc.name, slot, svc).map((v) => v.name));
  if (svc.stack !== undefined) {
    for (const s of services) {
      if (s.name === svc.name || s.stack !== svc.stack || slot >= s.replicas || !sameConstraints(s.constraints, svc.constraints)) continue;
      for (const v of slotVolumes(s.name, slot, s)) names.add(v.name);
    }
  }
  return [...names].sort();
}

/** Where each replica slot with replicated volumes (its own or its stack's) may be placed, by "<service>/<slot>" (the scheduler's volumeHomes). */
export function slotHomes(services: readonly ServiceLike[], meta: ReadonlyMap<string, VolumeMeta>, copies: readonly CopyRecord[], nodes: readonly HomeNode[]): Record<string, VolumeHome> {
  const out: Record<string, VolumeHome> = {};
  for (const svc of services) {
    for (let slot = 0; slot < svc.replicas; slot++) {
      const volumes = homeVolumes(svc, slot, services);
      if (volumes.length) out[`${svc.name}/${slot}`] = volumeHome({ volumes, meta, copies, nodes });
    }
  }
  return out;
}

/** The replica slots (service, slot) whose spec mounts the Warren volume `name`. */
export function volumeUsers(name: string, services: readonly ServiceLike[]): { service: string; slot: number; constraints: readonly Constraint[] }[] {
  const out: { service: string; slot: number; constraints: readonly Constraint[] }[] = [];
  for (const s of services) {
    for (let slot = 0; slot < s.replicas; slot++) {
      if (slotVolumes(s.name, slot, s).some((v) => v.name === name)) out.push({ service: s.name, slot, constraints: s.constraints });
    }
  }
  return out;
}

/**
 * The replicated volumes that go to the same peers as `name`: every Warren volume of its stack
 * that the stack's services mount (a plain service's volume is alone).
 */
export function peerGroup(name: string, services: readonly ServiceLike[]): string[] {
  const stack = stackOfVolume(name);
  if (stack === undefined) return [name];
  const group = new Set([name]);
  for (const s of services) {
    if (s.stack !== stack) continue;
    for (let slot = 0; slot < s.replicas; slot++) for (const v of slotVolumes(s.name, slot, s)) if (stackOfVolume(v.name) === stack) group.add(v.name);
  }
  return [...group].sort();
}

/**
 * Why this node may not take the volume over now (undefined: it may): its live copy is on another
 * node that is alive and runs a replica mounting it there. Two services of a stack sharing a volume
 * that constraints put on different nodes would otherwise take it from each other in turn.
 */
export function takeBlocked(input: {
  volume: string;
  self: string;
  owner: string | undefined;
  ownerAlive: boolean;
  ownerName: string;
  /** the users' assigned node, by "<service>/<slot>" */
  assigned: ReadonlyMap<string, string | null>;
  users: readonly { service: string; slot: number }[];
}): string | undefined {
  const { owner } = input;
  if (owner === undefined || owner === input.self || !input.ownerAlive) return undefined;
  const there = input.users.find((u) => input.assigned.get(`${u.service}/${u.slot}`) === owner);
  return there ? `volume ${input.volume} is live on node ${input.ownerName} for service ${there.service}: a stack's services sharing a volume run on one node (remove the constraint that splits them)` : undefined;
}
