/**
 * Checks across the services of a stack: dependency cycles, host ports taken twice inside the
 * stack, and host ports Warren itself listens on (one error line each); volumes shared by services
 * placed apart (a warning).
 */
import { Diagnostics } from './diagnostics.ts';
import { itemPosition, keyPosition } from './located.ts';
import type { StackModel, StackPort, StackService } from './model.ts';
import { isUserError } from '../errors.ts';
import { parseServiceInput, serviceInputBody } from '../service-spec.ts';
import { stackServices } from './to-services.ts';
import { formatStackPort, portItems } from './ports.ts';
import { isObj, type Obj } from './fields.ts';
import { sameConstraints } from '../volumes/stack-volumes.ts';
import type { WarrenPort } from '../views.ts';
import { pinnedServices, placementOf } from './pins.ts';
import { stackWebChoice } from '../mesh/stack-host.ts';
import { deviceHosts } from '../scheduler-place.ts';

/** A host port an agent uses; `node`: another node's agent (this one's when absent). */
export interface ReservedPort extends WarrenPort {
  node?: string;
}

/** The agent's default ports (DESIGN.md); a running agent sends its own figures. */
export function warrenPorts(p: { http?: number; p2p?: number; etcdClient?: number; etcdPeer?: number; proxy?: number; https?: number; dns?: number } = {}): ReservedPort[] {
  const tcp = (port: number, what: string, flag: string): ReservedPort => ({ port, protocol: 'tcp', what, flag });
  const dns = p.dns ?? 7353;
  return [
    tcp(p.http ?? 7370, "Warren's HTTP API", '--http-port'),
    tcp(p.p2p ?? 7371, "Warren's libp2p", '--p2p-port'),
    tcp(p.etcdClient ?? 7372, "Warren's etcd client", '--etcd-client-port'),
    tcp(p.etcdPeer ?? 7373, "Warren's etcd peer", '--etcd-peer-port'),
    tcp(p.proxy ?? 7380, "Warren's HTTP proxy", '--proxy-port'),
    tcp(p.https ?? 7443, "Warren's HTTPS", '--https-port'),
    tcp(dns, "Warren's DNS", '--dns-port'),
    { port: dns, protocol: 'udp', what: "Warren's DNS", flag: '--dns-port' },
  ];
}

/** Two services with one container_name (Docker refuses the second container). */
export function checkContainerNames(services: StackService[], raw: Obj, diag: Diagnostics): void {
  const seen = new Map<string, string>();
  for (const s of services) {
    if (!s.containerName) continue;
    const other = seen.get(s.containerName);
    const svc = raw[s.name];
    if (other) diag.error(isObj(svc) ? keyPosition(svc, 'container_name') : undefined, `services.${s.name}.container_name`, `"${s.containerName}" is also the container_name of service ${other}`);
    else seen.set(s.containerName, s.name);
  }
}

/**
 * A replicated stack volume mounted by services placed by different rules: it is live on one
 * machine at a time, and services share a node only when their rules match
 * (src/core/volumes/stack-volumes.ts), so the one placed elsewhere would wait for the volume. A
 * warning, not an error: different rules may still pick one node. A service that goes with a
 * pinned one (pins.ts) is told so.
 */
export function checkSharedVolumes(model: StackModel, raw: Obj, diag: Diagnostics): void {
  const pins = pinnedServices(model);
  const at = (s: StackService) => {
    const svc = raw[s.name];
    return isObj(svc) ? keyPosition(svc, 'volumes') : undefined;
  };
  for (const s of model.services) {
    const pin = pins.get(s.name);
    if (pin?.volume) diag.warn(at(s), `services.${s.name}.volumes`, `shares volume "${pin.volume}" with service ${pin.by}, which a bind mount pins to the node the stack is deployed from: it is pinned there too (a volume's data is live on one machine at a time)`);
  }
  // the deploying node (unknown here) as a node name no constraint can hold
  const placed = (s: StackService) => placementOf(s, pins.has(s.name), '\0deploying node');
  for (const vol of model.volumes) {
    if (vol.local || vol.external) continue;
    const users = model.services.filter((s) => s.mounts.some((m) => m.type === 'volume' && m.source === vol.name));
    const first = users[0];
    for (const s of users.slice(1)) {
      if (sameConstraints(placed(s), placed(first!)) && sameDevices(s, first!)) continue;
      diag.warn(
        at(s),
        `services.${s.name}.volumes`,
        `volume "${vol.name}" is also mounted by service ${first!.name}, which is placed by other rules (deploy.placement.constraints, devices, or a bind mount that pins a service to the deploying node): the volume's data is live on one machine at a time, so whichever of them lands on another machine waits for it. Give both the same constraints, or mark the volume x-warren: {local: true} if each machine may have its own`,
      );
    }
  }
}

/** Whether two services ask for the same host devices (a service with devices runs only where they are). */
const sameDevices = (a: StackService, b: StackService): boolean => deviceHosts(a.devices).join('\n') === deviceHosts(b.devices).join('\n');

