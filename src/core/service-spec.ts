/**
 * Validation of what users ask for: the body of POST /v1/services and PATCH /v1/services/:name,
 * and the CLI flags that build those bodies. Pure (no I/O). Every problem is one
 * `UserError('invalid_service', ..., 400)` whose message names the field (or flag), the value and
 * what is expected.
 *
 * The body of POST /v1/services (JSON object; any other field is refused by name):
 * ```
 * {
 *   "name": "web",                      // required; a DNS label (1-63 of a-z 0-9 -), not reserved
 *   "image": "nginx:1.27",              // required; a Docker image reference
 *   "command": ["nginx", "-g", "daemon off;"],   // optional; [] = the image's own command
 *   "env": { "TZ": "Europe/Paris" },    // or ["TZ=Europe/Paris"]; numbers/booleans become strings
 *   "ports": [80, "8443", "53/udp"],    // container ports (host ports are Warren's choice);
 *                                       //   also { "container": 80, "protocol": "tcp" }
 *   "volumes": ["data:/data"],          // NAME:/path, named volumes only; also { "name", "path" }
 *   "replicas": 1,                      // default 1; a whole number from 0 to 100
 *   "restart": "always",                // default "always"; or "on-failure", "no"
 *   "constraints": ["node=nas", "label=disk=ssd"],   // every one must hold; also the
 *                                       //   { "kind": "node", "value" } / { "kind": "label", "key", "value" } objects
 *   "cpus": 0.5,                        // or "0.5": CPU cores
 *   "memory": "512m",                   // or bytes; k/m/g/t (also kb, Ki, KiB...) are powers of 1024
 *   "httpsRedirect": true               // optional, default false: plain HTTP to the service is
 *                                       //   redirected (308) to https://<name>.<domain>
 * }
 * ```
 * PATCH takes any non-empty subset of the same fields except `name` (which cannot change);
 * there `"cpus": null` / `"memory": null` remove the limit. Lists and `env` replace the old value
 * as a whole (the CLI merges its add/remove flags into the current value before sending).
 */
import { UserError } from './errors.ts';
import type { Constraint, ContainerOptions, ContainerSpec, PortSpec, RestartPolicy, ServiceSpec, VolumeSpec } from './service-types.ts';

export type ServiceInputParsed = Omit<ServiceSpec, 'generation' | 'createdAt' | 'updatedAt'>;

/** A validated PATCH: only the fields given. `null` for cpus/memoryBytes removes the limit. */
export interface ServicePatch {
  image?: string;
  command?: string[];
  env?: Record<string, string>;
  ports?: PortSpec[];
  volumes?: VolumeSpec[];
  replicas?: number;
  restart?: RestartPolicy;
  constraints?: Constraint[];
  cpus?: number | null;
  memoryBytes?: number | null;
  httpsRedirect?: boolean;
  /** container options (stacks only: not accepted from the HTTP body); null removes them */
  options?: ContainerOptions | null;
}

export const MAX_REPLICAS = 100;
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
export const MAX_CPUS = 1024;
export const RESTART_POLICIES: readonly RestartPolicy[] = ['always', 'on-failure', 'no'];

/**
 * Names a service may not take: they are (or may become) names of Warren's own DNS records
 * (`<service>.<domain>`, `<node>.node.<domain>`, `ns-<node>.<domain>`: see src/routing/dns-zone.ts)
 * or are confusing there. Names starting with "ns-" are refused too.
 */
export const RESERVED_SERVICE_NAMES: readonly string[] = ['node', 'nodes', 'warren', 'api', 'leader', 'cluster', 'service', 'services', 'localhost', 'local', 'all', 'any'];

const PATCH_FIELDS = ['image', 'command', 'env', 'ports', 'volumes', 'replicas', 'restart', 'constraints', 'cpus', 'memory', 'httpsRedirect'] as const;
const INPUT_FIELDS = ['name', ...PATCH_FIELDS] as const;

const fail = (message: string): never => {
  throw new UserError('invalid_service', message, 400);
};

const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'nothing';
  try {
    const s = JSON.stringify(v);
    return s.length > 60 ? s.slice(0, 57) + '...' : s;
  } catch {
    // too deep or circular for JSON.stringify, and String() of a deep array overflows the stack too
    return Array.isArray(v) ? 'an array' : typeof v;
  }
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// names

