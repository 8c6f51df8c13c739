/**
 * Node choice for the scheduler (src/core/scheduler.ts): which nodes may take a replica, which one
 * is best, and in words why none can. Holds the plan's running tallies (replicas per node, memory
 * promised to containers that have not started yet), so every placement sees the ones before it.
 */
import type { Constraint, ServiceSpec } from './service-types.ts';
import type { SchedNode } from './scheduler.ts';
import type { VolumeHome } from './volumes/volume-home.ts';

export type Placement = { nodeId: string; reason?: undefined } | { nodeId: null; reason: string };

export const describeConstraint = (c: Constraint): string => (c.kind === 'node' ? `node=${c.value}` : `label=${c.key}=${c.value}`);

export function satisfies(node: SchedNode, c: Constraint): boolean {
  return c.kind === 'node' ? node.name === c.value || node.id === c.value : node.labels[c.key] === c.value;
}

/** The host devices a service's containers need (sorted, once each): only nodes that have them all may run it. */
/** The host paths of a list of device mappings, once each, sorted: what a node must have. */
export const deviceHosts = (devices: readonly { host: string }[] | undefined): string[] => [...new Set((devices ?? []).map((d) => d.host))].sort();

export const devicesOf = (svc: Pick<ServiceSpec, 'options'>): string[] => deviceHosts(svc.options?.devices);

const listDevices = (paths: readonly string[]) => `${paths.length > 1 ? 'devices' : 'device'} ${paths.join(', ')}`;

/** The node ports a host-network service's replica holds ("8123/tcp"): no two replicas holding one share a node. */
export const hostPortsOf = (svc: Pick<ServiceSpec, 'options'>): readonly string[] => (svc.options?.hostNetwork ? (svc.options.hostPorts ?? []) : []);

/**
 * Why a replica must leave its node right away (undefined: it may stay). A suspect or not yet heard
 * node keeps its replicas, since a blip must move nothing, and so does a restarting one (it stopped
 * them and starts them again when it is back; if it is not back in its grace it reads dead);
 * draining is handled apart, one at a time. Only alive nodes take new replicas (Placer).
 */
export function leaveReason(nodeId: string, node: SchedNode | undefined, svc: Pick<ServiceSpec, 'constraints' | 'options'>): string | undefined {
  if (!node) return `node ${nodeId} was removed`;
  if (node.state === 'dead') return `node ${node.name} is dead`;
  if (node.state === 'left') return `node ${node.name} left`;
  const broken = svc.constraints.filter((c) => !satisfies(node, c));
  if (broken.length > 0) return `node ${node.name} no longer matches ${broken.map(describeConstraint).join(', ')}`;
  // only a device the node has checked and lacks (unplugged, or newly asked for): one it has not
  // checked yet (a service just updated to ask for it) is no reason to move
  const lost = devicesOf(svc).filter((p) => node.devices?.[p] === false);
  if (lost.length > 0) return `node ${node.name} has no ${listDevices(lost)}`;
  return undefined;
}

export function formatBytes(b: number): string {
  const GiB = 2 ** 30;
  return b >= GiB ? `${+(b / GiB).toFixed(1)} GiB` : `${+(b / 2 ** 20).toFixed(1)} MiB`;
}

const order = (a: number | string, b: number | string): number => (a < b ? -1 : a > b ? 1 : 0);

export class Placer {
  private readonly load = new Map<string, number>();
  private readonly reserved = new Map<string, number>();
  /** replicas of each stack per node: a stack's services prefer one node (one hop less, and it moves as a unit); constraints may split it (names then resolve through the mesh: core/mesh) */
  private readonly stacks = new Map<string, Map<string, number>>();
  /** host-network replicas holding each node port, per node ("<node>\n<port>/<proto>" → count) */
  private readonly ports = new Map<string, number>();

  /** `nodes` sorted by id */
  constructor(private readonly nodes: readonly SchedNode[]) {}

  /** a replica of `svc` arrives on (1) or leaves (-1) a node: its load, its stack's tally, the node ports it holds */
  count(nodeId: string, delta: number, svc: Pick<ServiceSpec, 'stack' | 'options'>): void {
    this.load.set(nodeId, (this.load.get(nodeId) ?? 0) + delta);
    for (const p of hostPortsOf(svc)) this.ports.set(`${nodeId}\n${p}`, (this.ports.get(`${nodeId}\n${p}`) ?? 0) + delta);
    const { stack } = svc;
    if (stack === undefined) return;
    let m = this.stacks.get(stack);
    if (!m) this.stacks.set(stack, (m = new Map()));
    m.set(nodeId, (m.get(nodeId) ?? 0) + delta);
  }

