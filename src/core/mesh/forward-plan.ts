/**
 * Which L4 forwards this node runs (pure): the stacks' routing mesh and their names across nodes.
 *
 * DESIGN. There is no overlay network; every node forwards instead.
 * - Published ports (`"8080:80"`, no host IP): EVERY node listens on its own address at the
 *   published port (8080), TCP or UDP, forwarding to a live replica wherever it runs: a replica on
 *   this node at its container IP, any other at its node's address and the host port it reports
 *   there (that node's guard for the container's port). So the port answers on
 *   every node and keeps answering after a move (the forward's targets follow the catalog), like
 *   Swarm's ingress mesh. `"127.0.0.1:8080:80"` (a host IP) stays Docker's own binding on that
 *   node only, as compose does.
 * - Names across nodes: each node gives every service of a stack with a network there an address
 *   of its own on that network's bridge (see name-addrs.ts), answers the services' names with it
 *   from a DNS server on the bridge's gateway (the containers' `dns`, after Docker's embedded DNS:
 *   a replica on the same node is still answered by Docker with its container IP), and forwards
 *   that address's ports (the service's declared ports and the image's EXPOSE ports) to a live
 *   replica the same way as above.
 * - Guards (guard-plan.ts): a stack container's ports are not published by Docker on the node's
 *   address (any machine of the LAN would reach them); the node's mesh listens for each at a port
 *   of its own that admits members' addresses only, and reports that port as the replica's host
 *   port. Other nodes' forwards connect to it from their own address (a target with `node`).
 */
import type { PortSpec } from '../service-types.ts';

export type Protocol = 'tcp' | 'udp';

export interface ForwardTarget {
  host: string;
  port: number;
  nodeId: string;
  /** a node's address (not a container's): connect from this node's own address, guards admit members' only */
  node?: true;
}

export interface Forward {
  protocol: Protocol;
  /** where this node listens */
  ip: string;
  port: number;
  service: string;
  /**
   * published: the routing mesh; name: a service's address on a stack network of this node;
   * guard: a local container's port for members only (its `port` is a wish: 0 or the one it had)
   */
  kind: 'published' | 'name' | 'guard';
  /** guard: what names it across plans (guard-plan.ts guardId) */
  id?: string;
  /** live replicas' addresses, this node's first (they skip a hop) */
  targets: ForwardTarget[];
}

export interface MeshService {
  name: string;
  stack?: string;
  ports: PortSpec[];
}

export interface MeshReplica {
  service: string;
  nodeId: string;
  /** the node's address (where its host ports listen) */
  addr: string;
  /** the container's own IP, for replicas on this node when it is known */
  containerIp?: string;
  /** where other nodes reach its ports (its guards', or Docker's own bindings): container port → host port */
  ports: { container: number; protocol: Protocol; hostPort: number }[];
}

export interface MeshInput {
  self: { id: string; addr: string };
  services: MeshService[];
  /** running replicas of the current generation on alive nodes (the caller filters, as the route table does) */
  replicas: MeshReplica[];
  /** this node's address for each stack service, on the stack's network here (Warren name → IP) */
  nameAddrs: ReadonlyMap<string, string>;
}

export interface MeshPlan {
  forwards: Forward[];
  /** one line each: a published port claimed twice (the deploy check refuses it; first by name wins) */
  problems: string[];
}

export const forwardKey = (f: Pick<Forward, 'protocol' | 'ip' | 'port' | 'kind' | 'id'>) => (f.kind === 'guard' ? `guard/${f.id}` : `${f.protocol}/${f.ip}:${f.port}`);

/** Is this port meshed (published on every node) rather than bound by Docker on one node? */
export const isMeshed = (p: PortSpec): boolean => p.published !== undefined && !p.hostIp;

function targetsFor(replicas: MeshReplica[], self: string, container: number, protocol: Protocol): ForwardTarget[] {
  const local: ForwardTarget[] = [];
  const remote: ForwardTarget[] = [];
  for (const r of replicas) {
    if (r.nodeId === self && r.containerIp) {
      // reached on the Docker network directly; the container listens on its port whether or not Docker published it
      local.push({ host: r.containerIp, port: container, nodeId: r.nodeId });
      continue;
    }
    const hp = r.ports.find((p) => p.container === container && p.protocol === protocol);
    if (!hp) continue; // not published on that node: not reachable from here
    (r.nodeId === self ? local : remote).push({ host: r.addr, port: hp.hostPort, nodeId: r.nodeId, node: true });
  }
  const byAddr = (a: ForwardTarget, b: ForwardTarget) => a.host.localeCompare(b.host) || a.port - b.port;
  return [...local.sort(byAddr), ...remote.sort(byAddr)];
}

/** The forwards this node runs, in a stable order (by key). */
export function planForwards(input: MeshInput): MeshPlan {
  const { self } = input;
  const replicasOf = new Map<string, MeshReplica[]>();
  for (const r of input.replicas) {
    let list = replicasOf.get(r.service);
    if (!list) replicasOf.set(r.service, (list = []));
    list.push(r);
  }
  const out = new Map<string, Forward>();
  const problems: string[] = [];
  const services = [...input.services].sort((a, b) => a.name.localeCompare(b.name));
  for (const s of services) {
    const replicas = replicasOf.get(s.name) ?? [];
    for (const p of s.ports) {
      if (!isMeshed(p)) continue;
      const f: Forward = { protocol: p.protocol, ip: self.addr, port: p.published!, service: s.name, kind: 'published', targets: targetsFor(replicas, self.id, p.container, p.protocol) };
      const key = forwardKey(f);
      const taken = out.get(key);
      if (taken) {
        if (taken.service !== s.name) problems.push(`${s.name}: host port ${p.published}/${p.protocol} is already published by ${taken.service}: only ${taken.service} answers on it`);
        continue;
      }
      out.set(key, f);
    }
    const ip = input.nameAddrs.get(s.name);
    if (ip === undefined) continue;
    // the declared ports and every port Docker published for a replica (the image's EXPOSE)
    const ports = new Map<string, { container: number; protocol: Protocol }>();
    for (const p of s.ports) ports.set(`${p.protocol}/${p.container}`, p);
    for (const r of replicas) for (const p of r.ports) ports.set(`${p.protocol}/${p.container}`, p);
    for (const p of ports.values()) {
      const f: Forward = { protocol: p.protocol, ip, port: p.container, service: s.name, kind: 'name', targets: targetsFor(replicas, self.id, p.container, p.protocol) };
      out.set(forwardKey(f), f);
    }
  }
  const forwards = [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, f]) => f);
  return { forwards, problems };
}
