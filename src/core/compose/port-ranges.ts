/**
 * Host port ranges for one container port ("8000-8010:80"): compose has Docker take any free port
 * of the range on that one machine. A Warren stack's published port answers on every node (the
 * routing mesh), so the deploy chooses one port of the range that is free cluster-wide: the one
 * the service already has (a redeploy never moves it), else the lowest nobody publishes, no
 * host-network service listens on and no agent holds. Every replica is reached through it.
 */
import { hostPortsOf } from '../scheduler-place.ts';
import type { ServiceSpec } from '../service-types.ts';
import type { Problem } from './diagnostics.ts';
import { portItems } from './ports.ts';
import { hostPortsOfStackService } from './to-services.ts';
import type { StackModel, StackPort } from './model.ts';
import type { ReservedPort } from './validate.ts';

export interface RangeChoice {
  /** the model's port entry, whose range the deploy replaces by `published` */
  port: StackPort;
  published: number;
  /** e.g. "services.web.ports[0]" */
  path: string;
}

export interface RangeResult {
  choices: RangeChoice[];
  /** one line each, for a range with no free port */
  errors: string[];
}

/** "PORT/PROTOCOL", the form host-network ports are already kept in */
const key = (port: number, protocol: string) => `${port}/${protocol}`;

/** The ports of the range each ranged entry of the model gets (pure: `applyRangeChoices` applies them). */
export function choosePortsInRanges(model: StackModel, existing: readonly ServiceSpec[], reserved: readonly ReservedPort[]): RangeResult {
  const taken = new Map<string, string>();
  const take = (k: string, by: string) => {
    if (!taken.has(k)) taken.set(k, by);
  };
  for (const r of reserved) take(key(r.port, r.protocol), `${r.what} port${r.node ? ` on node ${r.node}` : ''}`);
  const mine = new Set(model.services.map((s) => s.warrenName));
  // what stays published after this deploy: other services of the cluster, and this stack's fixed ports
  for (const e of existing) {
    if (e.stack === model.name && mine.has(e.name)) continue; // replaced by the new model below
    const owner = `service ${e.name}${e.stack ? ` of stack ${e.stack}` : ''}`;
    for (const p of e.ports) if (p.published !== undefined) take(key(p.published, p.protocol), owner);
    for (const hp of hostPortsOf(e)) take(hp, `${owner} (network_mode: host)`);
  }
  for (const s of model.services) {
    if (s.networkMode === 'host') for (const hp of hostPortsOfStackService(s)) take(hp, `service ${s.name} (network_mode: host)`);
    else for (const p of s.ports) if (p.published !== undefined) take(key(p.published, p.protocol), `service ${s.name}`);
  }

  const out: RangeResult = { choices: [], errors: [] };
  for (const s of model.services) {
    if (s.networkMode === 'host') continue; // nothing is published: its ports are the node's own
    const before = existing.find((e) => e.stack === model.name && e.name === s.warrenName);
    for (const port of s.ports) {
      const range = port.publishedRange;
      if (!range) continue;
      const path = `services.${s.name}.ports[${portItems.get(port) ?? 0}]`;
      const inRange = (n: number | undefined): n is number => n !== undefined && n >= range[0] && n <= range[1] && !taken.has(key(n, port.protocol));
      const had = before?.ports.find((p) => p.container === port.target && p.protocol === port.protocol)?.published;
      let chosen = inRange(had) ? had : undefined;
      for (let n = range[0]; chosen === undefined && n <= range[1]; n++) if (inRange(n)) chosen = n;
      if (chosen === undefined) {
        const holders = [...new Set(Array.from({ length: range[1] - range[0] + 1 }, (_, i) => taken.get(key(range[0] + i, port.protocol))))];
        out.errors.push(`${path}: no host port of ${range[0]}-${range[1]}/${port.protocol} is free in the cluster (taken by ${holders.join(', ')}): widen the range or publish another one`);
        continue;
      }
      take(key(chosen, port.protocol), `service ${s.name}`);
      out.choices.push({ port, published: chosen, path });
    }
  }
  return out;
}

/** Gives each ranged entry its chosen port (the deploy owns the model); one note per entry for the user. */
export function applyRangeChoices(choices: readonly RangeChoice[]): Problem[] {
  return choices.map((c) => {
    const range = c.port.publishedRange!;
    c.port.published = c.published;
    delete c.port.publishedRange;
    return { path: c.path, message: `published on host port ${c.published}/${c.port.protocol}, of ${range[0]}-${range[1]} (on every node; later deploys keep it)` };
  });
}
