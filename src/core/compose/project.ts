/**
 * A compose project → the normalised stack model and its warnings, as `warren stack config`
 * prints it and as the agent re-validates a deploy. Pure: the caller reads the files (src/stacks)
 * and passes their texts. Steps, in the compose specification's order: parse each file, check
 * its top-level keys, interpolate it (shell environment over .env), merge the files, pick the
 * project name and profiles, normalise each service, then check across services.
 */
import { posix } from 'node:path';
import { Diagnostics, suggestion } from './diagnostics.ts';
import { parseDotenv, DotenvError } from './dotenv.ts';
import { isObj, type Obj } from './fields.ts';
import { interpolateTree, type Lookup } from './interpolate.ts';
import { TOP_KEYS } from './keys.ts';
import { keyPosition } from './located.ts';
import { extendsFiles, resolveExtends } from './extends.ts';
import { mergeTrees, normaliseListForms } from './merge.ts';
import type { StackConfigResult, StackService, StackVolume } from './model.ts';
import { projectNameFromDir, projectNameProblem, warrenNameProblem, warrenServiceName } from './names.ts';
import { checkEachValue } from './schema.ts';
import { normaliseService } from './service.ts';
import { checkContainerNames, checkSharedVolumes, checkCycles, checkPorts, checkServiceSpecs, warrenPorts, type ReservedPort } from './validate.ts';
import { readVolumeX } from './volume-x-warren.ts';
import { parseYamlTree } from './yaml-tree.ts';

export interface StackInput {
  /** the compose files in -f order, by absolute path */
  files: { path: string; text: string }[];
  /** the .env next to the first file, or the --env-file (which replaces it) */
  envFile?: { path: string; text: string };
  /** the environment of the shell deploying the stack (wins over the env file) */
  environment: Record<string, string>;
  /** -p */
  projectName?: string;
  /** --profile (COMPOSE_PROFILES in the environment otherwise) */
  profiles?: string[];
  /** other files the compose files refer to (env_file), by absolute path */
  extraFiles?: Record<string, string>;
  /** host ports the agent uses (default: Warren's default ports) */
  reservedPorts?: ReservedPort[];
}

interface Prepared {
  diag: Diagnostics;
  merged: Obj;
  lookup: Lookup;
  projectDir: string;
}

/** Parse, interpolate, merge and resolve extends (steps shared by loadStack and envFilesOf). */
function prepare(input: StackInput & { resolveExtends?: boolean }): Prepared {
  const diag = new Diagnostics();
  if (input.files.length === 0) diag.error(undefined, undefined, 'no compose file given (-f FILE)');
  diag.throwIfErrors();
  const projectDir = posix.dirname(input.files[0]!.path);
  let dotenv: Record<string, string> = {};
  if (input.envFile) {
    try {
      dotenv = parseDotenv(input.envFile.text, (k) => input.environment[k]);
    } catch (err) {
      diag.error(err instanceof DotenvError ? { file: input.envFile.path, line: err.line } : undefined, undefined, (err as Error).message);
    }
  }
  const lookup: Lookup = (k) => (Object.hasOwn(input.environment, k) ? input.environment[k] : Object.hasOwn(dotenv, k) ? dotenv[k] : undefined);
  let merged: Obj = {};
  for (const file of input.files) {
    const tree = parseYamlTree(file.text, file.path);
    for (const key of Object.keys(tree)) {
      if (key.startsWith('x-')) continue;
      const rule = TOP_KEYS[key];
      const at = keyPosition(tree, key);
      if (!rule) diag.error(at, undefined, `unknown top-level key "${key}"${suggestion(key, Object.keys(TOP_KEYS))}`);
      else if (rule.verdict === 'ignored') diag.warn(at, key, `ignored: ${rule.note}`);
      else if (rule.verdict === 'refused') diag.error(at, key, `not supported: ${rule.note}`);
    }
    interpolateTree(tree, lookup, diag, file.path);
    normaliseListForms(tree);
    merged = mergeTrees(merged, tree) as Obj;
  }
  diag.throwIfErrors();
  if (isObj(merged.services) && input.resolveExtends !== false) resolveExtends(merged.services, { diag, projectDir, files: input.extraFiles ?? {}, lookup });
  diag.throwIfErrors();
  return { diag, merged, lookup, projectDir };
}

/** The env_file and extends paths the files refer to (absolute), so the caller can read them first. */
export function envFilesOf(input: StackInput): string[] {
  const { merged, projectDir } = prepare({ ...input, resolveExtends: false });
  const out = new Set<string>(extendsFiles(merged.services, projectDir));
  for (const svc of Object.values(isObj(merged.services) ? merged.services : {})) {
    if (!isObj(svc) || svc.env_file === undefined) continue;
    const list = Array.isArray(svc.env_file) ? svc.env_file : [svc.env_file];
    for (const e of list) {
      const p = typeof e === 'string' ? e : isObj(e) && typeof e.path === 'string' ? e.path : undefined;
      if (p) out.add(posix.resolve(projectDir, p));
    }
  }
  return [...out];
}

