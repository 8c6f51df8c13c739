import type { ReplicaView, ServiceSpec, ServiceView } from '../core/service-types.ts';
import type { Catalog } from './catalog.ts';

/** A service as the API shows it: spec, where each replica is and what its node reports. */
export function serviceView(catalog: Catalog, spec: ServiceSpec): ServiceView {
  const record = catalog.assignment(spec.name);
  const replicas: ReplicaView[] = (record?.slots ?? []).map((slot) => {
    const status = catalog.status(spec.name, slot.index);
    // a report counts only when it is from the slot's node and about the slot's generation
    const current = status && status.nodeId === slot.nodeId && status.generation === slot.generation ? status : undefined;
    const nodeName = slot.nodeId ? catalog.nodeName(slot.nodeId) : undefined;
    const reason = current?.reason ?? slot.reason;
    return {
      slot: slot.index,
      nodeId: slot.nodeId,
      ...(nodeName ? { nodeName } : {}),
      generation: slot.generation,
      state: slot.nodeId === null ? 'unassigned' : (current?.state ?? 'pending'),
      ...(reason ? { reason } : {}),
      ...(current?.progress ? { progress: current.progress } : {}),
      ...(current ? { addr: current.addr } : {}),
      ports: current?.ports ?? [],
      ...(current?.health ? { health: current.health } : {}),
      restarts: current?.restarts ?? 0,
      since: slot.since,
    };
  });
  const unplaced = replicas.find((r) => r.state === 'unassigned');
  return {
    spec,
    desired: spec.replicas,
    running: replicas.filter((r) => r.state === 'running').length,
    ...(unplaced?.reason ? { pending: unplaced.reason } : !record && spec.replicas > 0 ? { pending: 'waiting for the leader to schedule it' } : {}),
    replicas,
  };
}
