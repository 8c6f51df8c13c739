import Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import type { ContainerSpec } from '../core/service-types.ts';
import type { ActualContainer, DesiredReplica } from '../core/reconcile-plan.ts';
import { directAddress, hostAddresses } from './container-addresses.ts';
import { dockerParts } from './container-options.ts';
import { healthOf } from '../core/depends-gate.ts';
import { StackNetworks } from './stack-networks.ts';
import { dockerPorts } from './mesh-container.ts';

/** Labels on every container Warren makes: the reconciler touches only its own cluster's and node's. */
export const LABELS = {
  cluster: 'warren.cluster',
  node: 'warren.node',
  service: 'warren.service',
  slot: 'warren.slot',
  generation: 'warren.generation',
  stack: 'warren.stack',
  /** the agent process that created it (fence-watchdog.ts); not part of a replica's identity */
  run: 'warren.run',
} as const;

export interface EngineIdentity {
  clusterId: string;
  nodeId: string;
  nodeName: string;
  /** the address published ports listen on */
  addr: string;
  /** this agent process's run id (fence-watchdog.ts newRunId) */
  run?: string;
}

/** Docker's volume name for a service's named volume (same on every node). */
export const volumeName = (service: string, volume: string) => `warren_${service}_${volume}`;

/** Docker Engine calls the reconciler needs, and nothing else (thin: the decisions live in reconcile-plan). */
export class DockerEngine {
  readonly docker: Docker;
  readonly networks: StackNetworks;

  constructor(socketPath = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock') {
    this.docker = new Docker({ socketPath });
    this.networks = new StackNetworks(this.docker);
  }

  async ping(): Promise<boolean> {
    return this.docker.ping().then(() => true, () => false);
  }

