/**
 * Which services of a stack are pinned to the node the deploy was sent to: a bind mount ties a
 * service to that machine's files, and a service that shares a replicated volume with a pinned one
 * (under the same constraints) goes with it, since the volume's data is live on one machine at a
 * time. (Devices do not pin: the scheduler places a service with devices on the nodes that have
 * them.) Pure.
 */
import type { Constraint } from '../service-types.ts';
import { sameConstraints } from '../volumes/stack-volumes.ts';
import type { StackModel, StackService } from './model.ts';

/** A service's placement: its constraints, plus `node` when it is pinned (a node constraint of its own wins). */
export function placementOf(s: StackService, pinned: boolean, node: string): Constraint[] {
  return pinned && !s.constraints.some((c) => c.kind === 'node') ? [...s.constraints, { kind: 'node', value: node }] : [...s.constraints];
}

/** Pinned service → the service whose own bind mount pins it (itself when it has one). */
export function pinnedServices(model: StackModel): Map<string, { by: string; volume?: string }> {
  const replicated = new Set(model.volumes.filter((v) => !v.local && !v.external).map((v) => v.name));
  const volumesOf = (s: StackService) => s.mounts.flatMap((m) => (m.type === 'volume' && m.source !== undefined && replicated.has(m.source) ? [m.source] : []));
  const pins = new Map<string, { by: string; volume?: string }>();
  const queue: StackService[] = [];
  for (const s of model.services) {
    if (!s.pinnedByBindMount) continue;
    pins.set(s.name, { by: s.name });
    queue.push(s);
  }
  // an explicit node constraint already says where a service runs: a pin adds nothing to it
  const free = (s: StackService) => !pins.has(s.name) && !s.constraints.some((c) => c.kind === 'node');
  for (let s = queue.shift(); s; s = queue.shift()) {
    const mine = volumesOf(s);
    for (const other of model.services) {
      const shared = volumesOf(other).find((v) => mine.includes(v));
      if (!shared || !free(other) || !sameConstraints(other.constraints, s.constraints)) continue;
      pins.set(other.name, { by: pins.get(s.name)!.by, volume: shared });
      queue.push(other);
    }
  }
  return pins;
}
