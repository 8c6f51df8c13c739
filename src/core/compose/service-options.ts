/**
 * The container options of a compose service (user, capabilities, devices, limits, deploy, ...):
 * each read into the StackService, or reported with its key and line.
 */
import type { Constraint } from '../service-types.ts';
import { labelProblem } from '../service-constraints.ts';
import { checkEachValue, checkNested } from './schema.ts';
import { Field, isObj } from './fields.ts';
import type { StackDevice, StackService } from './model.ts';

type Options = Partial<StackService>;

const SIGNAL_RE = /^(SIG[A-Z0-9+-]+|\d{1,2})$/;

/** Keys whose value is copied after a type check. */
export function readSimpleOptions(f: (key: string) => Field | undefined, out: Options): void {
  const str = (key: string) => f(key)?.string();
  const bool = (key: string) => f(key)?.bool();
  const strs = (key: string, one = false) => f(key)?.strings(one);
  out.user = str('user');
  out.workingDir = str('working_dir');
  out.hostname = str('hostname');
  out.capAdd = strs('cap_add');
  out.capDrop = strs('cap_drop');
  out.securityOpt = strs('security_opt');
  out.tmpfs = strs('tmpfs', true);
  out.privileged = bool('privileged');
  out.readOnly = bool('read_only');
  out.init = bool('init');
  out.shmSizeBytes = f('shm_size')?.bytes();
  out.stopGracePeriodMs = f('stop_grace_period')?.durationMs();
  const signal = f('stop_signal');
  if (signal) {
    const s = signal.string();
    if (s !== undefined && !SIGNAL_RE.test(s)) signal.error(`"${s}" is not a signal (e.g. SIGTERM, SIGQUIT)`);
    else out.stopSignal = s;
  }
  const wd = out.workingDir;
  if (wd !== undefined && !wd.startsWith('/')) f('working_dir')!.error(`"${wd}" must be an absolute path`);
}

export function readDevices(field: Field): StackDevice[] | undefined {
  const list = field.value;
  if (!Array.isArray(list)) return field.error('must be a list such as ["/dev/ttyUSB0:/dev/ttyUSB0"]');
  const out: StackDevice[] = [];
  for (const item of list) {
    let host: string, container: string, permissions = 'rwm';
    if (typeof item === 'string') {
      const parts = item.split(':');
      host = parts[0]!;
      container = parts[1] ?? host;
      if (parts.length === 3) permissions = parts[2]!;
      else if (parts.length === 2 && /^[rwm]+$/.test(parts[1]!)) [container, permissions] = [host, parts[1]!];
      if (parts.length > 3) return field.error(`"${item}" is not a device (HOST[:CONTAINER[:PERMISSIONS]])`);
    } else if (isObj(item) && typeof item.source === 'string') {
      host = item.source;
      container = typeof item.target === 'string' ? item.target : host;
      if (typeof item.permissions === 'string') permissions = item.permissions;
    } else return field.error(`entries must be "HOST[:CONTAINER[:PERMISSIONS]]" strings, got ${JSON.stringify(item)}`);
    if (!host.startsWith('/') || !container.startsWith('/')) return field.error(`"${host}": devices are host paths such as /dev/ttyUSB0 (CDI device names are not supported)`);
    if (!/^[rwm]+$/.test(permissions)) return field.error(`"${permissions}": permissions are letters of r, w, m`);
    out.push({ host, container, permissions });
  }
  return out;
}

export function readUlimits(field: Field): Record<string, { soft: number; hard: number }> | undefined {
  const v = field.value;
  if (!isObj(v)) return field.error('must be a mapping such as { nofile: { soft: 20000, hard: 40000 }, nproc: 65535 }');
  checkEachValue(v, 'ulimits.*', field.path, field.diag);
  const out: Record<string, { soft: number; hard: number }> = {};
  for (const [name, x] of Object.entries(v)) {
    const c = field.child(name);
    if (isObj(x)) {
      const soft = c.child('soft').int(-1);
      const hard = c.child('hard').int(-1);
      if (soft !== undefined && hard !== undefined) out[name] = { soft, hard };
    } else {
      const n = c.int(-1);
      if (n !== undefined) out[name] = { soft: n, hard: n };
    }
  }
  return out;
}

/** "host:ip" entries; extra_hosts is a mapping after the merge (list forms were converted). */
export function readExtraHosts(field: Field): string[] | undefined {
  const map = field.stringMap();
  if (!map) return undefined;
  const out: string[] = [];
  for (const [host, ip] of Object.entries(map)) {
    if (ip === null || ip === '') return field.error(`"${host}" needs an address (HOST:IP or HOST=IP)`);
    out.push(`${host}:${ip.replace(/^\[(.*)\]$/, '$1')}`);
  }
  return out;
}

