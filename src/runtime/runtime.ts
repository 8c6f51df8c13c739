import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { KEYS } from '../consensus/cluster-store.ts';
import type { Leadership } from '../consensus/leadership.ts';
import { messageOf } from '../core/errors.ts';
import type { ScheduleEvent } from '../core/scheduler.ts';
import type { RuntimeNode } from '../core/service-types.ts';
import type { HealthFigures, LivenessMap } from '../core/views.ts';
import { Catalog } from './catalog.ts';
import { ContainerAddresses } from './container-addresses.ts';
import { DeviceWatch } from './device-watch.ts';
import { StackHostPorts } from './host-ports.ts';
import { DockerEngine, type EngineIdentity } from './docker-engine.ts';
import { Reconciler } from './reconciler.ts';
import { SchedulerDriver } from './scheduler-driver.ts';
import { ServiceManager } from './service-manager.ts';
import { VolumeDriver, type VolumeDriverDeps } from './volume-driver.ts';
import { VolumeOps } from './volume-ops.ts';
import { VolumeScrub } from './volume-scrub.ts';
import { VolumeRiskWatch } from './volume-risk.ts';
import { VolumeApi, type VolumeApiDeps } from './volume-api.ts';
import type { VolumeWord } from '../core/volumes/owner-safe-ago.ts';

export interface RuntimeDeps {
  self: { id: string; name: string; addr: string; labels: Record<string, string>; run?: string };
  client: () => Etcd3 | undefined;
  /** one client per etcd endpoint, for the quorum probe (empty: it uses `client`) */
  probeClients?: () => Etcd3[];
  clusterId: () => string | null;
  /** while this node leads: the election key its scheduling writes compare */
  leadership: () => Leadership | undefined;
  liveness: () => LivenessMap;
  health: () => Record<string, HealthFigures | undefined>;
  event: (name: 'service.scheduled' | 'service.moved' | 'service.started' | 'service.failed', payload: Record<string, unknown>) => void;
  fenceAfterMs: number;
  logger: Logger;
  /** replicated volumes (src/runtime/volume-driver.ts); absent: named volumes are plain Docker volumes */
  volumes?: Pick<VolumeDriverDeps, 'dataDir' | 'sign' | 'event' | 'intervalMs' | 'reserveBytes'> & {
    /** how often the chunk store is scrubbed (0: only on demand) */
    scrubIntervalMs: number;
    /** another owner's word on its volumes, from its heartbeats (read by the volume views alone) */
    volumeWord: (node: string) => VolumeWord | undefined;
  };
}

/** The runtime layer of one node: the catalog, this node's reconciler, and the leader's scheduler. */
export class Runtime {
  readonly catalog: Catalog;
  readonly engine = new DockerEngine();
  /** this node's running replicas at their own container address (the proxy's local fast path) */
  readonly addresses: ContainerAddresses;
  /** where other nodes reach this node's stack containers (the mesh's guards) */
  readonly stackPorts = new StackHostPorts();
  readonly reconciler: Reconciler;
  readonly scheduler: SchedulerDriver;
  readonly services: ServiceManager;
  readonly volumes: VolumeDriver | undefined;
  /** restore, clone, export, import (src/runtime/volume-ops.ts) */
  readonly volumeOps: VolumeOps | undefined;
  private readonly volumeRisk: VolumeRiskWatch | undefined;
  /** the chunk store's scrub (src/runtime/volume-scrub.ts) */
  readonly volumeScrub: VolumeScrub | undefined;
  /** which devices the services ask for this node has (the scheduler's device placement) */
  private readonly devices: DeviceWatch;
  private client: Etcd3 | undefined;

  constructor(private readonly d: RuntimeDeps) {
    this.catalog = new Catalog(d.logger.child({ part: 'catalog' }));
    this.volumes = d.volumes && new VolumeDriver({
      dataDir: d.volumes.dataDir, sign: d.volumes.sign, event: d.volumes.event, intervalMs: d.volumes.intervalMs, reserveBytes: d.volumes.reserveBytes, selfId: d.self.id, catalog: this.catalog, engine: this.engine, client: d.client,
      identity: () => this.identity(), liveness: d.liveness, logger: d.logger.child({ part: 'volumes' }),
    });
    if (this.volumes) {
      const driver = this.volumes;
      this.volumeOps = new VolumeOps(driver);
      this.volumeRisk = new VolumeRiskWatch(driver, () => this.volumeApi()!.list());
      this.volumeScrub = new VolumeScrub(driver, d.volumes!.scrubIntervalMs);
    }
    const addrLog = d.logger.child({ part: 'addresses' });
    this.addresses = new ContainerAddresses((fields, msg) => addrLog.debug(fields, msg));
    this.reconciler = new Reconciler({
      engine: this.engine,
      catalog: this.catalog,
      identity: () => this.identity(),
      client: d.client,
      ...(d.probeClients ? { probeClients: d.probeClients } : {}),
      logger: d.logger.child({ part: 'reconciler' }),
      event: d.event,
      fenceAfterMs: d.fenceAfterMs,
      addresses: this.addresses,
      stackPorts: this.stackPorts,
      ...(this.volumes ? { volumes: this.volumes } : {}),
    });
    this.scheduler = new SchedulerDriver({
      catalog: this.catalog,
      client: d.client,
      leadership: d.leadership,
      selfId: d.self.id,
      liveness: d.liveness,
      health: d.health,
      event: (e: ScheduleEvent) => d.event(e.name, e.payload),
      logger: d.logger.child({ part: 'scheduler' }),
    });
    this.services = new ServiceManager({ catalog: this.catalog, client: d.client, engine: this.engine, selfId: d.self.id });
    this.devices = new DeviceWatch({
      services: () => this.catalog.services(),
      ready: () => this.catalog.ready && this.client !== undefined,
      publish: async (devices) => {
        const client = this.client;
        if (!client) return false;
        return this.putRecord(client, devices).then(() => true, (err) => {
          this.d.logger.debug({ err: messageOf(err) }, 'could not publish this node\'s devices');
          return false;
        });
      },
      intervalMs: 5000,
    });
  }

