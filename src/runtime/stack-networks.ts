/**
 * The Docker network of each stack on this node: containers of one stack on one node reach each
 * other by service name, container_name and aliases through Docker's embedded DNS. Networks are
 * named and labelled per cluster and node (several test agents share one Docker engine), made on
 * a stack's first container here and removed once nothing of the stack is wanted or running here.
 */
import type Docker from 'dockerode';
import { readFileSync } from 'node:fs';
import { stackNetworkName } from './container-options.ts';
import { resolvConfServers } from './mesh-container.ts';

export interface NetworkOwner {
  clusterId: string;
  nodeId: string;
}

const LABEL_STACK = 'warren.stack';

export class StackNetworks {
  /** this node's stack networks: name → stack */
  private readonly known = new Map<string, string>();
  private listed = false;
  /** creations in flight: two replicas of one stack starting at once must not make two networks (Docker allows duplicate names) */
  private readonly creating = new Map<string, Promise<string>>();

  constructor(private readonly docker: Docker) {}

  /** The stack's network on this node, created when missing; its name. */
  async ensure(id: NetworkOwner, stack: string): Promise<string> {
    const name = stackNetworkName(id.clusterId, id.nodeId, stack);
    if (this.known.has(name)) return name;
    let p = this.creating.get(name);
    if (!p) {
      p = this.create(id, stack, name).finally(() => this.creating.delete(name));
      this.creating.set(name, p);
    }
    return p;
  }

  private async create(id: NetworkOwner, stack: string, name: string): Promise<string> {
    const existing = await this.docker.listNetworks({ filters: { name: [name] } });
    if (existing.some((n) => n.Name === name)) {
      this.known.set(name, stack);
      return name;
    }
    await this.docker
      .createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: { 'warren.cluster': id.clusterId, 'warren.node': id.nodeId, [LABEL_STACK]: stack } })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 409) throw err; // 409: it exists already
      });
    this.known.set(name, stack);
    return name;
  }

  /** A stack container's DNS servers: its network's gateway (the mesh's names, see mesh-container.ts), then the host's. */
  async dnsServers(name: string): Promise<string[]> {
    const info = await this.docker.getNetwork(name).inspect();
    const gateway = (info as { IPAM?: { Config?: { Gateway?: string }[] } }).IPAM?.Config?.[0]?.Gateway;
    let host = '';
    try {
      host = readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      // no resolv.conf: Docker's defaults
    }
    return [...(gateway ? [gateway] : []), ...resolvConfServers(host)];
  }

  /** Removes this node's stack networks of stacks not in `inUse`; a network still in use stays for the next pass. */
  async prune(id: NetworkOwner, inUse: Set<string>): Promise<void> {
    if (!this.listed) {
      const nets = await this.docker.listNetworks({ filters: { label: [`warren.cluster=${id.clusterId}`, `warren.node=${id.nodeId}`] } });
      for (const n of nets) if (n.Labels?.[LABEL_STACK]) this.known.set(n.Name, n.Labels[LABEL_STACK]);
      this.listed = true;
    }
    for (const [name, stack] of [...this.known]) {
      if (inUse.has(stack)) continue;
      try {
        await this.docker.getNetwork(name).remove();
        this.known.delete(name);
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) this.known.delete(name);
      }
    }
  }
}