const DNS_LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `name` cannot name a service, or undefined when it can. */
export function serviceNameProblem(name: unknown, field = 'name'): string | undefined {
  if (typeof name !== 'string' || name === '') return `${field} is required: a DNS label such as "web" (lowercase letters, digits and "-")`;
  if (!DNS_LABEL_RE.test(name)) {
    return `${field} ${show(name)} must be a DNS label: 1-63 lowercase letters, digits and "-", not starting or ending with "-"`;
  }
  if (/^[0-9]+$/.test(name)) return `${field} ${show(name)} must contain a letter (all-digit names look like addresses in DNS)`;
  if (name.startsWith('xn--')) return `${field} ${show(name)} must not start with "xn--" (reserved for internationalised DNS names)`;
  if (name.startsWith('ns-')) return `${field} ${show(name)} must not start with "ns-" (ns-<node> names Warren's DNS servers)`;
  if (RESERVED_SERVICE_NAMES.includes(name)) {
    return `${field} ${show(name)} is reserved for Warren's own DNS names (${RESERVED_SERVICE_NAMES.join(', ')}); choose another name`;
  }
  return undefined;
}

export function parseServiceName(name: unknown, field = 'name'): string {
  const problem = serviceNameProblem(name, field);
  if (problem) fail(problem);
  return name as string;
}

// ---------------------------------------------------------------------------------------------
// image

// The grammar of github.com/distribution/reference: [domain[:port]/]path[:tag][@digest].
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?)`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const IMAGE_RE = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`);

export function parseImage(image: unknown, field = 'image'): string {
  if (image === undefined || image === null || image === '') fail(`${field} is required: the Docker image to run (e.g. nginx:1.27)`);
  if (typeof image !== 'string') return fail(`${field} must be a string such as "nginx:1.27", got ${show(image)}`);
  const nameLength = image.split('@')[0]!.replace(/:[\w][\w.-]*$/, '').length;
  if (image.length > 512 || nameLength > 255 || !IMAGE_RE.test(image)) {
    const hint = /[A-Z]/.test(image.split('/').slice(-1)[0]!.split(':')[0]!) ? ' (repository names are lowercase)' : /\s/.test(image) ? ' (no spaces)' : '';
    fail(`${field} ${show(image)} is not a valid image reference${hint}: expected e.g. nginx, nginx:1.27, ghcr.io/owner/app:tag or app@sha256:<digest>`);
  }
  return image;
}

// ---------------------------------------------------------------------------------------------
// command

export function parseCommand(command: unknown, field = 'command'): string[] {
  if (!Array.isArray(command) || command.some((a) => typeof a !== 'string')) {
    return fail(`${field} must be a list of strings (e.g. ["nginx", "-g", "daemon off;"]), got ${show(command)}`);
  }
  if (command.some((a: string) => a.includes('\0'))) fail(`${field} must not contain NUL characters`);
  return [...(command as string[])];
}

// ---------------------------------------------------------------------------------------------
// env

const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function checkEnvKey(key: string, field: string, whole?: string): void {
  if (!ENV_KEY_RE.test(key)) {
    const where = whole !== undefined ? `${field} ${show(whole)}: ` : `${field}: `;
    fail(`${where}the variable name ${show(key)} must start with a letter or "_" and contain only letters, digits, "_", "." and "-"`);
  }
}

function checkEnvValue(key: string, value: string, field: string): void {
  if (value.includes('\0')) fail(`${field}: the value of ${key} must not contain NUL characters`);
}

/** One `KEY=VALUE` (the value may contain "=" and may be empty). */
export function parseEnvEntry(text: string, field = 'env'): [string, string] {
  if (typeof text !== 'string') return fail(`${field} entries must be "KEY=VALUE" strings, got ${show(text)}`);
  const eq = text.indexOf('=');
  if (eq <= 0) return fail(`${field} ${show(text)} must be KEY=VALUE (e.g. TZ=Europe/Paris)`);
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  checkEnvKey(key, field, text);
  checkEnvValue(key, value, field);
  return [key, value];
}

/** `KEY=VALUE` entries (each key once) into an object. */
export function parseEnvList(entries: readonly string[], field = 'env'): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const [k, v] = parseEnvEntry(entry, field);
    if (Object.hasOwn(env, k)) fail(`${field} sets ${k} twice`);
    env[k] = v;
  }
  return env;
}