/** `node.hostname==NAME` and `node.labels.K==V`, Swarm's placement constraints that mean something here. */
export function parsePlacement(text: string): Constraint | string {
  const m = /^\s*([a-zA-Z0-9_.-]+)\s*(==|!=)\s*(\S+)\s*$/.exec(text);
  if (!m) return `"${text}" is not a constraint (e.g. node.hostname==nas, node.labels.disk==ssd)`;
  const [, key, op, value] = m as unknown as [string, string, string, string];
  if (op === '!=') return `"${text}": only == constraints are supported`;
  if (key === 'node.hostname') return { kind: 'node', value };
  if (key.startsWith('node.labels.')) {
    const label = key.slice('node.labels.'.length);
    const problem = labelProblem(label, value);
    return problem ? `"${text}": ${problem}` : { kind: 'label', key: label, value };
  }
  return `"${text}": only node.hostname==NAME and node.labels.KEY==VALUE are supported`;
}

/** deploy: replicas, resources, placement, restart_policy; the rest is warned about. */
export function readDeploy(field: Field, out: Options): void {
  const d = field.value;
  if (!isObj(d)) {
    field.error('must be a mapping');
    return;
  }
  const diag = field.diag;
  checkNested(d, 'deploy', field.path, diag);
  const mode = field.child('mode');
  if (d.mode !== undefined && d.mode !== 'replicated') mode.error(`"${String(d.mode)}" is not supported (only replicated: Warren places each replica on one node)`);
  if (d.replicas !== undefined) out.replicas = field.child('replicas').int(0, 100);
  for (const key of ['labels', 'update_config', 'rollback_config', 'endpoint_mode']) {
    if (d[key] !== undefined) field.child(key).warn('ignored: Warren updates one replica at a time and reaches services by name through its own proxy and DNS');
  }
  const rp = field.child('restart_policy');
  if (isObj(d.restart_policy)) {
    checkNested(d.restart_policy, 'deploy.restart_policy', rp.path, diag);
    const cond = d.restart_policy.condition;
    if (cond !== undefined) {
      const map: Record<string, 'always' | 'on-failure' | 'no'> = { any: 'always', 'on-failure': 'on-failure', none: 'no' };
      if (typeof cond === 'string' && map[cond]) out.restart = map[cond];
      else rp.child('condition').error(`"${String(cond)}" is not a condition (any, on-failure, none)`);
    }
    if (Object.keys(d.restart_policy).some((k) => k !== 'condition')) rp.warn('only condition is used; Warren restarts with its own back-off (0.5 s doubling to 30 s)');
  }
  const res = field.child('resources');
  if (isObj(d.resources)) {
    checkNested(d.resources, 'deploy.resources', res.path, diag);
    const lim = res.child('limits');
    if (isObj(d.resources.limits)) {
      checkNested(d.resources.limits, 'deploy.resources.limits', lim.path, diag);
      const l = d.resources.limits;
      out.limits = {
        ...out.limits,
        ...(l.cpus !== undefined ? { cpus: lim.child('cpus').number(0.01) } : {}),
        ...(l.memory !== undefined ? { memoryBytes: lim.child('memory').bytes() } : {}),
        ...(l.pids !== undefined ? { pids: lim.child('pids').int(1) } : {}),
      };
    }
    const rsv = res.child('reservations');
    if (isObj(d.resources.reservations)) {
      const r = d.resources.reservations;
      checkNested(r, 'deploy.resources.reservations', rsv.path, diag);
      out.reservations = {
        ...out.reservations,
        ...(r.cpus !== undefined ? { cpus: rsv.child('cpus').number(0) } : {}),
        ...(r.memory !== undefined ? { memoryBytes: rsv.child('memory').bytes() } : {}),
      };
      if (r.devices !== undefined || r.generic_resources !== undefined) rsv.warn('device and generic resource reservations (GPUs) are ignored: the service runs without them');
    }
  }
  const pl = field.child('placement');
  if (isObj(d.placement)) {
    checkNested(d.placement, 'deploy.placement', pl.path, diag);
    const list = d.placement.constraints === undefined ? [] : pl.child('constraints').strings() ?? [];
    for (const text of list) {
      const c = parsePlacement(text);
      if (typeof c === 'string') pl.child('constraints').error(c);
      else out.constraints = [...(out.constraints ?? []), c];
    }
    if (d.placement.preferences !== undefined || d.placement.max_replicas_per_node !== undefined) pl.warn('preferences and max_replicas_per_node are ignored: Warren spreads replicas over nodes by itself');
  }
}
