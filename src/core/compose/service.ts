/**
 * One compose service → a StackService. Every key gets its verdict from keys.ts: honoured keys
 * are read (a bad value is an error naming the key and line), ignored keys are warned about with
 * the reason, refused keys are errors with the reason.
 */
import { posix } from 'node:path';
import { parseImage } from '../service-fields.ts';
import { isUserError } from '../errors.ts';
import { Diagnostics, suggestion } from './diagnostics.ts';
import { parseDotenv, DotenvError } from './dotenv.ts';
import { Field, isObj, shellSplit, type Obj } from './fields.ts';
import type { Lookup } from './interpolate.ts';
import { keyPosition } from './located.ts';
import { SERVICE_KEYS } from './keys.ts';
import type { DependsCondition, StackDependency, StackHealthcheck, StackMount, StackPort, StackService } from './model.ts';
import { MountError, parseLongMount, parseShortMount } from './mounts.ts';
import { parseLongPort, parseShortPort, PortError, portItems } from './ports.ts';
import { checkEachItem, checkEachValue, checkNested } from './schema.ts';
import { readDeploy, readDevices, readExtraHosts, readSimpleOptions, readUlimits } from './service-options.ts';

export interface ServiceContext {
  diag: Diagnostics;
  projectDir: string;
  /** the environment the stack is deployed with (shell, then .env) */
  lookup: Lookup;
  /** files the compose file refers to (env_file), by absolute path */
  files: Record<string, string>;
  topVolumes: Set<string>;
  topNetworks: Set<string>;
}

const CONDITIONS: DependsCondition[] = ['service_started', 'service_healthy', 'service_completed_successfully'];

export function normaliseService(name: string, warrenName: string, raw: unknown, ctx: ServiceContext, services: Obj): StackService | undefined {
  const { diag } = ctx;
  const path = `services.${name}`;
  if (!isObj(raw)) {
    diag.error(keyPosition(services, name), path, 'must be a mapping of keys such as image:, ports:, environment:');
    return undefined;
  }
  const has = (k: string) => raw[k] !== undefined && raw[k] !== null;
  const f = (k: string) => (has(k) ? new Field(diag, raw, k, `${path}.${k}`) : undefined);
  const errorsBefore = diag.errors.length;

  for (const key of Object.keys(raw)) {
    if (key.startsWith('x-')) continue;
    const rule = SERVICE_KEYS[key];
    const field = new Field(diag, raw, key, `${path}.${key}`);
    if (!rule) field.error(`unknown key "${key}"${suggestion(key, Object.keys(SERVICE_KEYS))}`);
    else if (rule.verdict === 'ignored') field.warn(`ignored: ${rule.note}`);
    else if (rule.verdict === 'refused' && !acceptedAnyway(key, raw)) field.error(`not supported: ${rule.note}`);
  }

  let image: string | undefined;
  if (!has('image')) {
    if (has('build')) return undefined; // refused above with how to build and load the image
    diag.error(keyPosition(services, name), path, 'image is required (the Docker image to run, e.g. nginx:1.27)');
  } else {
    const field = f('image')!;
    const text = field.string();
    try {
      if (text !== undefined) image = parseImage(text, 'image');
    } catch (err) {
      field.error(isUserError(err) ? err.message.replace(/^image /, '') : String(err));
    }
    if (has('build')) f('build')!.warn('ignored: Warren runs the image given by image: and does not build it');
  }

  const out: Partial<StackService> = { name, warrenName, constraints: [] };
  out.command = readCommand(f('command'));
  out.entrypoint = readCommand(f('entrypoint'));
  out.environment = readEnvironment(f('environment'), f('env_file'), ctx);
  out.ports = readPorts(f('ports'));
  if (has('expose')) {
    const expose = readExpose(f('expose')!);
    if (expose.length) out.expose = expose;
  }
  out.mounts = readMounts(f('volumes'), ctx);
  out.restart = readRestart(f('restart'));
  out.dependsOn = readDependsOn(f('depends_on'), services);
  out.healthcheck = readHealthcheck(f('healthcheck'));
  readSimpleOptions(f, out);
  if (has('devices')) out.devices = readDevices(f('devices')!);
  if (has('ulimits')) out.ulimits = readUlimits(f('ulimits')!);
  if (has('sysctls')) out.sysctls = nonNull(f('sysctls')!.stringMap());
  if (has('labels')) out.labels = nonNull(f('labels')!.stringMap());
  if (has('extra_hosts')) out.extraHosts = readExtraHosts(f('extra_hosts')!);
  if (has('profiles')) out.profiles = f('profiles')!.strings();
  readNetworking(raw, f, out, ctx);
  out.replicas = has('scale') ? f('scale')!.int(0, 100) : 1;
  if (has('cpus')) out.limits = { ...out.limits, cpus: f('cpus')!.number(0.01) };
  if (has('mem_limit')) out.limits = { ...out.limits, memoryBytes: f('mem_limit')!.bytes() };
  if (has('pids_limit')) out.limits = { ...out.limits, pids: f('pids_limit')!.int(-1) };
  if (has('mem_reservation')) out.reservations = { ...out.reservations, memoryBytes: f('mem_reservation')!.bytes() };
  if (has('deploy')) readDeploy(f('deploy')!, out);
  if (out.mounts?.some((m) => m.type === 'bind')) {
    out.pinnedByBindMount = true;
    f('volumes')!.warn('bind mounts of host paths keep their data on one machine: the service is pinned to the node it is deployed on (use a named volume for data that follows the service)');
  }
  if (diag.errors.length > errorsBefore || image === undefined) return undefined;
  return dropUndefined({ name, warrenName, image, ...out }) as unknown as StackService;
}