/** The `env` field: an object of strings (numbers and booleans are turned into strings) or a list of "KEY=VALUE". */
export function parseEnv(env: unknown, field = 'env'): Record<string, string> {
  if (Array.isArray(env)) return parseEnvList(env as string[], field);
  if (!isObject(env)) return fail(`${field} must be an object such as {"TZ": "Europe/Paris"} or a list of "KEY=VALUE" strings, got ${show(env)}`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    checkEnvKey(k, field);
    if (typeof v === 'string') out[k] = v;
    else if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') out[k] = String(v);
    else fail(`${field}: the value of ${k} must be a string, got ${show(v)}`);
    checkEnvValue(k, out[k]!, field);
  }
  return out;
}

/** The name given to `--env-rm`. */
export function parseEnvKey(key: string, field = '--env-rm'): string {
  checkEnvKey(key, field);
  return key;
}

// ---------------------------------------------------------------------------------------------
// ports

/** One container port: 80, "80", "80/tcp", "53/udp" or { container, protocol }. */
export function parsePortEntry(value: unknown, field = 'ports'): PortSpec {
  let portPart: string;
  let protocol: string = 'tcp';
  if (typeof value === 'number') portPart = String(value);
  else if (typeof value === 'string') {
    const slash = value.indexOf('/');
    portPart = slash < 0 ? value : value.slice(0, slash);
    if (slash >= 0) protocol = value.slice(slash + 1).toLowerCase();
    if (portPart.includes(':')) {
      fail(`${field} ${show(value)}: give only the container port (e.g. ${show(portPart.split(':').pop())}); Warren chooses the host port and shows it in "warren service inspect"`);
    }
  } else if (isObject(value)) {
    const extra = Object.keys(value).filter((k) => k !== 'container' && k !== 'protocol');
    if (extra.length) fail(`${field} ${show(value)}: unknown field ${show(extra[0])} (a port is {"container": 80, "protocol": "tcp"})`);
    portPart = typeof value.container === 'number' ? String(value.container) : typeof value.container === 'string' ? value.container : '';
    if (value.protocol !== undefined) protocol = typeof value.protocol === 'string' ? value.protocol.toLowerCase() : '?';
  } else {
    return fail(`${field} entries must be container ports such as 80, "8080" or "53/udp", got ${show(value)}`);
  }
  if (!/^\d{1,5}$/.test(portPart) || Number(portPart) < 1 || Number(portPart) > 65535) {
    fail(`${field} ${show(value)} must be a container port from 1 to 65535, optionally with /tcp or /udp (e.g. 80, 53/udp)`);
  }
  if (protocol !== 'tcp' && protocol !== 'udp') fail(`${field} ${show(value)}: the protocol must be tcp or udp`);
  return { container: Number(portPart), protocol: protocol as 'tcp' | 'udp' };
}

export function parsePorts(ports: unknown, field = 'ports'): PortSpec[] {
  if (!Array.isArray(ports)) return fail(`${field} must be a list of container ports such as [80, "53/udp"], got ${show(ports)}`);
  const out: PortSpec[] = [];
  for (const p of ports) {
    const port = parsePortEntry(p, field);
    if (out.some((q) => q.container === port.container && q.protocol === port.protocol)) fail(`${field} lists ${formatPort(port)} twice`);
    out.push(port);
  }
  return out;
}

export const formatPort = (p: PortSpec): string => `${p.container}/${p.protocol}`;

// ---------------------------------------------------------------------------------------------
// volumes

function checkVolumePath(path: string, field: string, whole: unknown): void {
  const where = `${field} ${show(whole)}`;
  if (path.includes(':')) fail(`${where}: mount options such as ":ro" are not supported; use NAME:/path (or NAME:/path:local for a volume that is not replicated)`);
  if (!path.startsWith('/')) fail(`${where}: the path in the container ${show(path)} must be absolute (start with "/")`);
  if (path === '/' || /^\/+$/.test(path)) fail(`${where}: a volume cannot be mounted at "/"`);
  if (path.split('/').some((seg) => seg === '..' || seg === '.')) fail(`${where}: the path must not contain "." or ".." segments`);
  if (/[\0\n]/.test(path) || path.length > 4096) fail(`${where}: the path is not a usable container path`);
}

