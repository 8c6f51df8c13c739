/**
 * A normalised stack → the Warren services it becomes, and the plan of a (re-)deploy: which
 * services to create, update, leave alone or remove. Pure.
 */
import { UserError } from '../errors.ts';
import { sameContainerSpec, type ServiceInputParsed } from '../service-spec.ts';
import type { ContainerOptions, PortSpec, ServiceSpec } from '../service-types.ts';
import { stackVolumeName } from '../volumes/stack-volumes.ts';
import type { StackModel, StackService } from './model.ts';
import { pinnedServices, placementOf } from './pins.ts';
import { hostPortsOf } from '../scheduler-place.ts';

/**
 * The Docker volume of a stack's local named volume (`x-warren: {local: true}`, shared by the
 * stack's services on a node), and of every named volume of a stack deployed before its volumes
 * were Warren volumes.
 */
export const stackDockerVolumeName = (stack: string, volume: string) => `warren-stack_${stack}_${volume}`;

export interface PlacementContext {
  /** the node the deploy was sent to: services with bind mounts or devices are pinned there */
  nodeName: string;
  /**
   * named volumes that stay per-node Docker volumes although not marked local: those of a stack
   * deployed before a stack's volumes were Warren volumes (its data is in them)
   */
  legacyVolumes?: ReadonlySet<string>;
}

function optionsOf(model: StackModel, s: StackService, ctx: PlacementContext): ContainerOptions {
  const o: ContainerOptions = {};
  const set = <K extends keyof ContainerOptions>(k: K, v: ContainerOptions[K] | undefined) => {
    if (v !== undefined) o[k] = v;
  };
  set('entrypoint', s.entrypoint);
  set('user', s.user);
  set('workingDir', s.workingDir);
  set('hostname', s.hostname);
  set('capAdd', s.capAdd);
  set('capDrop', s.capDrop);
  set('privileged', s.privileged);
  set('readOnly', s.readOnly);
  set('devices', s.devices);
  set('shmSizeBytes', s.shmSizeBytes);
  set('ulimits', s.ulimits ? Object.entries(s.ulimits).map(([name, l]) => ({ name, ...l })) : undefined);
  set('sysctls', s.sysctls);
  set('extraHosts', s.extraHosts);
  set('securityOpt', s.securityOpt);
  set('labels', s.labels);
  set('stopSignal', s.stopSignal);
  set('stopGracePeriodMs', s.stopGracePeriodMs);
  set('init', s.init);
  set('pidsLimit', s.limits?.pids);
  set('memoryReservationBytes', s.reservations?.memoryBytes);
  if (s.healthcheck && s.healthcheck.test.length) {
    const { startIntervalMs: _unsupported, ...h } = s.healthcheck; // Docker 20.10 (API 1.41) has no start interval
    o.healthcheck = h;
  }
  const tmpfs: Record<string, string> = {};
  for (const t of s.tmpfs ?? []) {
    const colon = t.indexOf(':');
    tmpfs[colon < 0 ? t : t.slice(0, colon)] = colon < 0 ? '' : t.slice(colon + 1);
  }
  const binds: NonNullable<ContainerOptions['binds']> = [];
  const volumes: NonNullable<ContainerOptions['volumes']> = [];
  const replicated: NonNullable<ContainerOptions['stackVolumes']> = [];
  const anonymous: string[] = [];
  for (const m of s.mounts) {
    if (m.type === 'bind') binds.push({ source: m.source, target: m.target, readOnly: m.readOnly });
    else if (m.type === 'tmpfs') tmpfs[m.target] = m.sizeBytes !== undefined ? `size=${m.sizeBytes}` : '';
    else if (m.source === undefined) anonymous.push(m.target);
    else {
      const vol = model.volumes.find((v) => v.name === m.source);
      if (vol?.external) volumes.push({ name: vol.externalName ?? vol.name, target: m.target, readOnly: m.readOnly });
      else if (vol?.local || ctx.legacyVolumes?.has(m.source)) volumes.push({ name: stackDockerVolumeName(model.name, m.source), target: m.target, readOnly: m.readOnly });
      else replicated.push({ name: stackVolumeName(model.name, m.source), target: m.target, readOnly: m.readOnly });
    }
  }
  if (Object.keys(tmpfs).length) o.tmpfs = tmpfs;
  if (binds.length) o.binds = binds;
  if (volumes.length) o.volumes = volumes;
  if (replicated.length) o.stackVolumes = replicated;
  if (anonymous.length) o.anonymousVolumes = anonymous;
  if (s.dependsOn.length) {
    o.dependsOn = s.dependsOn.map((d) => ({ service: model.services.find((x) => x.name === d.service)!.warrenName, condition: d.condition, required: d.required }));
  }
  if (s.networkMode === 'host') {
    o.hostNetwork = true;
    const held = hostPortsOfStackService(s);
    if (held.length) o.hostPorts = held;
    o.meshNames = [...new Set([...s.aliases, s.warrenName])];
  } else o.network = { stack: model.name, aliases: [...new Set([...s.aliases, s.warrenName])] };
  return o;
}

