import { gateReason } from '../core/depends-gate.ts';
import { replicaKey, type ActualContainer, type DesiredReplica } from '../core/reconcile-plan.ts';
import type { Catalog } from './catalog.ts';

/** The replicas the catalog assigns to node `nodeId`, each with its slot generation's spec. */
export function desiredReplicas(catalog: Catalog, nodeId: string): DesiredReplica[] {
  const out: DesiredReplica[] = [];
  for (const [service, v] of catalog.maps.assignments) {
    for (const s of v.value.slots) {
      const spec = v.value.specs[String(s.generation)];
      if (s.nodeId === nodeId && spec) out.push({ service, slot: s.index, generation: s.generation, spec });
    }
  }
  return out;
}

/**
 * The replicas that may run: one with no container yet waits while its depends_on gate is
 * closed (its status says why: `held` is refilled with each one's reason); one that has a
 * container (any generation) is never held back.
 */
export function gateReplicas(catalog: Catalog, desired: DesiredReplica[], actual: ActualContainer[], held: Map<string, string>): DesiredReplica[] {
  const view = {
    exists: (s: string) => catalog.service(s) !== undefined,
    statuses: (s: string) => [...catalog.maps.statuses.values()].map((v) => v.value).filter((st) => st.service === s),
  };
  held.clear();
  return desired.filter((r) => {
    if (!r.spec.options?.dependsOn?.length || actual.some((c) => c.service === r.service && c.slot === r.slot)) return true;
    const reason = gateReason(r.spec.options.dependsOn, view);
    if (reason) held.set(replicaKey(r), reason);
    return reason === undefined;
  });
}
