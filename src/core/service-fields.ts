/**
 * The scalar fields of a service (see service-spec.ts for the body they make up): name, image,
 * command, env, replicas, restart, cpus, memory, httpsRedirect. Pure; each parser takes the
 * field's name (or the CLI flag's) for its error messages.
 */
import { fail, isObject, show } from './invalid-service.ts';
import type { RestartPolicy } from './service-types.ts';

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

// ---------------------------------------------------------------------------------------------
// names

export const DNS_LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

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
