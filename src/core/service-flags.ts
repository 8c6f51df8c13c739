/**
 * The flags of `warren service create` and `warren service update` into a validated input or
 * patch (errors name the flag); the CLI then sends the JSON body (service-spec.ts).
 */
import { fail, show } from './invalid-service.ts';
import { formatConstraint, parseConstraintEntry, parseConstraints } from './service-constraints.ts';
import { parseCommand, parseCpus, parseEnvKey, parseEnvList, parseImage, parseMemory, parseReplicas, parseRestart, parseServiceName } from './service-fields.ts';
import { formatPort, formatVolume, normalisePath, parsePortEntry, parsePorts, parseVolumes } from './service-ports-volumes.ts';
import type { ServiceInputParsed, ServicePatch } from './service-spec.ts';
import type { ServiceSpec } from './service-types.ts';

export interface CreateFlags {
  image: string;
  port?: string[];
  env?: string[];
  volume?: string[];
  replicas?: string;
  restart?: string;
  constraint?: string[];
  cpus?: string;
  memory?: string;
  httpsRedirect?: boolean;
}

/** `warren service create NAME --image ... [-- CMD...]` into a validated input (errors name the flag). */
export function serviceInputFromFlags(name: string, flags: CreateFlags, command: string[] = []): ServiceInputParsed {
  const input: ServiceInputParsed = {
    name: parseServiceName(name, 'the service name'),
    image: parseImage(flags.image, '--image'),
    command: parseCommand(command, 'the command after "--"'),
    env: parseEnvList(flags.env ?? [], '-e'),
    ports: parsePorts(flags.port ?? [], '-p'),
    volumes: parseVolumes(flags.volume ?? [], '-v'),
    replicas: flags.replicas === undefined ? 1 : parseReplicas(flags.replicas, '--replicas'),
    restart: flags.restart === undefined ? 'always' : parseRestart(flags.restart, '--restart'),
    constraints: parseConstraints(flags.constraint ?? [], '--constraint'),
  };
  if (flags.cpus !== undefined) input.cpus = parseCpus(flags.cpus, '--cpus');
  if (flags.memory !== undefined) input.memoryBytes = parseMemory(flags.memory, '--memory');
  if (flags.httpsRedirect) input.httpsRedirect = true;
  return input;
}

export interface UpdateFlags {
  image?: string;
  env?: string[];
  envRm?: string[];
  port?: string[];
  portRm?: string[];
  volume?: string[];
  volumeRm?: string[];
  constraint?: string[];
  constraintRm?: string[];
  replicas?: string;
  restart?: string;
  /** a number, or "none" to remove the limit */
  cpus?: string;
  /** a size, or "none" to remove the limit */
  memory?: string;
  /** go back to the image's own command */
  defaultCommand?: boolean;
  /** --https-redirect (true) / --no-https-redirect (false) */
  httpsRedirect?: boolean;
}

/**
 * `warren service update` flags merged into the current spec: -e/-p/-v/--constraint add (or
 * replace the entry with the same key, port, path), the --*-rm flags remove; a command after "--"
 * replaces the command. Only fields that differ from `current` end up in the patch (it may be empty).
 */
