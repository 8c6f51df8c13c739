import { stackWebServices } from '../core/mesh/stack-host.ts';
import { runsNoReplicas, type MemberView } from '../core/views.ts';
import type { Catalog } from '../runtime/catalog.ts';
import type { ContainerAddresses } from '../runtime/container-addresses.ts';
import { backendFor, type LocalContainers } from './backend-choice.ts';
import { isContainerHostIn } from './proxy-source.ts';
import type { Backend, RouteSource } from './proxy-types.ts';
import type { ZoneSource } from './dns-zone.ts';

/**
 * What the proxy and DNS need, derived from the catalog (assignments + replica reports, kept
 * current by an etcd watch), gossip (which nodes are alive) and, for this node's own replicas,
 * their container addresses (see backend-choice.ts). Cached per service and dropped on every
 * change of any of them, so the proxy's hot path is a map lookup.
 */
export class RouteTable implements RouteSource {
  private cache = new Map<string, Backend[]>();
  /** gossip's member list as of the last change (DNS asks for it on every query) */
  private memberCache: MemberView[] | undefined;
  private readonly local: LocalContainers | undefined;
  private readonly listeners: (() => void)[] = [];
  /** `<stack>` → the stack's web service (core/mesh/stack-host.ts), as of the last change */
  private webCache: Map<string, string> | undefined;

  constructor(
    private readonly catalog: Catalog,
    private readonly members: () => MemberView[],
    /** this node's id and its containers' addresses: local replicas are reached there directly */
    private readonly own?: { nodeId: string; addresses: ContainerAddresses },
  ) {
    catalog.on('change', () => this.invalidate());
    if (own) {
      own.addresses.on('change', () => this.invalidate());
      this.local = { nodeId: own.nodeId, address: (id) => own.addresses.get(id) };
    }
  }

  /** The proxy could not connect to a container address: use the published port for that container. */
  unreachable(b: Backend): void {
    if (b.container) this.own?.addresses.unreachable(b.container.id, b.container.epoch);
  }

  /** Call when gossip's view changes (a dead node's replicas stop being routed to at once). */
  invalidate(): void {
    this.cache.clear();
    this.memberCache = undefined;
    this.webCache = undefined;
    for (const fn of this.listeners) fn();
  }

  /** Called after every change (the proxy workers' copies are refreshed from it). */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private currentMembers(): MemberView[] {
    return (this.memberCache ??= this.members());
  }

  /** The service a name stands for: itself, else the web service of the stack of that name. */
  private target(name: string): string {
    if (this.catalog.service(name) !== undefined) return name;
    return (this.webCache ??= stackWebServices(this.catalog.services())).get(name) ?? name;
  }

  backends(service: string): Backend[] {
    let list = this.cache.get(service);
    if (!list) {
      list = this.compute(this.target(service));
      this.cache.set(service, list);
    }
    return list;
  }

  private compute(service: string): Backend[] {
    const record = this.catalog.assignment(service);
    if (!record) return [];
    const gone = new Set(this.currentMembers().filter((m) => runsNoReplicas(m.state)).map((m) => m.id));
    const out: Backend[] = [];
    const httpPort = this.catalog.service(service)?.ports?.find((p) => p.protocol === 'tcp')?.container;
    for (const slot of record.slots) {
      const s = this.catalog.status(service, slot.index);
      if (!s || s.state !== 'running' || s.nodeId !== slot.nodeId || s.generation !== slot.generation || gone.has(s.nodeId)) continue;
      const b = backendFor(s, this.local, httpPort);
      if (b) out.push(b);
    }
    return out;
  }

  /** Is `host` a local container's address the proxy was handed (not a node's)? */
  isContainerHost(host: string): boolean {
    return isContainerHostIn(this.cache.values(), host);
  }

  hasService(service: string): boolean {
    return this.catalog.service(this.target(service)) !== undefined;
  }

  /** every service's name, and every stack's name that names its web service */
  services(): string[] {
    const specs = this.catalog.services();
    const names = specs.map((s) => s.name);
    const taken = new Set(names);
    this.webCache ??= stackWebServices(specs);
    return [...names, ...[...this.webCache.keys()].filter((k) => !taken.has(k))];
  }

  httpsRedirect(service: string): boolean {
    return this.catalog.service(this.target(service))?.httpsRedirect === true;
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