  /** This node's managed containers, in this cluster only. */
  async list(id: EngineIdentity): Promise<ActualContainer[]> {
    const infos = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.cluster}=${id.clusterId}`, `${LABELS.node}=${id.nodeId}`] },
    });
    const hostAddrs = hostAddresses();
    return infos.map((c): ActualContainer => {
      const ip = directAddress({ mode: c.HostConfig?.NetworkMode, networks: c.NetworkSettings?.Networks }, hostAddrs);
      return {
        id: c.Id,
        service: c.Labels[LABELS.service] ?? '',
        slot: Number(c.Labels[LABELS.slot]),
        generation: Number(c.Labels[LABELS.generation]),
        state: c.State as ActualContainer['state'],
        exitCode: exitCodeOf(c.Status),
        ports: publishedOn(c.Ports, id.addr),
        ...(ip ? { ip } : {}),
        ...(c.Labels[LABELS.stack] ? { stack: c.Labels[LABELS.stack] } : {}),
        ...(healthOf(c.Status) ? { health: healthOf(c.Status) } : {}),
      };
    });
  }

  async hasImage(image: string): Promise<boolean> {
    return this.docker.getImage(image).inspect().then(() => true, () => false);
  }

  /** Pulls an image, reporting "12 MB / 40 MB"-style progress; throws Docker's message on failure. */
  async pull(image: string, onProgress: (text: string) => void): Promise<void> {
    const stream = await this.docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      const layers = new Map<string, { current: number; total: number }>();
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, out: { error?: string }[]) => {
          const failed = out?.find((o) => o.error);
          if (err || failed) reject(err ?? new Error(failed!.error));
          else resolve();
        },
        (ev: { id?: string; progressDetail?: { current?: number; total?: number } }) => {
          if (!ev.id || !ev.progressDetail?.total) return;
          layers.set(ev.id, { current: ev.progressDetail.current ?? 0, total: ev.progressDetail.total });
          let current = 0;
          let total = 0;
          for (const l of layers.values()) (current += l.current), (total += l.total);
          onProgress(`${mb(current)} / ${mb(total)}`);
        },
      );
    });
  }

  /** `binds`: the volumes' mounts as the volume driver prepared them (default: a Docker volume per name) */
  async create(id: EngineIdentity, r: DesiredReplica, binds?: string[]): Promise<string> {
    const spec: ContainerSpec = r.spec;
    const network = spec.options?.network && !spec.options.hostNetwork ? await this.networks.ensure(id, spec.options.network.stack) : undefined;
    const extra = dockerParts(spec, network);
    // the mesh: which ports Docker publishes (a stack's internal ones: none), the stack's DNS first (mesh-container.ts)
    const ports = dockerPorts(spec, id.addr);
    const dns = network ? await this.networks.dnsServers(network) : undefined;
    const container = await this.docker.createContainer({
      ...extra.config,
      name: `warren-${r.service}-${r.slot}-g${r.generation}-${id.nodeId.slice(-8).toLowerCase()}`,
      Image: spec.image,
      ...(spec.command.length ? { Cmd: spec.command } : {}),
      Env: [
        ...Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        `WARREN_SERVICE=${r.service}`,
        `WARREN_SLOT=${r.slot}`,
        `WARREN_NODE=${id.nodeName}`,
      ],
      Labels: {
        ...(extra.config.Labels as Record<string, string> | undefined),
        [LABELS.cluster]: id.clusterId,
        [LABELS.node]: id.nodeId,
        [LABELS.service]: r.service,
        [LABELS.slot]: String(r.slot),
        [LABELS.generation]: String(r.generation),
        ...(spec.options?.network ? { [LABELS.stack]: spec.options.network.stack } : {}),
        ...(id.run ? { [LABELS.run]: id.run } : {}),
      },
      ExposedPorts: Object.fromEntries(ports.map((p) => [p.key, {}])),
      ...(extra.networkingConfig ? { NetworkingConfig: extra.networkingConfig } : {}),
      HostConfig: {
        // a PID 1 that ignores SIGTERM would otherwise wait out the whole stop timeout
        Init: true,
        ...extra.hostConfig,
        PortBindings: Object.fromEntries(ports.flatMap((p) => (p.bind ? [[p.key, [{ HostIp: p.bind.hostIp, HostPort: p.bind.hostPort }]]] : []))),
        ...(dns ? { Dns: dns } : {}),
        Binds: [...(binds ?? spec.volumes.map((v) => `${volumeName(r.service, v.name)}:${v.path}`)), ...((extra.hostConfig.Binds as string[] | undefined) ?? [])],
        // restarts are the reconciler's decision (it reports them), not Docker's
        RestartPolicy: { Name: 'no' },
        ...(spec.cpus ? { NanoCpus: Math.round(spec.cpus * 1e9) } : {}),
        ...(spec.memoryBytes ? { Memory: spec.memoryBytes } : {}),
      },
    });
    return container.id;
  }

  async start(containerId: string): Promise<void> {
    await this.docker.getContainer(containerId).start();
  }

  /** `timeoutS` unset: the container's own stop grace (stop_grace_period, else Docker's 10 s) */
  async stop(containerId: string, timeoutS?: number): Promise<void> {
    await this.docker
      .getContainer(containerId)
      .stop(timeoutS === undefined ? {} : { t: timeoutS })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 304 && err.statusCode !== 404) throw err; // 304: already stopped
      });
  }

  async remove(containerId: string): Promise<void> {
    await this.docker
      .getContainer(containerId)
      .remove({ force: true })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404 && err.statusCode !== 409) throw err; // gone, or removal already in progress
      });
  }

  /** Docker's event stream for this node's containers (the reconciler reacts at once instead of at the next resync). */
  async events(id: EngineIdentity): Promise<NodeJS.ReadableStream> {
    return this.docker.getEvents({ filters: { type: ['container'], label: [`${LABELS.cluster}=${id.clusterId}`, `${LABELS.node}=${id.nodeId}`] } });
  }

  /** A container's log as plain text (stdout and stderr interleaved). */
  async logs(containerId: string, opts: { follow: boolean; tail: number }): Promise<NodeJS.ReadableStream> {
    const container = this.docker.getContainer(containerId);
    const out = new PassThrough();
    const raw = (await container.logs({ follow: opts.follow as true, stdout: true, stderr: true, tail: opts.tail })) as unknown as NodeJS.ReadableStream | Buffer;
    if (Buffer.isBuffer(raw)) {
      out.end(demuxBuffer(raw));
      return out;
    }
    this.docker.modem.demuxStream(raw, out, out);
    raw.on('end', () => out.end());
    out.on('close', () => (raw as unknown as { destroy?: () => void }).destroy?.());
    return out;
  }
}

/**
 * Docker's bindings of a listed container that answer on the node's address (not a
 * "127.0.0.1:8080:80" one, which other nodes cannot reach), one per container port.
 */
export function publishedOn(ports: readonly { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[], addr: string): ActualContainer['ports'] {
  const out = new Map<string, ActualContainer['ports'][number]>();
  for (const p of ports) {
    if (!p.PublicPort || (p.IP && p.IP !== addr && p.IP !== '0.0.0.0' && p.IP !== '::')) continue;
    const protocol = p.Type === 'udp' ? 'udp' : 'tcp';
    if (!out.has(`${protocol}/${p.PrivatePort}`)) out.set(`${protocol}/${p.PrivatePort}`, { container: p.PrivatePort, protocol, hostPort: p.PublicPort });
  }
  return [...out.values()];
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
}

function exitCodeOf(status: string): number | undefined {
  const m = /Exited \((-?\d+)\)/.exec(status);
  return m ? Number(m[1]) : undefined;
}

/** Docker's multiplexed log frames (8-byte header + payload) to plain bytes. */
function demuxBuffer(buf: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const len = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + len));
    i += 8 + len;
  }
  return i === 0 && buf.length > 0 ? buf : Buffer.concat(parts);
}
