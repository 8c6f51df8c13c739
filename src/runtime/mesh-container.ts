/**
 * What the mesh changes in a container Warren creates (see core/mesh/forward-plan.ts). Pure.
 * - A plain service's ports are published on the node's address at host ports Docker picks (the
 *   proxy reaches other nodes' replicas there).
 * - A stack container's ports are published by Docker only where compose would publish them:
 *   `ports: ["80"]` on the node's address at a host port Docker picks, "127.0.0.1:8080:80" on its
 *   host IP. Its other ports (the meshed "8080:80", whose port every node's mesh listens on
 *   itself; `expose:`; the image's EXPOSE) are only exposed, and other nodes reach them through
 *   this node's guards, which admit members only (core/mesh/guard-plan.ts).
 * - A stack container asks the DNS server on its stack network's gateway first (Docker's embedded
 *   DNS still answers its own network's containers and forwards the rest there), then the host's
 *   resolvers (it answers only the stack's names and refuses the rest, which moves on to them).
 */
import { isMeshed } from '../core/mesh/forward-plan.ts';
import type { ContainerSpec, ReplicaStatus } from '../core/service-types.ts';

export interface DockerPort {
  /** "80/tcp" */
  key: string;
  /** where Docker publishes it; absent: exposed only (no binding) */
  bind?: { hostIp: string; /** '' lets Docker pick */ hostPort: string };
}

const keyOf = (container: number, protocol: string) => `${container}/${protocol}`;

/** The ports of a container of `spec` on a node whose address is `addr`, and which Docker publishes. */
export function dockerPorts(spec: ContainerSpec, addr: string): DockerPort[] {
  if (spec.options?.hostNetwork) return [];
  const stack = spec.options?.network !== undefined;
  return spec.ports.map((p): DockerPort => {
    const key = keyOf(p.container, p.protocol);
    if (stack && !p.hostIp && !p.anyHostPort) return { key };
    return { key, bind: { hostIp: p.hostIp ?? addr, hostPort: p.published !== undefined && !isMeshed(p) ? String(p.published) : '' } };
  });
}

/**
 * A host-network replica's ports as its node reports them: the node's own ports it listens on
 * (Docker lists none for such a container), so other nodes' name forwards and proxies reach it at
 * its node's address: those its file lists (ports, expose), then those it was `found` listening
 * on (host-listen-ports.ts). undefined for any other container.
 */
export function hostNetworkPorts(spec: Pick<ContainerSpec, 'options'>, found: ReplicaStatus['ports'] = []): ReplicaStatus['ports'] | undefined {
  if (!spec.options?.hostNetwork) return undefined;
  const listed = (spec.options.hostPorts ?? []).flatMap((held) => {
    const m = /^(\d+)\/(tcp|udp)$/.exec(held);
    return m ? [{ container: Number(m[1]), protocol: m[2] as 'tcp' | 'udp', hostPort: Number(m[1]) }] : [];
  });
  return [...listed, ...found.filter((f) => !listed.some((l) => l.container === f.container && l.protocol === f.protocol))];
}

/** The nameserver addresses of a resolv.conf text; Docker's defaults when it names none. */
export function resolvConfServers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) out.push(m[1]!.replace(/%.*$/, ''));
  }
  return out.length ? out : ['8.8.8.8', '8.8.4.4'];
}