/** build: with image: runs the image; ipc: private/shareable mean what Docker does anyway on one node. */
function acceptedAnyway(key: string, raw: Obj): boolean {
  if (key === 'build') return raw.image !== undefined && raw.image !== null; // warned about below
  return key === 'ipc' && (raw.ipc === 'private' || raw.ipc === 'shareable');
}

const nonNull = (m: Record<string, string | null> | undefined) => (m ? Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v ?? ''])) : undefined);

const dropUndefined = (o: Obj): Obj => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

function readCommand(field: Field | undefined): string[] | undefined {
  if (!field) return undefined;
  if (typeof field.value === 'string') {
    const words = shellSplit(field.value);
    return words ?? field.error('has a quote that is never closed');
  }
  return field.strings();
}

function readEnvironment(env: Field | undefined, envFile: Field | undefined, ctx: ServiceContext): Record<string, string> {
  const out: Record<string, string> = {};
  if (envFile) {
    const v = envFile.value;
    const entries: { path: string; required: boolean }[] = [];
    const list = Array.isArray(v) ? v : [v];
    if (Array.isArray(v)) checkEachItem(v, 'env_file[]', envFile.path, ctx.diag);
    for (const item of list) {
      if (typeof item === 'string') entries.push({ path: item, required: true });
      else if (isObj(item) && typeof item.path === 'string') entries.push({ path: item.path, required: item.required !== false && item.required !== 'false' });
      else envFile.error(`entries must be paths (or { path, required }), got ${JSON.stringify(item)}`);
    }
    for (const e of entries) {
      const abs = posix.resolve(ctx.projectDir, e.path);
      const text = ctx.files[abs];
      if (text === undefined) {
        if (e.required) envFile.error(`${e.path}: no such file (looked for ${abs}; add required: false to make it optional)`);
        continue;
      }
      try {
        Object.assign(out, parseDotenv(text, ctx.lookup));
      } catch (err) {
        envFile.error(err instanceof DotenvError ? `${e.path}:${err.line}: ${err.message}` : (err as Error).message);
      }
    }
  }
  const map = env?.stringMap();
  for (const [k, v] of Object.entries(map ?? {})) {
    if (v !== null) out[k] = v;
    else {
      const fromEnv = ctx.lookup(k);
      if (fromEnv !== undefined) out[k] = fromEnv;
    }
  }
  return out;
}

/** `expose: ["3000", "8000-8001", "53/udp"]`: container ports only (reached across nodes through the mesh). */
function readExpose(field: Field): StackPort[] {
  const out: StackPort[] = [];
  (field.strings() ?? []).forEach((item, i) => {
    try {
      if (item.includes(':')) throw new PortError(`"${item}": expose lists container ports only (PORT, FROM-TO, PORT/udp); publish host ports with ports:`);
      const ports = parseShortPort(item);
      for (const p of ports) portItems.set(p, i);
      out.push(...ports);
    } catch (err) {
      if (!(err instanceof PortError)) throw err;
      field.diag.error(field.itemAt(i), `${field.path}[${i}]`, err.message);
    }
  });
  return out;
}

