import { join } from 'node:path';
import type { ServerType } from '@hono/node-server';
import type { AgentConfig } from '../../core/agent-config.ts';
import { PORT_FLAGS } from '../../core/agent-config.ts';
import { httpUrl } from '../../core/addresses.ts';
import type { EtcdRole, HealthReport, MemberView } from '../../core/views.ts';
import { createLogger, type Logger } from '../../system/logger.ts';
import { assertPortsFree } from '../../system/ports.ts';
import {
  assertNoOtherAgent,
  loadOrCreateAdminToken,
  prepareDataDir,
  removeRuntimeInfo,
  writeRuntimeInfo,
} from '../../system/data-dir.ts';
import { messageOf } from '../../core/errors.ts';
import { newRunId, startFenceWatchdog, type FenceWatchdog } from '../../runtime/fence-watchdog.ts';
import { loadOrCreateIdentity, type NodeIdentity } from '../../system/identity.ts';
import { createP2PNode, type P2PNode } from '../../gossip/libp2p-node.ts';
import { GossipService } from '../../gossip/gossip-service.ts';
import { Discovery } from '../../gossip/discovery.ts';
import type { TailscaleDiscovery } from '../../gossip/tailscale-discovery.ts';
import { collectHealthFigures } from '../../system/health-figures.ts';
import { renderMetrics, type MetricsInput } from '../../http/metrics.ts';
import { findEtcdBinary } from '../../consensus/etcd-binary.ts';
import { Consensus } from '../../consensus/consensus.ts';
import { createApi } from '../../http/api.ts';
import { UiSessions } from '../../consensus/ui-sessions.ts';
import { Runtime } from '../../runtime/runtime.ts';
import type { StackMesh } from '../../routing/stack-mesh.ts';
import type { ProxyServer } from '../../routing/proxy.ts';
import type { ProxyWorkers } from '../../routing/proxy-workers.ts';
import { StackManager, stackDeps } from '../../stacks/stack-manager.ts';
import { warrenPorts, type ReservedPort } from '../../core/compose/validate.ts';
import { clusterPorts } from '../../stacks/cluster-ports.ts';
import type { DnsServer } from '../../routing/dns-server.ts';
import { closeServer, listen } from '../../http/server.ts';
import type { HttpsServer } from '../../routing/https-front.ts';
import { readTlsFiles } from '../../system/pki.ts';
import { VERSION } from '../../version.ts';
import { clusterVersions, requireFeature } from '../../core/versions.ts';
import { takeBackup } from '../../consensus/backup.ts';
import type { Hooks } from '../../system/hooks.ts';
import { volumeAgentParts } from './volume-wiring.ts';
import { proxyMetrics, startAgentRouting } from './routing-start.ts';
import { moveReplicasAway } from './leave-drain.ts';
import { startTailscale } from './tailscale-start.ts';
import { startHooks } from './hooks-start.ts';
import { indirectPingOverHttp } from './indirect-ping.ts';
import { ownedSafeAgoMs } from '../../runtime/volume-risk.ts';
import { nextIncarnation } from '../../system/incarnation-file.ts';
import { monoNow } from '../../system/clock.ts';
import { ApiTokens } from '../../consensus/api-tokens.ts';
import { tokenDeps } from '../../http/routes/tokens.ts';

/**
 * The composition root: builds every layer for one node, starts them in order and
 * stops them in reverse. Everything that can fail because of the user's input fails
 * before anything is started, with one clear line.
 */
export class Agent {
  readonly logger: Logger;
  /** wall clock at start (a final-stop marker is compared with it); durations count from startedMono */
  readonly startedAt = Date.now();
  readonly startedMono = monoNow();
  identity!: NodeIdentity;
  private fence: FenceWatchdog | null = null;
  /** this process's run id: the fence tells its containers from a restarted agent's by it */
  private readonly run = newRunId();
  adminToken!: string;
  private consensus: Consensus | undefined;
  private p2p: P2PNode | undefined;
  private http: ServerType | undefined;
  private gossip: GossipService | undefined;
  private discovery: Discovery | undefined;
  private tailscale: TailscaleDiscovery | undefined;
  private runtime: Runtime | undefined;
  /** the routing parts, from here to `https`, are set by startAgentRouting (routing-start.ts) as each starts */
  proxy: ProxyServer | undefined;
  proxyWorkers: ProxyWorkers | undefined;
  dns: DnsServer | undefined;
  /** stacks' routing mesh and names across nodes (routing/stack-mesh.ts) */
  mesh: StackMesh | undefined;
  https: HttpsServer | undefined;
  private hooks: Hooks | undefined;
  private stopping?: Promise<void>;
  private wroteRuntimeInfo = false;