/**
 * A host-network service's ports and expose: the node ports it listens on (its container ports:
 * with the node's network they are the node's), in the file's order (the proxy goes to the first
 * TCP one, as it goes to a service's first declared port).
 */
export function hostPortsOfStackService(s: StackService): string[] {
  return [...new Set([...s.ports, ...(s.expose ?? [])].map((p) => `${p.target}/${p.protocol}`))];
}

function portsOf(s: StackService): PortSpec[] {
  if (s.networkMode === 'host') return [];
  const out: PortSpec[] = [];
  const listed = new Set(s.ports);
  for (const p of [...s.ports, ...(s.expose ?? [])]) {
    // one binding per container port and protocol (Warren's PortSpec); a deploy has given a host range one port
    // of it (port-ranges.ts): one left here (not deployed) becomes a port Docker picks
    if (out.some((q) => q.container === p.target && q.protocol === p.protocol)) continue;
    // `ports: ["80"]` publishes for anyone as compose does; `expose:` is for the stack (members) only
    const anyHostPort = listed.has(p) && p.published === undefined && !p.hostIp;
    out.push({ container: p.target, protocol: p.protocol, ...(p.published !== undefined ? { published: p.published } : {}), ...(p.hostIp ? { hostIp: p.hostIp } : {}), ...(anyHostPort ? { anyHostPort: true as const } : {}) });
  }
  return out;
}

/** The Warren service of each stack service, as the service manager creates it. */
export function stackServices(model: StackModel, ctx: PlacementContext): ServiceInputParsed[] {
  const pins = pinnedServices(model);
  const out = model.services.map((s) => {
    const constraints = placementOf(s, pins.has(s.name), ctx.nodeName);
    const input: ServiceInputParsed = {
      name: s.warrenName,
      stack: model.name,
      image: s.image,
      command: s.command ?? [],
      env: { ...s.environment },
      ports: portsOf(s),
      volumes: [],
      replicas: s.replicas,
      restart: s.restart,
      constraints,
      options: optionsOf(model, s, ctx),
    };
    if (s.limits?.cpus !== undefined) input.cpus = s.limits.cpus;
    if (s.limits?.memoryBytes !== undefined) input.memoryBytes = s.limits.memoryBytes;
    return input;
  });
  checkVolumeNames(out);
  return out;
}

/**
 * Slot N of a replicated volume is `<stack>.<volume>.N`: a volume literally named `<volume>.N`
 * would be the same Warren volume. Refused, naming both.
 */