/** Reports each dependency cycle once, as "a -> b -> a". */
export function checkCycles(services: StackService[], raw: Obj, diag: Diagnostics): void {
  const byName = new Map(services.map((s) => [s.name, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      const first = cycle[0]!;
      const svc = raw[first];
      diag.error(isObj(svc) ? keyPosition(svc, 'depends_on') : keyPosition(raw, first), `services.${first}.depends_on`, `dependency cycle: ${cycle.join(' -> ')}`);
      return;
    }
    state.set(name, 'visiting');
    stack.push(name);
    for (const d of byName.get(name)?.dependsOn ?? []) visit(d.service);
    stack.pop();
    state.set(name, 'done');
  };
  for (const s of services) visit(s.name);
}

const onNode = (r: ReservedPort) => (r.node ? ` on node ${r.node}` : '');
const agents = (r: ReservedPort) => (r.node ? `the agent on ${r.node}` : 'the agents');

const overlaps = (a: StackPort, b: StackPort) => a.protocol === b.protocol && (!a.hostIp || !b.hostIp || a.hostIp === b.hostIp);

export function checkPorts(services: StackService[], raw: Obj, reserved: ReservedPort[], diag: Diagnostics): void {
  const taken: { svc: StackService; port: StackPort }[] = [];
  for (const svc of services) {
    if (svc.networkMode === 'host') continue; // its ports are the node's own; nothing is published (below)
    for (const port of svc.ports) {
      if (port.published === undefined) continue;
      const rawSvc = raw[svc.name];
      const i = portItems.get(port) ?? 0;
      const at = itemPosition(isObj(rawSvc) ? rawSvc.ports : undefined, i);
      const path = `services.${svc.name}.ports[${i}]`;
      const mine = reserved.find((r) => r.port === port.published && r.protocol === port.protocol);
      if (mine) {
        diag.error(at, path, `host port ${port.published}/${port.protocol} is ${mine.what} port${onNode(mine)}: publish another host port (e.g. "${port.published + 10000 <= 65535 ? port.published + 10000 : 8000}:${port.target}${port.protocol === 'udp' ? '/udp' : ''}") or start ${agents(mine)} with another ${mine.flag}`);
        continue;
      }
      const other = taken.find((t) => t.port.published === port.published && overlaps(t.port, port));
      if (other) {
        diag.error(at, path, `host port ${port.published}/${port.protocol} is published twice (also by ${other.svc.name === svc.name ? 'this service' : `service ${other.svc.name}`}: ${formatStackPort(other.port)})`);
        continue;
      }
      taken.push({ svc, port });
    }
  }
  checkHostNetworkPorts(services, raw, reserved, taken, diag);
}

/**
 * A host-network service listens on the node's own ports: one that Warren itself holds, or that
 * the stack publishes (on every node: the routing mesh), can never be its own on any node.
 */
function checkHostNetworkPorts(services: StackService[], raw: Obj, reserved: ReservedPort[], published: { svc: StackService; port: StackPort }[], diag: Diagnostics): void {
  for (const svc of services) {
    if (svc.networkMode !== 'host') continue;
    const rawSvc = raw[svc.name];
    const lists: ['ports' | 'expose', StackPort[]][] = [['ports', svc.ports], ['expose', svc.expose ?? []]];
    for (const [key, ports] of lists) {
      for (const port of ports) {
        const i = portItems.get(port) ?? 0;
        const at = itemPosition(isObj(rawSvc) ? rawSvc[key] : undefined, i);
        const path = `services.${svc.name}.${key}[${i}]`;
        const mine = reserved.find((r) => r.port === port.target && r.protocol === port.protocol);
        const other = published.find((t) => t.port.published === port.target && t.port.protocol === port.protocol);
        if (mine) diag.error(at, path, `port ${port.target}/${port.protocol} is ${mine.what} port${mine.node ? onNode(mine) : ' on every node'}, and this service (network_mode: host) listens on the node's own ports: start ${agents(mine)} with another ${mine.flag}, or run the service on the stack network and publish another host port`);
        else if (other) diag.error(at, path, `port ${port.target}/${port.protocol} is published by service ${other.svc.name} on every node (${formatStackPort(other.port)}), and this service (network_mode: host) listens on the node's own ports: publish another host port there`);
      }
    }
  }
}

/**
 * Each service as the service API will parse it: a value the compose reader lets through but the
 * API refuses (an environment entry without a name, a memory limit of 0) is refused here, where
 * the error can still name the service's line, rather than half-way through a deploy.
 */
export function checkServiceSpecs(model: StackModel, services: Obj, diag: Diagnostics): void {
  let inputs;
  try {
    inputs = stackServices(model, { nodeName: 'n' });
  } catch (err) {
    if (!isUserError(err)) throw err;
    return diag.error(undefined, 'volumes', err.message); // two volumes would be one Warren volume
  }
  // `<stack>.<domain>`: say so when the file leaves it naming none of several candidates
  const web = stackWebChoice(inputs.map((i) => ({ ...i, name: model.services.find((s) => s.warrenName === i.name)!.name })));
  if (web.why) diag.warn(undefined, 'services', web.why);
  for (const input of inputs) {
    const svc = model.services.find((s) => s.warrenName === input.name)!;
    try {
      parseServiceInput(serviceInputBody(input));
    } catch (err) {
      if (!isUserError(err)) throw err;
      diag.error(keyPosition(services, svc.name), `services.${svc.name}`, err.message);
    }
  }
}
