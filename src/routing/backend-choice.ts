import type { ReplicaStatus } from '../core/service-types.ts';
import type { ContainerAddress } from '../runtime/container-addresses.ts';
import type { Backend } from './proxy-types.ts';

/** This node's own containers, for the local fast path. */
export interface LocalContainers {
  nodeId: string;
  /** the container's current direct address; undefined when unknown (or not to be used) */
  address(containerId: string): ContainerAddress | undefined;
}

/**
 * Where the proxy reaches one running replica. A replica on this node: at its container's own
 * address on the Docker network (container IP : container port), skipping Docker's userland
 * proxy, when Docker gave it one this host reaches. Any other replica, and a local one whose
 * address is unknown: at its node's address : published port. Undefined when it publishes no
 * TCP port (the first published TCP port is the service's HTTP port).
 */
export function backendFor(s: ReplicaStatus, local: LocalContainers | undefined, httpPort?: number): Backend | undefined {
  // the service's first declared TCP port when it has one: a stack container also publishes its image's EXPOSE ports (runtime/mesh-container.ts)
  const port = (httpPort !== undefined ? s.ports.find((p) => p.protocol === 'tcp' && p.container === httpPort) : undefined) ?? s.ports.find((p) => p.protocol === 'tcp');
  if (!port) return undefined;
  if (local && s.nodeId === local.nodeId && s.containerId) {
    const a = local.address(s.containerId);
    if (a) return { host: a.ip, port: port.container, nodeId: s.nodeId, slot: s.slot, container: { id: s.containerId, epoch: a.epoch } };
  }
  return { host: s.addr, port: port.hostPort, nodeId: s.nodeId, slot: s.slot };
}