export function servicePatchFromFlags(current: ServiceSpec, flags: UpdateFlags, command?: string[]): ServicePatch {
  const patch: ServicePatch = {};
  if (flags.image !== undefined && flags.image !== current.image) patch.image = parseImage(flags.image, '--image');
  if (command !== undefined && command.length > 0 && flags.defaultCommand) fail('give either --default-command or a command after "--", not both');
  if (command !== undefined && command.length > 0) patch.command = parseCommand(command, 'the command after "--"');
  else if (flags.defaultCommand && current.command.length > 0) patch.command = [];

  if (flags.env?.length || flags.envRm?.length) {
    const env = { ...current.env };
    for (const k of flags.envRm ?? []) {
      parseEnvKey(k, '--env-rm');
      if (!Object.hasOwn(env, k)) fail(`--env-rm ${k}: the service has no variable ${k}`);
      delete env[k];
    }
    Object.assign(env, parseEnvList(flags.env ?? [], '-e'));
    patch.env = env;
  }
  if (flags.port?.length || flags.portRm?.length) {
    const removed = (flags.portRm ?? []).map((p) => parsePortEntry(p, '--port-rm'));
    for (const r of removed) {
      if (!current.ports.some((p) => formatPort(p) === formatPort(r))) fail(`--port-rm ${formatPort(r)}: the service does not publish ${formatPort(r)}`);
    }
    const added = parsePorts(flags.port ?? [], '-p');
    const drop = new Set([...removed, ...added].map(formatPort));
    patch.ports = [...current.ports.filter((p) => !drop.has(formatPort(p))), ...added];
  }
  if (flags.volume?.length || flags.volumeRm?.length) {
    const removedPaths = (flags.volumeRm ?? []).map((p) => {
      if (!p.startsWith('/')) fail(`--volume-rm ${show(p)} must be the path in the container where the volume is mounted (e.g. /data)`);
      const path = normalisePath(p);
      if (!current.volumes.some((v) => v.path === path)) fail(`--volume-rm ${path}: no volume is mounted there`);
      return path;
    });
    const added = parseVolumes(flags.volume ?? [], '-v');
    const drop = new Set([...removedPaths, ...added.map((v) => v.path)]);
    patch.volumes = [...current.volumes.filter((v) => !drop.has(v.path)), ...added];
  }
  if (flags.constraint?.length || flags.constraintRm?.length) {
    const removed = (flags.constraintRm ?? []).map((c) => formatConstraint(parseConstraintEntry(c, '--constraint-rm')));
    for (const r of removed) {
      if (!current.constraints.some((c) => formatConstraint(c) === r)) fail(`--constraint-rm ${r}: the service has no such constraint`);
    }
    const added = parseConstraints(flags.constraint ?? [], '--constraint');
    const drop = new Set([...removed, ...added.map(formatConstraint)]);
    patch.constraints = [...current.constraints.filter((c) => !drop.has(formatConstraint(c))), ...added];
  }
  if (flags.replicas !== undefined) patch.replicas = parseReplicas(flags.replicas, '--replicas');
  if (flags.restart !== undefined) patch.restart = parseRestart(flags.restart, '--restart');
  if (flags.cpus !== undefined) patch.cpus = flags.cpus === 'none' ? null : parseCpus(flags.cpus, '--cpus');
  if (flags.memory !== undefined) patch.memoryBytes = flags.memory === 'none' ? null : parseMemory(flags.memory, '--memory');
  if (flags.httpsRedirect !== undefined && flags.httpsRedirect !== (current.httpsRedirect === true)) patch.httpsRedirect = flags.httpsRedirect;

  // keep only real changes
  const canon = (v: unknown) => JSON.stringify(v ?? null);
  if (patch.env && canon(Object.entries(patch.env).sort()) === canon(Object.entries(current.env).sort())) delete patch.env;
  if (patch.ports && canon(patch.ports.map(formatPort).sort()) === canon(current.ports.map(formatPort).sort())) delete patch.ports;
  if (patch.volumes && canon(patch.volumes.map(formatVolume).sort()) === canon(current.volumes.map(formatVolume).sort())) delete patch.volumes;
  if (patch.constraints && canon(patch.constraints.map(formatConstraint).sort()) === canon(current.constraints.map(formatConstraint).sort())) delete patch.constraints;
  if (patch.command && canon(patch.command) === canon(current.command)) delete patch.command;
  if (patch.replicas === current.replicas) delete patch.replicas;
  if (patch.restart === current.restart) delete patch.restart;
  if (patch.cpus !== undefined && (patch.cpus ?? undefined) === current.cpus) delete patch.cpus;
  if (patch.memoryBytes !== undefined && (patch.memoryBytes ?? undefined) === current.memoryBytes) delete patch.memoryBytes;
  return patch;
}
