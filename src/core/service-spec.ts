/**
 * Validation of what users ask for: the body of POST /v1/services and PATCH /v1/services/:name,
 * and the specs they make (new, patched, compared). Pure (no I/O). The fields are parsed in
 * service-fields.ts, service-ports-volumes.ts and service-constraints.ts; the CLI flags that
 * build these bodies in service-flags.ts. Every problem is one
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
import { fail, isObject, show } from './invalid-service.ts';
import { formatConstraint, parseConstraints } from './service-constraints.ts';
import {
  parseCommand,
  parseCpus,
  parseEnv,
  parseHttpsRedirect,
  parseImage,
  parseMemory,
  parseReplicas,
  parseRestart,
  parseServiceName,
} from './service-fields.ts';
import { formatPort, formatVolume, parsePorts, parseVolumes } from './service-ports-volumes.ts';
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

const PATCH_FIELDS = ['image', 'command', 'env', 'ports', 'volumes', 'replicas', 'restart', 'constraints', 'cpus', 'memory', 'httpsRedirect'] as const;
const INPUT_FIELDS = ['name', ...PATCH_FIELDS] as const;

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