  /** memory a container will take that the node's heartbeat does not show yet */
  reserve(nodeId: string, bytes: number | undefined): void {
    if (bytes) this.reserved.set(nodeId, (this.reserved.get(nodeId) ?? 0) + bytes);
  }

  /** bytes free on a node; Infinity when it has not reported figures (it counts as fitting) */
  private free(n: SchedNode): number {
    const h = n.health;
    if (!h || h.memTotalBytes <= 0) return Infinity;
    return h.memTotalBytes - h.memUsedBytes - (this.reserved.get(n.id) ?? 0);
  }

  /** share of memory in use; nodes without figures come after the ones we know */
  private usedRatio(n: SchedNode): number {
    const h = n.health;
    if (!h || h.memTotalBytes <= 0) return Infinity;
    return (h.memUsedBytes + (this.reserved.get(n.id) ?? 0)) / h.memTotalBytes;
  }

  /**
   * The best node for one replica of `svc` (the caller counts it in: `count`, `reserve`); `own` is
   * this service's replicas per node. Nodes in `avoid` failed to pull its image: with `fallback`,
   * they are still used when nothing else can take it (an unplaced replica is worse than a retry).
   */
  place(svc: ServiceSpec, own: Map<string, number>, avoid: readonly string[], fallback: boolean, home?: VolumeHome): Placement {
    if (home?.kind === 'wait') return { nodeId: null, reason: home.reason };
    const alive = this.nodes.filter((n) => n.state === 'alive');
    if (alive.length === 0) return { nodeId: null, reason: 'no alive node' };
    const open = alive.filter((n) => !n.draining);
    if (open.length === 0) return { nodeId: null, reason: 'every alive node is draining' };
    const matching = open.filter((n) => svc.constraints.every((c) => satisfies(n, c)));
    if (matching.length === 0) return { nodeId: null, reason: `no alive node matches ${svc.constraints.map(describeConstraint).join(', ')}` };
    const devices = devicesOf(svc);
    const equipped = devices.length > 0 ? matching.filter((n) => devices.every((p) => n.devices?.[p] === true)) : matching;
    if (equipped.length === 0) return { nodeId: null, reason: `no alive node${svc.constraints.length ? ' that matches its constraints' : ''} has ${listDevices(devices)}` };
    const ports = hostPortsOf(svc);
    const portsFree = ports.length > 0 ? equipped.filter((n) => ports.every((p) => (this.ports.get(`${n.id}\n${p}`) ?? 0) <= 0)) : equipped;
    if (portsFree.length === 0) return { nodeId: null, reason: `no alive node${equipped.length < open.length ? ' that can run it' : ''} has ${ports.length > 1 ? 'ports' : 'port'} ${ports.join(', ')} free (network_mode: host; another host-network replica listens there)` };
    const mem = svc.memoryBytes ?? 0;
    const fitting = mem > 0 ? portsFree.filter((n) => this.free(n) >= mem) : portsFree;
    if (fitting.length === 0) return { nodeId: null, reason: `no alive node has ${formatBytes(mem)} free memory` };
    const preferred = fitting.filter((n) => !avoid.includes(n.id));
    const pool = preferred.length > 0 ? preferred : fallback ? fitting : [];
    if (pool.length === 0) return { nodeId: null, reason: `image ${svc.image} failed to pull on every node that could run it` };
    // replicated volumes: the node with the newest copy that can take it (its data is there already)
    if (home?.kind === 'nodes') {
      const first = home.nodes.find((id) => pool.some((n) => n.id === id));
      const names = home.nodes.map((id) => this.nodes.find((n) => n.id === id)?.name ?? id).join(', ');
      return first ? { nodeId: first } : { nodeId: null, reason: `no node holding a copy of its volumes can take it (copies on ${names})` };
    }

    // a stack's other services first (most of them), then spread (this service), then overall
    // load, then memory pressure, then id
    const stack = svc.stack === undefined ? undefined : this.stacks.get(svc.stack);
    const siblings = (n: SchedNode) => (stack ? (stack.get(n.id) ?? 0) - (own.get(n.id) ?? 0) : 0);
    const rank = (n: SchedNode) => [-siblings(n), own.get(n.id) ?? 0, this.load.get(n.id) ?? 0, this.usedRatio(n)];
    let best = pool[0]!;
    for (const n of pool.slice(1)) {
      const a = rank(n);
      const b = rank(best);
      const c = order(a[0]!, b[0]!) || order(a[1]!, b[1]!) || order(a[2]!, b[2]!) || order(a[3]!, b[3]!) || order(n.id, best.id);
      if (c < 0) best = n;
    }
    return { nodeId: best.id };
  }
}