const normalisePath = (p: string) => p.replace(/\/+/g, '/').replace(/\/$/, '');

/** One volume: "NAME:/path" or { name, path }. Host paths are refused: the data must follow the service. */
export function parseVolumeEntry(value: unknown, field = 'volumes'): VolumeSpec {
  let name: string;
  let path: string;
  let local = false;
  if (typeof value === 'string') {
    const colon = value.indexOf(':');
    if (value.startsWith('/') || value.startsWith('.') || value.startsWith('~')) {
      fail(`${field} ${show(value)}: host paths are not supported; use a named volume (e.g. data:/data) so the data can follow the service to another machine`);
    }
    if (colon <= 0) return fail(`${field} ${show(value)} must be NAME:/path (a named volume and an absolute path in the container, e.g. data:/data)`);
    name = value.slice(0, colon);
    path = value.slice(colon + 1);
    if (path.endsWith(':local')) (path = path.slice(0, -':local'.length)), (local = true);
  } else if (isObject(value)) {
    const extra = Object.keys(value).filter((k) => k !== 'name' && k !== 'path' && k !== 'local');
    if (value.local !== undefined && typeof value.local !== 'boolean') fail(`${field} ${show(value)}: local must be true or false`);
    local = value.local === true;
    if (extra.length) fail(`${field} ${show(value)}: unknown field ${show(extra[0])} (a volume is {"name": "data", "path": "/data"})`);
    if (typeof value.name !== 'string' || typeof value.path !== 'string') return fail(`${field} ${show(value)} must have a string name and path (e.g. {"name": "data", "path": "/data"})`);
    name = value.name;
    path = value.path;
  } else {
    return fail(`${field} entries must be "NAME:/path" strings (e.g. "data:/data"), got ${show(value)}`);
  }
  if (!DNS_LABEL_RE.test(name)) fail(`${field} ${show(value)}: the volume name ${show(name)} must be a DNS label: 1-63 lowercase letters, digits and "-", not starting or ending with "-"`);
  checkVolumePath(path, field, value);
  return { name, path: normalisePath(path), ...(local ? { local: true as const } : {}) };
}

export function parseVolumes(volumes: unknown, field = 'volumes'): VolumeSpec[] {
  if (!Array.isArray(volumes)) return fail(`${field} must be a list of "NAME:/path" strings such as ["data:/data"], got ${show(volumes)}`);
  const out: VolumeSpec[] = [];
  for (const v of volumes) {
    const vol = parseVolumeEntry(v, field);
    if (out.some((w) => w.path === vol.path)) fail(`${field} mounts two volumes at ${vol.path}`);
    out.push(vol);
  }
  return out;
}

export const formatVolume = (v: VolumeSpec): string => `${v.name}:${v.path}${v.local ? ':local' : ''}`;

// ---------------------------------------------------------------------------------------------
// labels and constraints

// the same grammar as the agent's `--label` (src/core/agent-config.ts), so every label a node can carry can be asked for
const LABEL_KEY_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
const LABEL_VALUE_RE = /^[^\s]{0,253}$/;

/** Why a node label's key or value is not acceptable (the agent's --label uses it too). */
export function labelProblem(key: string, value: string): string | undefined {
  if (!LABEL_KEY_RE.test(key)) return `the label key ${show(key)} must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit`;
  if (!LABEL_VALUE_RE.test(value)) return `the label value ${show(value)} must have no spaces (at most 253 characters)`;
  return undefined;
}

/** A node label `KEY=VALUE` (as a node's `--label` and in `label=KEY=VALUE` constraints). */
export function parseLabel(text: string, field = '--label'): [string, string] {
  const eq = typeof text === 'string' ? text.indexOf('=') : -1;
  if (eq < 0) return fail(`${field} ${show(text)} must be KEY=VALUE (e.g. disk=ssd)`);
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const problem = labelProblem(key, value);
  if (problem) fail(`${field} ${show(text)}: ${problem}`);
  return [key, value];
}