export function loadStack(input: StackInput): StackConfigResult {
  const { diag, merged, lookup, projectDir } = prepare(input);

  let name = input.projectName ?? lookup('COMPOSE_PROJECT_NAME') ?? (typeof merged.name === 'string' ? merged.name : undefined);
  if (name !== undefined) {
    const problem = projectNameProblem(name);
    if (problem) diag.error(input.projectName ? undefined : keyPosition(merged, 'name'), input.projectName ? '-p' : 'name', problem);
  } else {
    name = projectNameFromDir(posix.basename(projectDir));
    if (!name) diag.error(undefined, undefined, `the directory "${projectDir}" gives no usable stack name: pass -p NAME`);
  }
  diag.throwIfErrors();

  const rawServices = merged.services;
  if (!isObj(rawServices) || Object.keys(rawServices).length === 0) {
    diag.error(keyPosition(merged, 'services'), 'services', 'a stack needs at least one service');
    diag.throwIfErrors();
  }
  const services = rawServices as Obj;

  const topVolumes = readTopVolumes(merged, diag);
  const topNetworks = new Set(isObj(merged.networks) ? Object.keys(merged.networks) : []);
  checkEachValue(merged.networks, 'top.networks.*', 'networks', diag);
  if (isObj(merged.networks) && Object.keys(merged.networks).some((n) => n !== 'default')) {
    diag.warn(keyPosition(merged, 'networks'), 'networks', 'every stack has one network of its own: the declared networks are not created (their services share the stack network)');
  }

  const profiles = new Set(input.profiles ?? (lookup('COMPOSE_PROFILES') ?? '').split(',').map((p) => p.trim()).filter(Boolean));
  const enabled = (svc: unknown) => {
    const list = isObj(svc) && Array.isArray(svc.profiles) ? svc.profiles.map(String) : [];
    return list.length === 0 || list.some((p) => profiles.has(p));
  };

  const out: StackService[] = [];
  const warrenNames = new Map<string, string>();
  for (const [svcName, raw] of Object.entries(services)) {
    if (!enabled(raw)) continue;
    const problem = warrenNameProblem(name, svcName);
    if (problem) diag.error(keyPosition(services, svcName), `services.${svcName}`, problem);
    const wname = warrenServiceName(name, svcName);
    const clash = warrenNames.get(wname);
    if (clash) diag.error(keyPosition(services, svcName), `services.${svcName}`, `"${svcName}" and "${clash}" both become the Warren service "${wname}": rename one`);
    warrenNames.set(wname, svcName);
    const svc = normaliseService(svcName, wname, raw, { diag, projectDir, lookup, files: input.extraFiles ?? {}, topVolumes: new Set(topVolumes.map((v) => v.name)), topNetworks }, services);
    if (svc) out.push(svc);
  }
  for (const svc of out) {
    for (const dep of svc.dependsOn) {
      if (enabled(services[dep.service]) || !dep.required) continue;
      const raw = services[svc.name] as Obj;
      diag.error(keyPosition(raw, 'depends_on'), `services.${svc.name}.depends_on`, `depends on "${dep.service}", which is only in profile(s) ${(services[dep.service] as Obj).profiles}: enable one with --profile`);
    }
    svc.dependsOn = svc.dependsOn.filter((d) => enabled(services[d.service]));
  }
  checkCycles(out, services, diag);
  checkContainerNames(out, services, diag);
  checkPorts(out, services, input.reservedPorts ?? warrenPorts(), diag);
  diag.throwIfErrors();
  const model = { name: name!, services: out, volumes: topVolumes };
  checkServiceSpecs(model, services, diag);
  diag.throwIfErrors();
  checkSharedVolumes(model, services, diag);
  return { model, warnings: diag.warnings };
}

/** the names a Warren volume may have (src/volumes/volume-store.ts) */
const WARREN_VOLUME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function readTopVolumes(merged: Obj, diag: Diagnostics): StackVolume[] {
  const v = merged.volumes;
  if (v === undefined || v === null) return [];
  if (!isObj(v)) {
    diag.error(keyPosition(merged, 'volumes'), 'volumes', 'must be a mapping of volume names');
    return [];
  }
  checkEachValue(v, 'top.volumes.*', 'volumes', diag);
  return Object.entries(v).map(([volName, spec]) => {
    const s = isObj(spec) ? spec : {};
    const at = keyPosition(v, volName);
    if (s.driver !== undefined || s.driver_opts !== undefined) diag.warn(at, `volumes.${volName}`, 'driver and driver_opts are ignored: a stack\'s volumes are Warren volumes (replicated to 2 other nodes), or local Docker volumes with x-warren: {local: true}');
    const external = s.external === true || s.external === 'true';
    const out: StackVolume = { name: volName, external };
    const x = readVolumeX(s, volName, diag);
    if (x.local) out.local = true;
    if (x.policy && external) diag.error(keyPosition(s, 'x-warren'), `volumes.${volName}.x-warren`, 'an external volume is not a Warren volume: it has no snapshot policy');
    else if (x.policy) out.policy = x.policy;
    if (!external && !out.local && !WARREN_VOLUME_RE.test(volName)) diag.error(at, `volumes.${volName}`, 'a stack\'s volume name must be letters, digits, "_", "." or "-", starting with a letter or digit (it becomes the Warren volume <stack>.<name>)');
    if (external && typeof s.name === 'string') out.externalName = s.name;
    if (isObj(s.labels)) out.labels = Object.fromEntries(Object.entries(s.labels).map(([k, x]) => [k, String(x ?? '')]));
    else if (Array.isArray(s.labels)) diag.warn(at, `volumes.${volName}.labels`, 'list-form labels are ignored; use a mapping');
    return out;
  });
}