function readPorts(field: Field | undefined): StackPort[] {
  if (!field) return [];
  const list = field.value;
  if (!Array.isArray(list)) return field.error('must be a list such as ["8080:80", "53:53/udp"]') ?? [];
  checkEachItem(list, 'ports[]', field.path, field.diag);
  const out: StackPort[] = [];
  list.forEach((item, i) => {
    try {
      const ports = typeof item === 'string' || typeof item === 'number' ? parseShortPort(item) : isObj(item) ? parseLongPort(item) : undefined;
      if (ports) {
        for (const p of ports) portItems.set(p, i);
        out.push(...ports);
      } else throw new PortError(`entries must be "HOST:CONTAINER" strings or { target, published }, got ${JSON.stringify(item)}`);
    } catch (err) {
      if (!(err instanceof PortError)) throw err;
      field.diag.error(field.itemAt(i), `${field.path}[${i}]`, err.message);
    }
  });
  return out;
}

function readMounts(field: Field | undefined, ctx: ServiceContext): StackMount[] {
  if (!field) return [];
  const list = field.value;
  if (!Array.isArray(list)) return field.error('must be a list such as ["data:/var/lib/app"]') ?? [];
  checkEachItem(list, 'volumes[]', field.path, ctx.diag);
  const out: StackMount[] = [];
  const home = ctx.lookup('HOME');
  list.forEach((item, i) => {
    const at = field.itemAt(i);
    const p = `${field.path}[${i}]`;
    try {
      if (isObj(item)) {
        for (const sub of ['bind', 'volume', 'tmpfs'] as const) checkNested(item[sub], `volumes[].${sub}`, `${p}.${sub}`, ctx.diag);
      }
      const m = typeof item === 'string' ? parseShortMount(item, ctx.projectDir, home) : isObj(item) ? parseLongMount(item, ctx.projectDir, home) : undefined;
      if (!m) throw new MountError(`entries must be "SOURCE:TARGET[:MODE]" strings or { type, source, target }, got ${JSON.stringify(item)}`);
      if (m.type === 'volume' && m.source !== undefined && !ctx.topVolumes.has(m.source)) {
        throw new MountError(`"${m.source}" is not declared in the top-level volumes: (add "volumes: { ${m.source}: {} }")`);
      }
      if (out.some((o) => o.target === m.target)) throw new MountError(`two volumes are mounted at ${m.target}`);
      out.push(m);
    } catch (err) {
      if (!(err instanceof MountError)) throw err;
      ctx.diag.error(at, p, err.message);
    }
  });
  return out;
}

function readRestart(field: Field | undefined): StackService['restart'] {
  if (!field) return 'no';
  const s = field.string();
  if (s === 'always' || s === 'no') return s;
  if (s === 'unless-stopped') return 'always';
  if (s !== undefined && /^on-failure(:\d+)?$/.test(s)) return 'on-failure';
  field.error(`"${s}" is not a restart policy (no, always, on-failure, unless-stopped)`);
  return 'no';
}

function readDependsOn(field: Field | undefined, services: Obj): StackDependency[] {
  if (!field) return [];
  const v = field.value;
  if (!isObj(v)) return field.error('must be a list of service names or a mapping { service: { condition } }') ?? [];
  checkEachValue(v, 'depends_on.*', field.path, field.diag);
  const out: StackDependency[] = [];
  for (const [service, spec] of Object.entries(v)) {
    const dep = field.child(service);
    const s = isObj(spec) ? spec : {};
    const condition = (s.condition ?? 'service_started') as DependsCondition;
    if (!CONDITIONS.includes(condition)) {
      dep.error(`condition "${String(condition)}" is not one of ${CONDITIONS.join(', ')}`);
      continue;
    }
    const required = s.required === undefined ? true : dep.child('required').bool() ?? true;
    const restart = s.restart === undefined ? false : dep.child('restart').bool() ?? false;
    if (!Object.hasOwn(services, service)) {
      if (required) dep.error(`depends on "${service}", which is not a service of this file${suggestion(service, Object.keys(services))}`);
      continue;
    }
    out.push({ service, condition, required, restart });
  }
  return out;
}