/** One constraint: "node=NAME", "label=KEY=VALUE", or the Constraint object. */
export function parseConstraintEntry(value: unknown, field = 'constraints'): Constraint {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (isObject(value) && value.kind === 'node' && typeof value.value === 'string' && Object.keys(value).length === 2) text = `node=${value.value}`;
  else if (isObject(value) && value.kind === 'label' && typeof value.key === 'string' && typeof value.value === 'string' && Object.keys(value).length === 3) {
    text = `label=${value.key}=${value.value}`;
  } else return fail(`${field} entries must be "node=NAME" or "label=KEY=VALUE", got ${show(value)}`);
  const eq = text.indexOf('=');
  if (eq < 0) return fail(`${field} ${show(text)} must be node=NAME or label=KEY=VALUE`);
  const kind = text.slice(0, eq);
  const rest = text.slice(eq + 1);
  if (kind === 'node') {
    if (!DNS_LABEL_RE.test(rest)) fail(`${field} ${show(text)}: ${show(rest)} is not a node name (node names are DNS labels, see "warren members")`);
    return { kind: 'node', value: rest };
  }
  if (kind === 'label') {
    const eq2 = rest.indexOf('=');
    if (eq2 < 0) return fail(`${field} ${show(text)} must be label=KEY=VALUE (e.g. label=disk=ssd)`);
    const key = rest.slice(0, eq2);
    const v = rest.slice(eq2 + 1);
    const problem = labelProblem(key, v);
    if (problem) fail(`${field} ${show(text)}: ${problem}`);
    return { kind: 'label', key, value: v };
  }
  return fail(`${field} ${show(text)}: unknown kind ${show(kind)} (expected node=NAME or label=KEY=VALUE)`);
}

export function parseConstraints(constraints: unknown, field = 'constraints'): Constraint[] {
  if (!Array.isArray(constraints)) return fail(`${field} must be a list such as ["node=nas", "label=disk=ssd"], got ${show(constraints)}`);
  const out: Constraint[] = [];
  for (const c of constraints) {
    const parsed = parseConstraintEntry(c, field);
    if (out.some((d) => formatConstraint(d) === formatConstraint(parsed))) fail(`${field} lists ${formatConstraint(parsed)} twice`);
    out.push(parsed);
  }
  return out;
}

export const formatConstraint = (c: Constraint): string => (c.kind === 'node' ? `node=${c.value}` : `label=${c.key}=${c.value}`);

// ---------------------------------------------------------------------------------------------
// numbers

export function parseReplicas(value: unknown, field = 'replicas'): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > MAX_REPLICAS) fail(`${field} must be a whole number from 0 to ${MAX_REPLICAS}, got ${show(value)}`);
  return n;
}

export function parseRestart(value: unknown, field = 'restart'): RestartPolicy {
  if (!(RESTART_POLICIES as unknown[]).includes(value)) fail(`${field} must be always, on-failure or no, got ${show(value)}`);
  return value as RestartPolicy;
}

export function parseHttpsRedirect(value: unknown, field = 'httpsRedirect'): boolean {
  if (typeof value !== 'boolean') fail(`${field} must be true or false, got ${show(value)}`);
  return value as boolean;
}

export function parseCpus(value: unknown, field = 'cpus'): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n <= 0 || n > MAX_CPUS) fail(`${field} must be a number of CPU cores greater than 0 (e.g. 0.5 or 2), got ${show(value)}`);
  if (n < 0.01) fail(`${field} must be at least 0.01 cores, got ${show(value)}`);
  return Math.round(n * 1000) / 1000;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A memory size: bytes (number or digits) or "512m", "1g", "1.5G", "256Mi", "256MiB", "64kb". Units are powers of 1024. */
export function parseMemory(value: unknown, field = 'memory'): number {
  let bytes = NaN;
  if (typeof value === 'number') bytes = Number.isInteger(value) ? value : NaN;
  else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i|ib|b)?|b)?\s*$/i.exec(value);
    if (m) {
      const unit = m[2]?.toLowerCase() ?? '';
      if (unit !== '' || Number.isInteger(Number(m[1]))) bytes = Math.floor(Number(m[1]) * SIZE_UNITS[unit]!);
    }
  }
  if (!Number.isSafeInteger(bytes) || bytes <= 0) fail(`${field} must be a size such as 512m, 1g or 256Mi, or a number of bytes, got ${show(value)}`);
  if (bytes < MIN_MEMORY_BYTES) fail(`${field} ${show(value)} is below the 6 MiB a container needs at least`);
  if (bytes > 1024 ** 5) fail(`${field} ${show(value)} is more than 1 PiB`);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// bodies

