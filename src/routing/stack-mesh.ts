/**
 * The driver of the stacks' routing mesh and names across nodes (the design is in
 * core/mesh/forward-plan.ts): on every change of the catalog, of this node's container addresses
 * or of gossip's member list (and every few seconds, for retries), it reads this node's stack
 * networks from Docker, gives their services addresses on the networks' bridges, serves their
 * names from a DNS server on each gateway, and makes the forwarder listen where the plan says:
 * the routing mesh, the names, and the guards of this node's stack containers' ports (members
 * only, core/mesh/guard-plan.ts), whose ports it hands to the reconciler to report.
 * Runs serialised: a change during a pass starts one more pass after it.
 */
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { planForwards, type Forward, type MeshReplica, type MeshService } from '../core/mesh/forward-plan.ts';
import { memberSources, planGuards, reportedPorts, type GuardedContainer } from '../core/mesh/guard-plan.ts';
import { allocateNameAddrs, nameTable, topAddresses } from '../core/mesh/name-addrs.ts';
import type { ReplicaStatus } from '../core/service-types.ts';
import { LABELS, publishedOn } from '../runtime/docker-engine.ts';
import type { StackHostPorts } from '../runtime/host-ports.ts';
import { runsNoReplicas, type MemberView } from '../core/views.ts';
import { syncBridgeAddresses } from '../runtime/bridge-addresses.ts';
import type { Catalog } from '../runtime/catalog.ts';
import type { ContainerAddresses } from '../runtime/container-addresses.ts';
import { L4Forwarder, type ForwarderAccess } from './l4-forwarder.ts';
import { meshAddrsText, readMeshAddrs, writeMeshAddrs } from './mesh-addrs-file.ts';
import { MeshDns } from './mesh-dns.ts';

const RESYNC_MS = 5_000;
const DEBOUNCE_MS = 50;
/** service addresses per stack network and node */
const POOL_SIZE = 256;

interface StackNet {
  stack: string;
  subnet: string;
  gateway: string;
  bridge: string;
}

export interface StackMeshDeps {
  docker: Docker;
  catalog: Catalog;
  addresses: ContainerAddresses;
  members: () => MemberView[];
  self: { id: string; addr: string };
  clusterId: () => string | undefined;
  logger: Logger;
  /** where the forwards run: the agent passes its mesh worker process (mesh-process.ts); default in this process */
  forwarder?: Forwarding;
  /** where the guards' ports go (the reconciler reports them) */
  stackPorts?: StackHostPorts;
  /** where the services' addresses are kept across restarts (mesh-addrs-file.ts); none: given afresh at every start */
  addrsFile?: string;
}