  /** What a stack manager (src/stacks) drives: the service manager, the catalog and Docker. */
  stackParts(): { services: ServiceManager; catalog: Catalog; engine: DockerEngine } {
    return { services: this.services, catalog: this.catalog, engine: this.engine };
  }

  /**
   * The volume views and listings (`volume ls`, /metrics, the at-risk watch), built afresh from the
   * catalog; `sign` signs calls to other members. Undefined without replicated volumes.
   */
  volumeApi(sign: VolumeApiDeps['sign'] = async () => ({})): VolumeApi | undefined {
    const driver = this.volumes;
    if (!driver || !this.d.volumes) return undefined;
    return new VolumeApi({ catalog: this.catalog, driver, selfId: this.d.self.id, liveness: this.d.liveness, volumeWord: this.d.volumes.volumeWord, sign });
  }

  private identity(): EngineIdentity | undefined {
    const clusterId = this.d.clusterId();
    return clusterId ? { clusterId, nodeId: this.d.self.id, nodeName: this.d.self.name, addr: this.d.self.addr, ...(this.d.self.run ? { run: this.d.self.run } : {}) } : undefined;
  }

  async start(): Promise<void> {
    if (!(await this.engine.ping())) this.d.logger.warn('Docker is not answering on /var/run/docker.sock: services cannot run on this node until it does');
    this.reconciler.start();
    this.scheduler.start();
    this.volumes?.start();
    this.volumeRisk?.start();
    this.volumeScrub?.start();
    this.devices.start();
    // the devices asked for change with the services only (not with every replica's status write)
    this.catalog.on('change', (map?: string) => {
      if (map === undefined || map === 'services') void this.devices.check();
    });
  }

  /**
   * Follows the consensus layer's etcd client (a new one after joining, demotion or re-admission;
   * `handedOver`: one to the same cluster replacing a working one, the voters having changed).
   */
  async onClient(client: Etcd3 | undefined, handedOver = false): Promise<void> {
    this.client = client;
    this.devices.forget();
    await this.catalog.attach(client, handedOver);
    if (client) await this.register(client);
  }

  private async putRecord(client: Etcd3, devices: Record<string, boolean>): Promise<void> {
    const rec: RuntimeNode = { id: this.d.self.id, name: this.d.self.name, addr: this.d.self.addr, labels: this.d.self.labels, devices };
    await client.put(KEYS.runtimeNodePrefix + rec.id).value(JSON.stringify(rec)).exec();
  }

  /** This node's labels, name, address and devices for the scheduler (the device watch writes it). */
  private async register(client: Etcd3): Promise<void> {
    for (let attempt = 0; attempt < 20 && this.client === client; attempt++) {
      await this.devices.check();
      if (this.devices.published) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (this.client === client) this.d.logger.warn('could not register this node\'s labels and devices');
  }

  /** Called on every gossip change: a death moves replicas at once. */
  livenessChanged(): void {
    void this.scheduler.step();
  }

  async stop(stopContainers: boolean): Promise<void> {
    this.scheduler.stop();
    // snapshots first (each one in flight finishes): a snapshot pauses its volume's containers for
    // its freeze step, and a container paused while the reconciler stops them used to be missed,
    // so it ran on after the agent stopped (and a restarted agent found it running)
    await this.volumes?.pause();
    await this.reconciler.stop(stopContainers);
    this.volumeRisk?.stop();
    this.volumeScrub?.stop();
    this.devices.stop();
    // the containers are stopped: a last snapshot holds every write, should the node not come back
    if (stopContainers) await this.volumes?.finalSnapshots();
    await this.volumes?.stop();
    this.catalog.stop();
  }
}