function checkFields(body: unknown, allowed: readonly string[], what: string, example: string, listed = allowed): Record<string, unknown> {
  if (!isObject(body)) return fail(`the ${what} must be a JSON object such as ${example}, got ${show(body)}`);
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length) {
    fail(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => show(k)).join(', ')} in the ${what} (the fields are: ${listed.join(', ')})`);
  }
  return body;
}

const given = (body: Record<string, unknown>, key: string) => body[key] !== undefined;

/** Validates the body of POST /v1/services and fills in the defaults (see the top of this file). */
export function parseServiceInput(body: unknown): ServiceInputParsed {
  const b = checkFields(body, INPUT_FIELDS, 'service', '{"name": "web", "image": "nginx"}');
  const out: ServiceInputParsed = {
    name: parseServiceName(b.name),
    image: parseImage(b.image),
    command: given(b, 'command') ? parseCommand(b.command) : [],
    env: given(b, 'env') ? parseEnv(b.env) : {},
    ports: given(b, 'ports') ? parsePorts(b.ports) : [],
    volumes: given(b, 'volumes') ? parseVolumes(b.volumes) : [],
    restart: given(b, 'restart') ? parseRestart(b.restart) : 'always',
    replicas: given(b, 'replicas') ? parseReplicas(b.replicas) : 1,
    constraints: given(b, 'constraints') ? parseConstraints(b.constraints) : [],
  };
  if (b.cpus !== undefined && b.cpus !== null) out.cpus = parseCpus(b.cpus);
  if (b.memory !== undefined && b.memory !== null) out.memoryBytes = parseMemory(b.memory);
  if (given(b, 'httpsRedirect') && parseHttpsRedirect(b.httpsRedirect)) out.httpsRedirect = true;
  return out;
}

/**
 * Validates the body of PATCH /v1/services/:name. `name` is refused (it cannot change), unless it
 * equals `currentName` (so a client may send back what it read).
 */
export function parseServicePatch(body: unknown, currentName?: string): ServicePatch {
  if (isObject(body) && body.name !== undefined && body.name !== currentName) {
    fail(`name cannot be changed${currentName ? ` (the service is ${show(currentName)})` : ''}: create a service under the new name and remove this one`);
  }
  const b = checkFields(body, INPUT_FIELDS, 'update', '{"image": "nginx:1.27"}', PATCH_FIELDS);
  const patch: ServicePatch = {};
  if (given(b, 'image')) patch.image = parseImage(b.image);
  if (given(b, 'command')) patch.command = parseCommand(b.command);
  if (given(b, 'env')) patch.env = parseEnv(b.env);
  if (given(b, 'ports')) patch.ports = parsePorts(b.ports);
  if (given(b, 'volumes')) patch.volumes = parseVolumes(b.volumes);
  if (given(b, 'replicas')) patch.replicas = parseReplicas(b.replicas);
  if (given(b, 'restart')) patch.restart = parseRestart(b.restart);
  if (given(b, 'constraints')) patch.constraints = parseConstraints(b.constraints);
  if (given(b, 'cpus')) patch.cpus = b.cpus === null ? null : parseCpus(b.cpus);
  if (given(b, 'memory')) patch.memoryBytes = b.memory === null ? null : parseMemory(b.memory);
  if (given(b, 'httpsRedirect')) patch.httpsRedirect = parseHttpsRedirect(b.httpsRedirect);
  if (Object.keys(patch).length === 0) fail(`the update changes nothing: give at least one of ${PATCH_FIELDS.join(', ')}`);
  return patch;
}

/** The JSON body of POST /v1/services for an already-validated input (what the CLI sends). */
export function serviceInputBody(input: ServiceInputParsed): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: input.name,
    image: input.image,
    command: input.command,
    env: input.env,
    ports: input.ports.map(formatPort),
    volumes: input.volumes.map(formatVolume),
    replicas: input.replicas,
    restart: input.restart,
    constraints: input.constraints.map(formatConstraint),
  };
  if (input.cpus !== undefined) body.cpus = input.cpus;
  if (input.memoryBytes !== undefined) body.memory = input.memoryBytes;
  // only when set: an agent older than the field refuses it (unknown field), and false is the default
  if (input.httpsRedirect) body.httpsRedirect = true;
  return body;
}

/** The JSON body of PATCH /v1/services/:name for a validated patch. */
export function servicePatchBody(patch: ServicePatch): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (patch.image !== undefined) body.image = patch.image;
  if (patch.command !== undefined) body.command = patch.command;
  if (patch.env !== undefined) body.env = patch.env;
  if (patch.ports !== undefined) body.ports = patch.ports.map(formatPort);
  if (patch.volumes !== undefined) body.volumes = patch.volumes.map(formatVolume);
  if (patch.replicas !== undefined) body.replicas = patch.replicas;
  if (patch.restart !== undefined) body.restart = patch.restart;
  if (patch.constraints !== undefined) body.constraints = patch.constraints.map(formatConstraint);
  if (patch.cpus !== undefined) body.cpus = patch.cpus;
  if (patch.memoryBytes !== undefined) body.memory = patch.memoryBytes;
  if (patch.httpsRedirect !== undefined) body.httpsRedirect = patch.httpsRedirect;
  return body;
}

// ---------------------------------------------------------------------------------------------
// specs

export function newServiceSpec(parsed: ServiceInputParsed, now: number): ServiceSpec {
  return { ...structuredClone(parsed), generation: 1, createdAt: now, updatedAt: now };
}

/** The part of a service that decides how its containers are made. */
export function containerSpecOf(spec: ContainerSpec): ContainerSpec {
  const out: ContainerSpec = {
    image: spec.image,
    command: [...spec.command],
    env: { ...spec.env },
    ports: spec.ports.map((p) => ({ ...p })),
    volumes: spec.volumes.map((v) => ({ ...v })),
    restart: spec.restart,
  };
  if (spec.cpus !== undefined) out.cpus = spec.cpus;
  if (spec.memoryBytes !== undefined) out.memoryBytes = spec.memoryBytes;
  if (spec.options !== undefined) out.options = structuredClone(spec.options);
  return out;
}

/** Same containers? Order of env, ports and volumes does not matter; the command's order does. */
export function sameContainerSpec(a: ContainerSpec, b: ContainerSpec): boolean {
  const canon = (s: ContainerSpec) =>
    JSON.stringify([
      s.image,
      s.command,
      Object.entries(s.env).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
      s.ports.map((p) => formatPort(p) + (p.published ? `@${p.published}` : '') + (p.hostIp ? `@${p.hostIp}` : '') + (p.anyHostPort ? '@any' : '')).sort(),
      s.volumes.map(formatVolume).sort(),
      s.restart,
      s.cpus ?? null,
      s.memoryBytes ?? null,
      canonical(s.options ?? null),
    ]);
  return canon(a) === canon(b);
}

/** JSON with object keys sorted, so two equal option sets compare equal whatever their key order. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) => [k, canonical(x)]));
}

/** The spec after an update: `generation` goes up only when the containers must change. */
export function applyPatch(existing: ServiceSpec, patch: ServicePatch, now: number): ServiceSpec {
  const next: ServiceSpec = structuredClone(existing);
  if (patch.image !== undefined) next.image = patch.image;
  if (patch.command !== undefined) next.command = [...patch.command];
  if (patch.env !== undefined) next.env = { ...patch.env };
  if (patch.ports !== undefined) next.ports = patch.ports.map((p) => ({ ...p }));
  if (patch.volumes !== undefined) next.volumes = patch.volumes.map((v) => ({ ...v }));
  if (patch.restart !== undefined) next.restart = patch.restart;
  if (patch.replicas !== undefined) next.replicas = patch.replicas;
  if (patch.constraints !== undefined) next.constraints = structuredClone(patch.constraints);
  if (patch.cpus === null) delete next.cpus;
  else if (patch.cpus !== undefined) next.cpus = patch.cpus;
  if (patch.memoryBytes === null) delete next.memoryBytes;
  else if (patch.memoryBytes !== undefined) next.memoryBytes = patch.memoryBytes;
  // not a container setting: the proxy reads it, the containers stay
  if (patch.httpsRedirect === false) delete next.httpsRedirect;
  else if (patch.httpsRedirect === true) next.httpsRedirect = true;
  if (patch.options === null) delete next.options;
  else if (patch.options !== undefined) next.options = structuredClone(patch.options);
  if (!sameContainerSpec(existing, next)) next.generation = existing.generation + 1;
  next.updatedAt = now;
  return next;
}

// ---------------------------------------------------------------------------------------------
// CLI flags (the CLI validates with the flag names, then sends the JSON body above)

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