/** What runs the forwards: an L4Forwarder here, or the mesh worker process. Answers the guards' ports by id. */
export interface Forwarding {
  apply(forwards: Forward[], access: ForwarderAccess): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export class StackMesh {
  readonly forwarder: Forwarding;
  /** network id → what inspect said (a network's subnet and bridge never change) */
  private readonly nets = new Map<string, StackNet>();
  /** stack → Warren service → its address on the stack's network here (as the last start left them, until the catalog is read) */
  private readonly addrs: Map<string, Map<string, string>>;
  /** the text of the addresses file as last written */
  private savedAddrs: string;
  /** bridge → the /32s last synced (ip is run only on a change) */
  private readonly synced = new Map<string, string>();
  /** gateway → its DNS server */
  private readonly dns = new Map<string, MeshDns>();
  private timer: NodeJS.Timeout | undefined;
  private interval: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastProblems = '';
  /** each guard's port (by guard id) as the forwarder last told: a guard keeps its port */
  private guardPorts = new Map<string, number>();
  private readonly warned = new Set<string>();

  constructor(private readonly d: StackMeshDeps) {
    this.forwarder = d.forwarder ?? new L4Forwarder(d.logger);
    this.addrs = d.addrsFile ? readMeshAddrs(d.addrsFile) : new Map();
    this.savedAddrs = meshAddrsText(this.addrs);
  }

  start(): void {
    this.d.catalog.on('change', () => this.schedule());
    this.d.addresses.on('change', () => this.schedule());
    this.interval = setInterval(() => this.schedule(), RESYNC_MS);
    this.interval.unref();
    this.schedule();
  }

  /** Call when gossip's member list changes (a dead node's replicas stop being targets). */
  schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.running) {
        this.again = true;
        return;
      }
      this.running = this.pass()
        .catch((err: Error) => this.d.logger.warn({ err: err.message }, 'mesh pass failed: retried'))
        .finally(() => {
          this.running = undefined;
          if (this.again) {
            this.again = false;
            this.schedule();
          }
        });
    }, DEBOUNCE_MS);
  }

  /** Settles the current pass (tests and benchmarks wait for it). */
  async idle(): Promise<void> {
    while (this.running || this.timer) await (this.running ?? new Promise((r) => setTimeout(r, DEBOUNCE_MS)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.interval);
    await this.running;
    await this.forwarder.close();
    for (const s of this.dns.values()) await s.close();
    this.dns.clear();
  }

  private async pass(): Promise<void> {
    const cluster = this.d.clusterId();
    const nets = cluster ? await this.stackNets(cluster) : [];
    const services = this.d.catalog.services();
    // before the catalog is read every service looks gone: the addresses stay as they were
    const known = this.d.catalog.ready;
    const nameAddrs = new Map<string, string>();
    const liveGateways = new Set<string>();
    for (const net of nets) {
      // a host-network service too: it is on no stack network, but its names are answered here and forwarded to its node's ports
      const members = services.filter((s) => s.stack === net.stack);
      const prev = this.addrs.get(net.stack) ?? new Map<string, string>();
      const alloc = known ? allocateNameAddrs(prev, members.map((s) => s.name), topAddresses(net.subnet, POOL_SIZE)) : prev;
      this.addrs.set(net.stack, alloc);
      const want = new Set(alloc.values());
      const wantKey = [...want].sort().join(',');
      if (this.synced.get(net.bridge) !== wantKey) {
        try {
          await syncBridgeAddresses(net.bridge, want);
          this.synced.set(net.bridge, wantKey);
        } catch (err) {
          // told once per bridge (retried every pass)
          if (!this.warned.has(net.bridge)) this.d.logger.warn({ bridge: net.bridge, err: (err as Error).message }, 'cannot set the stack services\' addresses on the bridge (needs root): their names do not resolve across nodes here');
          this.warned.add(net.bridge);
          continue;
        }
      }
      for (const [s, a] of alloc) nameAddrs.set(s, a);
      const table = nameTable(members.map((s) => ({ name: s.name, names: [...(s.options?.network?.aliases ?? s.options?.meshNames ?? []), ...(s.options?.hostname ? [s.options.hostname] : [])] })), alloc);
      let server = this.dns.get(net.gateway);
      if (!server) {
        try {
          server = await MeshDns.start(net.gateway);
          this.dns.set(net.gateway, server);
        } catch (err) {
          this.d.logger.warn({ gateway: net.gateway, err: (err as Error).message }, 'cannot serve the stack\'s names on its network gateway: retried');
        }
      }
      if (server) server.table = table;
      liveGateways.add(net.gateway);
    }
    for (const [gw, server] of [...this.dns]) {
      if (liveGateways.has(gw)) continue;
      this.dns.delete(gw);
      await server.close();
    }
    if (known) for (const stack of [...this.addrs.keys()]) if (!nets.some((n) => n.stack === stack)) this.addrs.delete(stack);
    await this.saveAddrs();

    const plan = planForwards({ self: this.d.self, services: services.map(meshService), replicas: this.liveReplicas(), nameAddrs });
    const problems = plan.problems.join('\n');
    if (problems && problems !== this.lastProblems) this.d.logger.warn({ problems: plan.problems }, 'published ports claimed twice');
    this.lastProblems = problems;
    const containers = cluster ? await this.stackContainers(cluster) : [];
    const guards = planGuards(this.d.self, containers, this.guardPorts);
    const access = { allowed: memberSources(this.d.members()), source: this.d.self.addr };
    this.guardPorts = new Map(Object.entries(await this.forwarder.apply([...plan.forwards, ...guards], access)));
    const reported = new Map<string, ReplicaStatus['ports']>();
    for (const c of containers) reported.set(c.id, reportedPorts(c.id, c.published, c.ports, this.guardPorts));
    this.d.stackPorts?.set(reported);
  }

  private async saveAddrs(): Promise<void> {
    const text = meshAddrsText(this.addrs);
    if (!this.d.addrsFile || text === this.savedAddrs) return;
    try {
      await writeMeshAddrs(this.d.addrsFile, text);
      this.savedAddrs = text;
    } catch (err) {
      this.d.logger.warn({ file: this.d.addrsFile, err: (err as Error).message }, 'cannot keep the stack services\' addresses for the next start: retried');
    }
  }

  /** This node's running stack containers (their ports as Docker lists them: declared and EXPOSEd). */
  private async stackContainers(cluster: string): Promise<GuardedContainer[]> {
    const list = await this.d.docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.node}=${this.d.self.id}`, LABELS.stack], status: ['running'] } });
    return list.map((c) => {
      const ports = new Map<string, GuardedContainer['ports'][number]>();
      for (const p of c.Ports) if (p.Type === 'tcp' || p.Type === 'udp') ports.set(`${p.Type}/${p.PrivatePort}`, { container: p.PrivatePort, protocol: p.Type });
      const ip = this.d.addresses.get(c.Id)?.ip;
      return { id: c.Id, service: c.Labels[LABELS.service] ?? '', ports: [...ports.values()], published: publishedOn(c.Ports, this.d.self.addr), ...(ip ? { ip } : {}) };
    });
  }

  /** This node's stack networks of this cluster. */
  private async stackNets(cluster: string): Promise<StackNet[]> {
    const list = await this.d.docker.listNetworks({ filters: { label: [`warren.cluster=${cluster}`, `warren.node=${this.d.self.id}`] } });
    const out: StackNet[] = [];
    for (const n of list) {
      const stack = n.Labels?.['warren.stack'];
      if (!stack) continue;
      let net = this.nets.get(n.Id);
      if (!net) {
        const cfg = n.IPAM?.Config?.[0] as { Subnet?: string; Gateway?: string } | undefined;
        if (!cfg?.Subnet || !cfg.Gateway) continue;
        const bridge = n.Options?.['com.docker.network.bridge.name'] ?? `br-${n.Id.slice(0, 12)}`;
        net = { stack, subnet: cfg.Subnet, gateway: cfg.Gateway, bridge };
        this.nets.set(n.Id, net);
      }
      out.push(net);
    }
    return out;
  }

  /** Running replicas of the current generation on nodes gossip does not call dead or gone. */
  private liveReplicas(): MeshReplica[] {
    const gone = new Set(this.d.members().filter((m) => runsNoReplicas(m.state)).map((m) => m.id));
    const out: MeshReplica[] = [];
    for (const svc of this.d.catalog.services()) {
      const record = this.d.catalog.assignment(svc.name);
      for (const slot of record?.slots ?? []) {
        const s = this.d.catalog.status(svc.name, slot.index);
        if (!s || s.state !== 'running' || s.nodeId !== slot.nodeId || s.generation !== slot.generation || gone.has(s.nodeId)) continue;
        const ip = s.nodeId === this.d.self.id && s.containerId ? this.d.addresses.get(s.containerId)?.ip : undefined;
        out.push({ service: svc.name, nodeId: s.nodeId, addr: s.addr, ports: s.ports, ...(ip ? { containerIp: ip } : {}) });
      }
    }
    return out;
  }
}

function meshService(s: { name: string; stack?: string; ports: MeshService['ports'] }): MeshService {
  return { name: s.name, ...(s.stack ? { stack: s.stack } : {}), ports: s.ports };
}