function readHealthcheck(field: Field | undefined): StackHealthcheck | undefined {
  if (!field) return undefined;
  const h = field.value;
  if (!isObj(h)) return field.error('must be a mapping { test, interval, timeout, retries, start_period }');
  checkNested(h, 'healthcheck', field.path, field.diag);
  if (h.disable === true) return { test: ['NONE'] };
  let test: string[] | undefined;
  const t = field.child('test');
  if (typeof h.test === 'string') test = ['CMD-SHELL', h.test];
  else if (h.test !== undefined) {
    test = t.strings();
    if (test && !['CMD', 'CMD-SHELL', 'NONE'].includes(test[0] ?? '')) return t.error('a list test starts with "CMD", "CMD-SHELL" or "NONE"');
  }
  const out: StackHealthcheck = { test: test ?? [] };
  if (h.interval !== undefined) out.intervalMs = field.child('interval').durationMs();
  if (h.timeout !== undefined) out.timeoutMs = field.child('timeout').durationMs();
  if (h.retries !== undefined) out.retries = field.child('retries').int(0, 1000);
  if (h.start_period !== undefined) out.startPeriodMs = field.child('start_period').durationMs();
  if (h.start_interval !== undefined) out.startIntervalMs = field.child('start_interval').durationMs();
  return dropUndefined(out as unknown as Obj) as unknown as StackHealthcheck;
}

const ALIAS_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function readNetworking(raw: Obj, f: (k: string) => Field | undefined, out: Partial<StackService>, ctx: ServiceContext): void {
  const aliases = new Set<string>([out.name!]);
  const cn = f('container_name');
  if (cn) {
    const name = cn.string();
    if (name !== undefined && !ALIAS_RE.test(name)) cn.error(`"${name}" is not a container name (letters, digits, "_", "." and "-")`);
    else if (name !== undefined) {
      out.containerName = name;
      aliases.add(name);
    }
  }
  const nm = f('network_mode');
  if (nm) {
    const mode = nm.string();
    if (mode === 'host') out.networkMode = 'host';
    else if (mode === 'bridge') nm.warn('the service joins the stack\'s own network (as "bridge" does on one machine)');
    else if (mode !== undefined) nm.error(`"${mode}" is not supported (host or bridge): ${mode.startsWith('service:') || mode.startsWith('container:') ? 'the two services may run on different machines; put them on the stack network and use the service name' : 'a stack service needs a network'}`);
    if (mode === 'host' && raw.networks !== undefined) nm.error('network_mode and networks cannot be used together');
    if (mode === 'host' && Array.isArray(raw.ports) && raw.ports.length) f('ports')!.warn('with network_mode: host nothing is published: the service listens on the node\'s own ports, so its container ports here (and in expose) are kept free for it: no other host-network replica holding one runs on its node');
  }
  const nets = f('networks');
  if (nets) {
    const v = nets.value;
    const entries: [string, unknown][] = Array.isArray(v) ? v.map((n) => [String(n), null]) : isObj(v) ? Object.entries(v) : [];
    if (!Array.isArray(v) && !isObj(v)) nets.error('must be a list of network names or a mapping');
    for (const [net, spec] of entries) {
      if (net !== 'default' && !ctx.topNetworks.has(net)) nets.error(`"${net}" is not declared in the top-level networks:`);
      if (!isObj(spec)) continue;
      const nf = nets.child(net);
      checkNested(spec, 'networks.*', nf.path, ctx.diag);
      for (const a of (spec.aliases === undefined ? [] : nf.child('aliases').strings()) ?? []) {
        if (!ALIAS_RE.test(a)) nf.child('aliases').error(`"${a}" is not a usable name`);
        else aliases.add(a);
      }
      const ignored = Object.keys(spec).filter((k) => k !== 'aliases' && !k.startsWith('x-'));
      if (ignored.length) nf.warn(`${ignored.join(', ')} ignored: addresses on the stack network are chosen by Docker`);
    }
    if (entries.length > 1) nets.warn('all services of a stack share one network: every service reaches every other (the separation between networks is not kept)');
  }
  out.aliases = [...aliases];
}
