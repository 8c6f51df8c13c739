/**
 * The guards: how other nodes reach a stack container's internal ports (its `expose:`, its
 * image's EXPOSE ports, the container side of its `ports:`) without Docker publishing them on the
 * node's address, where any machine of the LAN would reach them (compose never publishes those).
 * Pure.
 *
 * For each running stack container of this node and each such port, the mesh listens on the
 * node's `--bind` address at a port of its own (the kernel picks it the first time; kept while
 * the container runs), admits a TCP connection or UDP datagram only when its source address is
 * an admitted member's (gossip's alive and suspect members, this node included), and forwards it
 * to the container's IP and port. The node reports that port as the replica's host port (its
 * status in etcd), so other nodes' forwards and proxies target it, and they connect from their
 * own `--bind` address (sourceFor) so the check holds whatever source the kernel would pick.
 *
 * Limits: UDP has no handshake, so a LAN machine that forges a member's source address gets its
 * datagrams in (the answers go to the member); TCP cannot be forged that way off-path. The
 * traffic between members is not encrypted.
 */
import type { MemberView } from '../views.ts';
import type { Forward, Protocol } from './forward-plan.ts';

/** A running stack container of this node, as Docker lists it. */
export interface GuardedContainer {
  id: string;
  service: string;
  /** its IP on its stack network (undefined: not known now, no guard) */
  ip?: string;
  /** every container port Docker knows for it (declared, EXPOSEd) */
  ports: { container: number; protocol: Protocol }[];
  /** the ports Docker publishes on the node's address itself (compose's `ports: ["80"]`): no guard needed */
  published: { container: number; protocol: Protocol; hostPort: number }[];
}

export type HostPorts = { container: number; protocol: Protocol; hostPort: number }[];

/** The id that names a guard across plans (its port is not part of it). */
export const guardId = (containerId: string, protocol: Protocol, container: number) => `${containerId}/${protocol}/${container}`;

const portKey = (p: { container: number; protocol: Protocol }) => `${p.protocol}/${p.container}`;

/**
 * The guard forwards of this node: one per internal port of each container with a known IP, at
 * the port it had (`prev`, by guard id) or 0 (any). Sorted by id.
 */
export function planGuards(self: { id: string; addr: string }, containers: readonly GuardedContainer[], prev: ReadonlyMap<string, number>): Forward[] {
  const out: Forward[] = [];
  for (const c of containers) {
    if (!c.ip) continue;
    const published = new Set(c.published.map(portKey));
    const seen = new Set<string>();
    for (const p of c.ports) {
      const k = portKey(p);
      if (published.has(k) || seen.has(k)) continue;
      seen.add(k);
      const id = guardId(c.id, p.protocol, p.container);
      out.push({ kind: 'guard', id, protocol: p.protocol, ip: self.addr, port: prev.get(id) ?? 0, service: c.service, targets: [{ host: c.ip, port: p.container, nodeId: self.id }] });
    }
  }
  return out.sort((a, b) => (a.id! < b.id! ? -1 : a.id! > b.id! ? 1 : 0));
}

/**
 * What a stack container reports as its host ports (where the other nodes reach it): Docker's
 * own bindings on the node's address, then the guards' ports (by guard id, as the forwarder
 * listens on them), sorted by protocol and container port.
 */
export function reportedPorts(containerId: string, published: HostPorts, ports: readonly { container: number; protocol: Protocol }[], listening: ReadonlyMap<string, number>): HostPorts {
  const out = new Map<string, HostPorts[number]>();
  for (const p of published) if (!out.has(portKey(p))) out.set(portKey(p), p);
  for (const p of ports) {
    const port = listening.get(guardId(containerId, p.protocol, p.container));
    if (port !== undefined && !out.has(portKey(p))) out.set(portKey(p), { container: p.container, protocol: p.protocol, hostPort: port });
  }
  return [...out.values()].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.container - b.container);
}

/** The source addresses the guards admit: alive and suspect members' addresses (this node is alive). */
export function memberSources(members: readonly Pick<MemberView, 'addr' | 'state'>[]): string[] {
  const out = new Set<string>();
  for (const m of members) if ((m.state === 'alive' || m.state === 'suspect') && isSpecific(m.addr)) out.add(normalizeAddr(m.addr));
  return [...out].sort();
}

/** "::ffff:1.2.3.4" (an IPv4 peer on a dual-stack socket) → "1.2.3.4"; IPv6 lowercased. */
export function normalizeAddr(a: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return m ? m[1]! : a.toLowerCase();
}

/** Does a guard admit this peer? */
export function admits(allowed: ReadonlySet<string>, remote: string | undefined): boolean {
  return remote !== undefined && allowed.has(normalizeAddr(remote));
}

const isV4 = (a: string) => /^\d+\.\d+\.\d+\.\d+$/.test(a);
const isLoopback = (a: string) => (isV4(a) ? a.startsWith('127.') : normalizeAddr(a) === '::1');
/** an address one can bind and be seen from: not 0.0.0.0, ::, or a name */
const isSpecific = (a: string) => (isV4(a) ? a !== '0.0.0.0' : a.includes(':') && normalizeAddr(a) !== '::');

/**
 * The address to connect from when this node (bound to `bind`) reaches another node's guard at
 * `dest`: its own bind address, so the guard sees a member's address whatever source the kernel
 * would pick (on one machine's loopback it picks 127.0.0.1; with several addresses, any of them).
 * Undefined when that cannot work: no specific bind address, another address family, or a
 * loopback bind and a destination elsewhere.
 */
export function sourceFor(bind: string, dest: string): string | undefined {
  if (!isSpecific(bind) || isV4(bind) !== isV4(dest)) return undefined;
  if (isLoopback(bind) && !isLoopback(dest)) return undefined;
  return bind;
}