function checkVolumeNames(services: ServiceInputParsed[]): void {
  const seen = new Map<string, { volume: string; slot: number }>();
  for (const svc of services) {
    for (let slot = 0; slot < svc.replicas; slot++) {
      for (const v of svc.options?.stackVolumes ?? []) {
        const name = slot === 0 ? v.name : `${v.name}.${slot}`;
        const before = seen.get(name);
        if (before && (before.volume !== v.name || before.slot !== slot)) throw new UserError('volume_name_clash', `the Warren volume ${name} would be both ${before.volume} of replica ${before.slot} and ${v.name} of replica ${slot}: rename one of the stack's volumes`, 400);
        seen.set(name, { volume: v.name, slot });
      }
    }
  }
}

/**
 * Host ports the stack would publish that a service outside it publishes already (a published
 * port is meant to answer on every node, so two services cannot share one anywhere). One line each.
 */
export function portClashes(stack: string, desired: ServiceInputParsed[], existing: ServiceSpec[], composeName?: (warrenName: string) => string | undefined): string[] {
  const out: string[] = [];
  const others = existing.filter((e) => e.stack !== stack);
  const owner = (other: ServiceSpec) => `service ${other.name}${other.stack ? ` of stack ${other.stack}` : ''}`;
  const where = (d: ServiceInputParsed) => {
    const key = composeName?.(d.name);
    return `${key !== undefined ? `services.${key}.ports: ` : ''}${d.name}`;
  };
  // a host-network service's ports are the node's own: one published (on every node) elsewhere is never free
  const listensOn = (e: Pick<ServiceSpec, 'options'>, port: number, protocol: string) => hostPortsOf(e).includes(`${port}/${protocol}`);
  for (const d of desired) {
    for (const p of d.ports) {
      if (p.published === undefined) continue;
      const other = others.find((e) => e.ports.some((q) => q.published === p.published && q.protocol === p.protocol && (!q.hostIp || !p.hostIp || q.hostIp === p.hostIp)));
      const host = others.find((e) => listensOn(e, p.published!, p.protocol));
      if (other) out.push(`${where(d)}: host port ${p.published}/${p.protocol} is already published by ${owner(other)}: publish another host port, or remove that service first`);
      else if (host) out.push(`${where(d)}: host port ${p.published}/${p.protocol} is where ${owner(host)} (network_mode: host) listens on its node: publish another host port`);
    }
    for (const hp of hostPortsOf(d)) {
      const [port, protocol] = hp.split('/') as [string, string];
      const other = others.find((e) => e.ports.some((q) => q.published === Number(port) && q.protocol === protocol));
      if (other) out.push(`${where(d)}: port ${hp} (network_mode: host) is already published on every node by ${owner(other)}: change one of them`);
    }
  }
  return out;
}

export type StackAction = 'create' | 'update' | 'unchanged' | 'remove';

export interface StackStep {
  service: string;
  action: StackAction;
  /** for updates: whether the containers are replaced (else only replicas or placement change) */
  restarts?: boolean;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * What a deploy does, given every service the cluster has. A name taken by a service that is not
 * this stack's is refused (409), so a deploy never takes over someone else's service.
 */
export function planStack(stack: string, desired: ServiceInputParsed[], existing: ServiceSpec[]): StackStep[] {
  const steps: StackStep[] = [];
  for (const d of desired) {
    const e = existing.find((x) => x.name === d.name);
    if (!e) {
      steps.push({ service: d.name, action: 'create' });
      continue;
    }
    if (e.stack !== stack) {
      const owner = e.stack ? `stack "${e.stack}"` : 'warren service create';
      throw new UserError('service_exists', `the stack's service "${d.name}" would replace an existing service of that name (made by ${owner}): remove it first, or deploy under another name with -p`, 409);
    }
    const restarts = !sameContainerSpec(e, d);
    const placement = e.replicas !== d.replicas || !sameJson(e.constraints, d.constraints);
    steps.push({ service: d.name, action: restarts || placement ? 'update' : 'unchanged', ...(restarts || placement ? { restarts } : {}) });
  }
  for (const e of existing) if (e.stack === stack && !desired.some((d) => d.name === e.name)) steps.push({ service: e.name, action: 'remove' });
  return steps;
}
