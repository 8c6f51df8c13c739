/**
 * What the mesh changes in a container Warren creates (see core/mesh/forward-plan.ts). Pure.
 * - A meshed port (published, no host IP) is bound by Docker to a host port Docker picks: every
 *   node's mesh listens on the published port itself, this one included.
 * - A stack container also publishes the ports its image EXPOSEs and the file did not list
 *   (Postgres' 5432, Redis' 6379: compose files rarely list them), on the node's address at host
 *   ports Docker picks, so the stack's services on other nodes reach them.
 * - A stack container asks the DNS server on its stack network's gateway first (Docker's embedded
 *   DNS still answers its own network's containers and forwards the rest there), then the host's
 *   resolvers (it answers only the stack's names and refuses the rest, which moves on to them).
 */
import { isMeshed } from '../core/mesh/forward-plan.ts';
import type { ContainerSpec } from '../core/service-types.ts';

export interface DockerPort {
  /** "80/tcp" */
  key: string;
  hostIp: string;
  /** '' lets Docker pick */
  hostPort: string;
}

const keyOf = (container: number, protocol: string) => `${container}/${protocol}`;

/** The ports Docker publishes for a container of `spec` on a node whose address is `addr`. */
export function dockerPorts(spec: ContainerSpec, addr: string, imageExposed: readonly string[]): DockerPort[] {
  if (spec.options?.hostNetwork) return [];
  const out: DockerPort[] = spec.ports.map((p) => ({ key: keyOf(p.container, p.protocol), hostIp: p.hostIp ?? addr, hostPort: p.published !== undefined && !isMeshed(p) ? String(p.published) : '' }));
  if (spec.options?.network) {
    for (const e of imageExposed) {
      const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(e);
      if (!m) continue; // sctp, ranges: not published
      const key = keyOf(Number(m[1]), m[2] ?? 'tcp');
      if (!out.some((p) => p.key === key)) out.push({ key, hostIp: addr, hostPort: '' });
    }
  }
  return out;
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
