import { join } from 'node:path';
import type { AgentConfig } from '../../core/agent-config.ts';
import type { EtcdRole } from '../../core/views.ts';
import type { Consensus } from '../../consensus/consensus.ts';
import type { GossipService } from '../../gossip/gossip-service.ts';
import { DEFAULT_TAILSCALE_SOCKET } from '../../gossip/tailscale-localapi.ts';
import type { MetricsInput } from '../../http/metrics.ts';
import { startDns, startDnsOnFirstFreePort, type DnsServer } from '../../routing/dns-server.ts';
import type { HttpsServer } from '../../routing/https-front.ts';
import { startServiceHttps } from '../../routing/https-setup.ts';
import { MeshProcess } from '../../routing/mesh-process.ts';
import { sourceBoundPools } from '../../routing/proxy-source.ts';
import { startProxy, startProxyOnFirstFreePort, type ProxyServer } from '../../routing/proxy.ts';
import { ProxyWorkers } from '../../routing/proxy-workers.ts';
import { addStats, snapshotOf } from '../../routing/route-snapshot.ts';
import { RouteTable } from '../../routing/route-table.ts';
import { StackMesh } from '../../routing/stack-mesh.ts';
import { MESH_ADDRS_FILE } from '../../routing/mesh-addrs-file.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { Logger } from '../../system/logger.ts';
import type { NodeIdentity } from '../../system/identity.ts';

/** The agent's routing parts, set here as each starts (the agent closes whichever did on stop). */
export interface RoutingHost {
  readonly config: AgentConfig;
  readonly identity: NodeIdentity;
  proxy: ProxyServer | undefined;
  proxyWorkers: ProxyWorkers | undefined;
  dns: DnsServer | undefined;
  /** stacks' routing mesh and names across nodes (routing/stack-mesh.ts) */
  mesh: StackMesh | undefined;
  https: HttpsServer | undefined;
}

/** The reverse proxy and DNS server (Agent.startRouting): 80 / 53 when this agent may bind them, else the flags' defaults. */
export async function startAgentRouting(host: RoutingHost, o: { runtime: Runtime; gossip: GossipService; log: Logger; etcdRole: () => EtcdRole; consensus: () => Consensus | undefined }): Promise<void> {
  const { runtime, gossip, log } = o;
  const { config } = host;
  // replicas on this node are reached at their container's address (see routing/backend-choice.ts)
  const routes = new RouteTable(runtime.catalog, () => gossip.members(o.etcdRole()), { nodeId: host.identity.id, addresses: runtime.addresses });
  gossip.on('member', () => routes.invalidate());
  const common = { bind: config.bind, logger: log.child({ component: 'routing' }) };
  const pidHeader = process.env.WARREN_TEST_PROXY_PID_HEADER === '1';
  const httpsPort = () => host.https?.port;
  // other nodes' stack replicas are behind guards that admit members' addresses: connect from ours
  const pools = sourceBoundPools(config.bind, (h) => routes.isContainerHost(h));
  host.proxy = config.autoPorts.proxy
    ? await startProxyOnFirstFreePort({ ...common, domain: config.domain, routes, pidHeader, httpsPort, pools, preferred: 80, fallback: config.ports.proxy })
    : await startProxy({ ...common, domain: config.domain, routes, pidHeader, httpsPort, pools, port: config.ports.proxy });
  // HTTPS in front of the same proxy, certificates from the cluster CA (see routing/service-certs.ts)
  const https = await startServiceHttps({
    ...common,
    port: config.autoPorts.https ? undefined : config.ports.https,
    fallback: config.ports.https,
    proxy: host.proxy,
    client: () => o.consensus()?.client,
    ca: async () => o.consensus()?.store?.ca(),
    hasService: (s) => routes.hasService(s), // a stack's name too (its web service)
    ...(config.tailscaleCert ? { tailscaleSocket: process.env.WARREN_TAILSCALE_SOCKET ?? DEFAULT_TAILSCALE_SOCKET } : {}),
  });
  host.https = https.server;
  if (config.proxyWorkers > 0) {
    // more processes accepting on the proxy's socket, each with a copy of the route table
    const workers = new ProxyWorkers({
      count: config.proxyWorkers,
      server: host.proxy.server,
      domain: config.domain,
      source: config.bind,
      logLevel: config.logLevel,
      name: config.name,
      logger: log.child({ component: 'routing' }),
      snapshot: () => snapshotOf(routes),
      unreachable: (b) => routes.unreachable(b),
      https: { server: https.server.server, port: https.server.port },
      cert: https.cert,
    });
    host.proxyWorkers = workers;
    routes.onChange(() => workers.routesChanged());
    // not awaited: the agent's own proxy serves until they are up, and waiting here held back
    // discovery by the workers' start-up (new nodes on one LAN then founded clusters of their own)
    if (config.proxyWorkersOnDemand) workers.startOnDemand(() => host.proxy!.stats().requests);
    else void workers.start();
  }
  const zone = routes.zone(config.domain);
  host.dns = config.autoPorts.dns
    ? await startDnsOnFirstFreePort({ ...common, zone, preferred: 53, fallback: config.ports.dns })
    : await startDns({ ...common, zone, port: config.ports.dns });
  host.mesh = new StackMesh({ docker: runtime.engine.docker, catalog: runtime.catalog, addresses: runtime.addresses, members: () => gossip.members(o.etcdRole()), self: { id: host.identity.id, addr: config.bind }, clusterId: () => o.consensus()?.clusterId ?? undefined, logger: log.child({ component: 'mesh' }),
    // the forwards run in a process of their own: traffic through them never delays gossip or etcd
    forwarder: new MeshProcess({ logLevel: config.logLevel, name: config.name, logger: log.child({ component: 'mesh' }), restarted: () => host.mesh?.schedule() }),
    stackPorts: runtime.stackPorts,
    addrsFile: join(config.dataDir, MESH_ADDRS_FILE),
  });
  gossip.on('member', () => host.mesh?.schedule());
  host.mesh.start();
  const procs = config.proxyWorkers === 0 ? 'in the agent alone' : `in the agent and ${config.proxyWorkers} worker process${config.proxyWorkers === 1 ? '' : 'es'}${config.proxyWorkersOnDemand ? ' once it is busy' : ''}`;
  log.info(
    { proxyPort: host.proxy.port, httpsPort: host.https.port, proxyWorkers: config.proxyWorkers, dnsPort: host.dns.port, domain: config.domain },
    `services answer as NAME.${config.domain}: proxy on port ${host.proxy.port} (${procs}), HTTPS on port ${host.https.port}, DNS on port ${host.dns.port}`,
  );
}

/** The proxy's counters for /metrics: the agent's own server plus every worker's. */
export async function proxyMetrics(proxy: ProxyServer | undefined, workers: ProxyWorkers | undefined): Promise<Partial<MetricsInput>> {
  if (!proxy) return {};
  const own = proxy.stats();
  if (!workers) return { proxy: own };
  const w = await workers.stats();
  return {
    proxy: addStats(w.total, own),
    proxyProcesses: [{ process: 'agent', requests: own.requests }, ...w.workers.map((x) => ({ process: `worker-${x.worker}`, requests: x.stats.requests }))],
    proxyWorkers: { running: workers.running, restarts: workers.restarts },
  };
}
