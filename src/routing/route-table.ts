import type { MemberView } from '../core/views.ts';
import type { Catalog } from '../runtime/catalog.ts';
import type { Backend, RouteSource } from './proxy.ts';
import type { ZoneSource } from './dns-zone.ts';

/**
 * What the proxy and DNS need, derived from the catalog (assignments + replica reports, kept
 * current by an etcd watch) and gossip (which nodes are alive). Cached per service and dropped on
 * every change, so the proxy's hot path is a map lookup.
 */
export class RouteTable implements RouteSource {
  private cache = new Map<string, Backend[]>();
  /** gossip's member list as of the last change (DNS asks for it on every query) */
  private memberCache: MemberView[] | undefined;

  constructor(
    private readonly catalog: Catalog,
    private readonly members: () => MemberView[],
  ) {
    catalog.on('change', () => this.invalidate());
  }

  /** Call when gossip's view changes (a dead node's replicas stop being routed to at once). */
  invalidate(): void {
    this.cache.clear();
    this.memberCache = undefined;
  }

  private currentMembers(): MemberView[] {
    return (this.memberCache ??= this.members());
  }

  backends(service: string): Backend[] {
    let list = this.cache.get(service);
    if (!list) {
      list = this.compute(service);
      this.cache.set(service, list);
    }
    return list;
  }

  private compute(service: string): Backend[] {
    const record = this.catalog.assignment(service);
    if (!record) return [];
    const gone = new Set(this.currentMembers().filter((m) => m.state === 'dead' || m.state === 'left').map((m) => m.id));
    const out: Backend[] = [];
    for (const slot of record.slots) {
      const s = this.catalog.status(service, slot.index);
      if (!s || s.state !== 'running' || s.nodeId !== slot.nodeId || s.generation !== slot.generation || gone.has(s.nodeId)) continue;
      // the first published TCP port is the service's HTTP port
      const port = s.ports.find((p) => p.protocol === 'tcp');
      if (port) out.push({ host: s.addr, port: port.hostPort, nodeId: s.nodeId, slot: slot.index });
    }
    return out;
  }

  hasService(service: string): boolean {
    return this.catalog.service(service) !== undefined;
  }

  services(): string[] {
    return this.catalog.services().map((s) => s.name);
  }

  /** The DNS zone: every alive node proxies every service, so a service's name answers with them all. */
  zone(domain: string): ZoneSource {
    const alive = () => this.currentMembers().filter((m) => m.state === 'alive');
    return {
      domain,
      serviceAddrs: (service) => (this.hasService(service) ? alive().map((m) => m.addr) : undefined),
      nodeAddr: (name) => alive().find((m) => m.name === name)?.addr,
      nameservers: () => alive().map((m) => ({ name: m.name, addr: m.addr })),
    };
  }
}