  constructor(readonly config: AgentConfig) {
    this.logger = createLogger(config.logLevel, { name: config.name });
  }

  get apiUrl(): string {
    return httpUrl(this.config.bind, this.config.ports.http);
  }

  async start(): Promise<void> {
    const { config } = this;
    await prepareDataDir(config.dataDir);
    await assertNoOtherAgent(config.dataDir);
    const etcdBinary = await findEtcdBinary();
    await startTailscale(config, this.logger, (ts) => (this.tailscale = ts));
    await assertPortsFree(config.bind, [
      { port: config.ports.http, flag: PORT_FLAGS.http, what: 'HTTP API' },
      { port: config.ports.p2p, flag: PORT_FLAGS.p2p, what: 'libp2p' },
      { port: config.ports.etcdClient, flag: PORT_FLAGS.etcdClient, what: 'etcd client' },
      { port: config.ports.etcdPeer, flag: PORT_FLAGS.etcdPeer, what: 'etcd peer' },
      ...(config.autoPorts.proxy ? [] : [{ port: config.ports.proxy, flag: PORT_FLAGS.proxy, what: 'reverse proxy' }]),
      ...(config.autoPorts.dns ? [] : [{ port: config.ports.dns, flag: PORT_FLAGS.dns, what: 'DNS' }]),
      ...(config.autoPorts.https ? [] : [{ port: config.ports.https, flag: PORT_FLAGS.https, what: 'HTTPS' }]),
    ]);
    this.identity = await loadOrCreateIdentity(config.dataDir);
    this.adminToken = await loadOrCreateAdminToken(config.dataDir);
    const log = this.logger.child({ node: this.identity.id });
    log.info({ dataDir: config.dataDir, bind: config.bind, newIdentity: this.identity.created }, 'agent starting');
    this.fence = await startFenceWatchdog({ dataDir: config.dataDir, nodeId: this.identity.id, run: this.run, dockerSocket: process.env.DOCKER_SOCKET, logger: log.child({ component: 'fence' }) });
    if (config.open) log.warn('--open: this node admits ANY machine that asks to join; use it only in labs and tests');

    this.p2p = await createP2PNode({ privateKey: this.identity.privateKey, bind: config.bind, port: config.ports.p2p, mdns: config.mdns });
    await this.p2p.start();
    log.info({ addrs: this.p2p.getMultiaddrs().map(String), mdns: config.mdns }, 'libp2p listening');

    const p2p = this.p2p;
    const gossip: GossipService = new GossipService({
      p2p,
      logger: log.child({ component: 'gossip' }),
      self: () => ({ name: config.name, addr: config.bind, api: this.apiUrl, version: VERSION, role: this.etcdRole() }),
      collectHealth: () => collectHealthFigures(config.dataDir, this.startedMono, () => this.runtime?.reconciler.containers ?? 0),
      liveHealth: () => (this.runtime?.volumes ? { volumesSafeAgoMs: ownedSafeAgoMs(this.runtime.volumes, this.identity.id, Date.now()) } : {}),
      indirectPing: indirectPingOverHttp,
      incarnation: nextIncarnation(config.dataDir),
      detector: { heartbeatIntervalMs: config.detector.heartbeatMs, suspectAfterMs: config.detector.suspectAfterMs, deadAfterMs: config.detector.deadAfterMs, probeTimeoutMs: config.detector.probeTimeoutMs },
      heartbeatIntervalMs: config.detector.heartbeatMs,
      // only admitted nodes count for membership, health and events
      isAdmitted: (id): boolean => consensus.isAdmitted(id),
      onAdmission: (signer, msg) => consensus.onAdmissionMessage(signer, msg),
    });
    this.gossip = gossip;
    const consensus: Consensus = new Consensus({
      config,
      nodeId: this.identity.id,
      privateKey: this.identity.privateKey,
      etcdBinary,
      logger: log.child({ component: 'consensus' }),
      apiUrl: this.apiUrl,
      p2pAddrs: () => p2p.getMultiaddrs().map(String),
      publishAdmission: (msg): Promise<void> => gossip.publishAdmission(msg),
      reach: (id, addrs) => gossip.reach(id, addrs),
      liveness: () => gossip.liveness(),
      event: (name, payload) => void gossip.publishClusterEvent(name, payload),
      // with no way to find anyone (no mDNS, no tailnet, no --join) there is nobody to wait for
      settleMs: config.mdns || this.tailscale ? 1500 : 0,
      discovered: () => this.discovery?.present() ?? [],
      ...(this.tailscale && config.tailnetAdmit ? { sameTailnet: (addrPort: string) => this.tailscale!.isTailnetDevice(addrPort) } : {}),
      // the quorum probe runs every second: more than 2.5 s without a good read means it is lost
      quorumLostSince: () => {
        const ms = this.runtime?.reconciler.quorumSinceOkMs ?? 0;
        return ms > 2500 ? Date.now() - ms : null;
      },
    });
    this.consensus = consensus;
    const runtime = new Runtime({
      self: { id: this.identity.id, name: config.name, addr: config.bind, labels: config.labels, run: this.run },
      client: () => consensus.client,
      probeClients: () => consensus.probeClients,
      clusterId: () => consensus.clusterId,
      leadership: () => consensus.leadership,
      liveness: () => gossip.liveness(),
      health: () => Object.fromEntries(gossip.members(this.etcdRole()).map((m) => [m.id, m.health])),
      event: (name, payload) => void gossip.publishClusterEvent(name, payload),
      fenceAfterMs: config.fenceAfterMs,
      logger: log.child({ component: 'runtime' }),
      volumes: { dataDir: config.dataDir, intervalMs: config.snapshotIntervalMs, reserveBytes: config.volumeReserveBytes, scrubIntervalMs: config.scrubIntervalMs, sign: volumeAgentParts.signer(this.identity), event: (name, payload) => void gossip.publishClusterEvent(name, payload), volumeWord: (id) => gossip.volumeWord(id) },
    });
    this.runtime = runtime;
    consensus.on('client', (client, handedOver: boolean) => void runtime.onClient(client, handedOver));
    gossip.on('member', () => runtime.livenessChanged());
    await gossip.start();
    const hooks = startHooks(config, { id: this.identity.id, apiUrl: this.apiUrl }, gossip, log);
    this.hooks = hooks;

    const app = createApi({
      logger: log.child({ component: 'http' }),
      adminToken: this.adminToken,
      health: () => this.health(),
      members: () => this.members(),
      p2pInfo: () => ({ id: this.identity.id, addrs: p2p.getMultiaddrs().map(String) }),
      pingForPeer: (target, timeoutMs) => gossip.pingForPeer(target, timeoutMs),
      subscribe: (topics, listener) => gossip.subscribe(topics, listener),
      publishUserEvent: (topic, payload) => gossip.publishUserEvent(topic, payload),
      leave: () => this.leave(),
      handleJoin: (body, remote) => consensus.handleJoin(body, remote),
      handleAdmit: (body) => consensus.handleAdmit(body),
      approve: (node) => consensus.approve(node),
      joinToken: () => consensus.joinToken(),
      admissionView: () => consensus.admissionView(),
      recover: () => consensus.recoverByHand(),
      listServices: async () => runtime.services.list(),
      getService: async (name) => runtime.services.get(name),
      // a service that asks for the HTTPS redirect waits until every node has HTTPS (core/versions.ts)
      createService: async (spec) => {
        if (spec.httpsRedirect) requireFeature(clusterVersions(gossip.members(this.etcdRole())), 'https');
        return runtime.services.create(spec);
      },
      updateService: async (name, patch) => {
        if (patch.httpsRedirect) requireFeature(clusterVersions(gossip.members(this.etcdRole())), 'https');
        return runtime.services.update(name, patch);
      },
      removeService: (name) => runtime.services.remove(name),
      serviceLogs: (name, opts, signal) => runtime.services.logs(name, opts, signal),
      drainNode: (node, drain) => runtime.services.drain(node, drain),
      backup: () => takeBackup(consensus.client),
      caPem: async () => (await readTlsFiles(join(config.dataDir, 'tls')))?.caPem,
      ...stackDeps(
        new StackManager({
          ...runtime.stackParts(),
          client: () => consensus.client,
          clusterId: () => consensus.clusterId,
          self: { id: this.identity.id, name: config.name },
          // a stack may not publish a port any agent of the cluster listens on
          reservedPorts: () => clusterPorts(this.ownPorts(), gossip.members(this.etcdRole())),
          liveness: () => gossip.liveness(),
          event: (name, payload) => void gossip.publishClusterEvent(name, payload),
        }),
      ),
      metrics: async () => renderMetrics({ members: gossip.members(this.etcdRole()), dropped: gossip.intake.dropped, received: gossip.intake.received, published: gossip.published, relayed: gossip.intake.relayed, probes: gossip.probes, streams: gossip.streams, uptimeMs: Math.round(monoNow() - this.startedMono), ...(await this.proxyMetrics()), hooks: hooks.counters(), ...volumeAgentParts.metrics(runtime) }),
      hooks: () => hooks.view(),
      volumes: volumeAgentParts.routes(runtime, this.identity, (id) => consensus.confirmAdmitted(id), () => gossip.liveness(), () => consensus.client),
      ...tokenDeps(new ApiTokens(() => consensus.client)),
      ui: {
        apiUrl: this.apiUrl,
        hostNames: () => [config.name, `${config.name}.local`, `${config.name}.${config.domain}`],
        memberApis: () => [this.apiUrl, ...gossip.members(this.etcdRole()).flatMap((m) => (m.api ? [m.api] : []))],
        uiSessions: new UiSessions(() => consensus.client),
        liveMembers: () => gossip.members(this.etcdRole()),
        drainingNodes: () => [...runtime.catalog.maps.drains.keys()],
        onMemberChange: (listener) => {
          gossip.on('member', listener);
          return () => gossip.off('member', listener);
        },
      },
    });
    this.http = await listen(app, config.bind, config.ports.http);
    await this.startRouting(runtime, gossip, log);

    this.discovery = new Discovery({ p2p, logger: log.child({ component: 'discovery' }), join: config.join, knownPeers: () => gossip.knownAddresses() });
    this.discovery.start();
    this.tailscale?.on('peer', (peer) => this.discovery?.addTarget({ host: peer.host, port: peer.port }));
    // peers found while the agent was still starting (before the listener above existed)
    for (const host of this.tailscale?.reachablePeers() ?? []) this.discovery.addTarget({ host, port: this.tailscale!.port });
    // members this node knew stay discovery targets: libp2p reconnects through them after restarts
    consensus.on('peers', (apis: string[]) => {
      for (const api of apis) {
        const u = new URL(api);
        this.discovery?.addTarget({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) || 7370 });
      }
    });
    consensus.on('fatal', (err: Error) => {
      process.stderr.write(`warren: ${err.message}\n`);
      void this.stop('leave').then(() => process.exit(1));
    });
    await runtime.start();
    await consensus.start();
    await writeRuntimeInfo(config.dataDir, { pid: process.pid, api: this.apiUrl, id: this.identity.id, name: config.name });
    this.wroteRuntimeInfo = true;
    log.info({ api: this.apiUrl, startupMs: Math.round(monoNow() - this.startedMono) }, 'agent ready');
  }

  /** The reverse proxy and DNS server: 80 / 53 when this agent may bind them, else the flags' defaults. */
  private async startRouting(runtime: Runtime, gossip: GossipService, log: Logger): Promise<void> {
    await startAgentRouting(this, { runtime, gossip, log, etcdRole: () => this.etcdRole(), consensus: () => this.consensus });
  }

  /** The proxy's counters for /metrics: the agent's own server plus every worker's. */
  private async proxyMetrics(): Promise<Partial<MetricsInput>> {
    return proxyMetrics(this.proxy, this.proxyWorkers);
  }

  private etcdRole(): EtcdRole {
    return this.consensus?.etcdRole() ?? 'none';
  }

  /** Gossip's view of the admitted nodes, plus joiners waiting in the admission queue. */
  private async members(): Promise<MemberView[]> {
    const list = this.gossip!.members(this.etcdRole());
    for (const q of await this.consensus!.queuedJoiners()) {
      if (list.some((m) => m.id === q.id)) continue;
      list.push({ id: q.id, name: q.name, addr: q.addr, state: 'pending', role: 'none', lastHeardMs: Date.now() - q.since, self: false });
    }
    return list;
  }

  async health(): Promise<HealthReport> {
    const healthy = (await this.consensus?.healthy()) ?? false;
    // ok means this node serves the API: a reachable quorum is not enough until the catalog has
    // read it (a service created a moment after `ok` was refused with 503 not_ready)
    const catalogReady = this.runtime?.catalog.ready ?? false;
    return {
      status: healthy && catalogReady ? 'ok' : 'unhealthy',
      node: { id: this.identity.id, name: this.config.name, addr: this.config.bind },
      etcd: { role: this.etcdRole(), healthy },
      catalog: { ready: catalogReady },
      uptimeMs: Math.round(monoNow() - this.startedMono),
      version: VERSION,
      ...(this.proxy ? { proxy: { port: this.proxy.port } } : {}),
      ...(this.https ? { https: { port: this.https.port } } : {}),
      ...(this.dns ? { dns: { domain: this.config.domain, port: this.dns.port } } : {}),
      ports: this.ownPorts(),
    };
  }

  /** The host ports this agent holds (the proxy, HTTPS and DNS ports as bound). */
  private ownPorts(): ReservedPort[] {
    const { config } = this;
    return warrenPorts({ ...config.ports, proxy: this.proxy?.port ?? config.ports.proxy, https: this.https?.port ?? config.ports.https, dns: this.dns?.port ?? config.ports.dns });
  }

  /** Graceful leave (warren leave): announce it, stop, exit. */
  async leave(): Promise<void> {
    await this.depart();
    // answer the caller first, then stop (announcing the leave on gossip) and exit
    setTimeout(() => void this.stop('leave').then(() => process.exit(0)), 100);
  }

  /** Drains this node and gives up its etcd seat (the first half of a leave). */
  async depart(): Promise<void> {
    this.logger.info('leaving the cluster');
    try {
      await this.moveReplicasAway();
      await this.consensus?.leave((msg) => this.logger.info(msg));
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'leave failed');
      throw err;
    }
  }

  /** Before leaving: drain this node (one replica at a time) so its services keep running elsewhere. */
  private async moveReplicasAway(timeoutMs = 60_000): Promise<void> {
    await moveReplicasAway(this.runtime, this.identity.id, this.logger, timeoutMs);
  }

  /**
   * Stops in reverse order; safe to call twice and after a failed start. `mode`: what the other
   * nodes are told — 'restart' (SIGTERM/SIGINT: the node is expected back, its replicas are held
   * for --restart-grace-ms; core/membership/restart-hold.ts), 'leave' (warren leave: they move
   * now), 'quiet' (a fatal error: nothing is announced, the node is found dead).
   */
  stop(mode: 'restart' | 'leave' | 'quiet' = 'restart'): Promise<void> {
    // a second call (a SIGTERM during `warren leave`'s stop) waits for the first to finish
    return (this.stopping ??= this.stopOnce(mode));
  }

  private async stopOnce(mode: 'restart' | 'leave' | 'quiet'): Promise<void> {
    this.logger.info('agent stopping');
    this.discovery?.stop();
    this.tailscale?.stop();
    this.hooks?.close();
    if (this.gossip) {
      await this.gossip.stop(mode, this.config.restartGraceMs);
      // let the leave (or restart) announcement reach the wire before the connections close
      await new Promise((r) => setTimeout(r, 150));
    }
    if (this.http) await closeServer(this.http);
    // the workers first: they accept on the proxy's socket too
    await this.proxyWorkers?.close().catch(() => undefined);
    await this.https?.close().catch(() => undefined);
    await this.proxy?.close().catch(() => undefined);
    await this.dns?.close().catch(() => undefined);
    await this.mesh?.stop().catch(() => undefined);
    // stop this node's containers whatever the mode: after a leave or a death they run elsewhere, and
    // a restart starts them again from the assignments (a replica must never run twice)
    if (this.runtime) await this.runtime.stop(true);
    if (this.p2p) await Promise.resolve(this.p2p.stop()).catch((err: unknown) => this.logger.warn({ err }, "libp2p stop failed"));
    if (this.consensus) await this.consensus.stop();
    if (this.wroteRuntimeInfo) await removeRuntimeInfo(this.config.dataDir).catch(() => undefined);
    // its containers are stopped: the watchdog has nothing to fence when this process ends
    await this.fence?.disarm().catch((err: unknown) => this.logger.warn({ err: messageOf(err) }, 'could not disarm the fence watchdog'));
    this.logger.info('agent stopped');
  }
}
