/**
 * How the CLI shows services to people: replica lines (also the rollout's progress lines), the
 * `service ls` table and the `service inspect` page. Pure.
 */
import type { ReplicaView, ServiceView } from '../core/service-types.ts';
import { formatConstraint } from '../core/service-constraints.ts';
import { formatPort, formatVolume } from '../core/service-ports-volumes.ts';
import { colourState, formatBytes, formatDuration, green, red, renderFields, renderTable, yellow } from './output.ts';

/** The node a replica is on, for people: its name, else a short id, else "-". */
export function replicaNode(r: ReplicaView): string {
  return r.nodeName ?? (r.nodeId ? r.nodeId.slice(0, 12) : '-');
}

/** "192.168.1.5:32768 -> 80/tcp, 192.168.1.5:32769 -> 53/udp", or "" when nothing is published. */
export function formatReplicaAddress(r: ReplicaView): string {
  if (!r.addr || r.ports.length === 0) return '';
  const host = r.addr.includes(':') ? `[${r.addr}]` : r.addr;
  return r.ports.map((p) => `${host}:${p.hostPort} -> ${p.container}/${p.protocol}`).join(', ');
}

/** One line telling where a replica is, e.g. `replica 0: running on nas at 192.168.1.5:32768 -> 80/tcp`. */
export function describeReplica(r: ReplicaView): string {
  const node = replicaNode(r);
  const head = `replica ${r.slot}: `;
  switch (r.state) {
    case 'unassigned':
      return head + `waiting for a node${r.reason ? `: ${r.reason}` : ''}`;
    case 'pending':
      return head + `assigned to ${node}`;
    case 'pulling':
      return head + `pulling on ${node}${r.progress ? ` (${r.progress})` : ''}`;
    case 'starting':
      return head + `starting on ${node}`;
    case 'running': {
      const at = formatReplicaAddress(r);
      return head + `running on ${node}${at ? ` at ${at}` : ''}`;
    }
    case 'exited':
    case 'failed':
      return head + `${r.state} on ${node}${r.reason ? `: ${r.reason}` : ''}${r.restarts ? ` (${r.restarts} restart${r.restarts === 1 ? '' : 's'})` : ''}`;
    case 'stopped':
      return head + `stopped on ${node}${r.reason ? `: ${r.reason}` : ''}`;
    default:
      return head + `${String(r.state)} on ${node}`;
  }
}

/**
 * The line to print when a replica changes between two polls, or undefined when nothing worth a
 * line changed (pull progress alone is not a change). `next` undefined: the replica is gone.
 */
export function describeReplicaChange(prev: ReplicaView | undefined, next: ReplicaView | undefined): string | undefined {
  if (!next) return prev ? `replica ${prev.slot}: removed` : undefined;
  if (
    prev &&
    prev.state === next.state &&
    prev.nodeId === next.nodeId &&
    prev.generation === next.generation &&
    prev.restarts === next.restarts &&
    (prev.reason ?? '') === (next.reason ?? '') &&
    (next.state !== 'running' || formatReplicaAddress(prev) === formatReplicaAddress(next))
  ) {
    return undefined;
  }
  return describeReplica(next);
}

const byName = (a: ServiceView, b: ServiceView) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0);

/** Where a service's replicas are: "nas×2, pi (pulling)". */
export function summariseNodes(replicas: ReplicaView[]): string {
  const counts = new Map<string, number>();
  for (const r of [...replicas].sort((a, b) => a.slot - b.slot)) {
    if (r.state === 'unassigned' || !r.nodeId) continue;
    const key = replicaNode(r) + (r.state === 'running' ? '' : ` (${r.state})`);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size === 0) return '-';
  return [...counts].map(([k, n]) => (n > 1 ? k.replace(/^([^ ]+)/, `$1×${n}`) : k)).join(', ');
}

const replicaCount = (v: ServiceView) => {
  const text = `${v.running}/${v.desired}`;
  return v.running === v.desired ? green(text) : v.running === 0 && v.desired > 0 ? red(text) : yellow(text);
};

/** `warren service ls`. */
export function renderServiceTable(views: ServiceView[]): string {
  if (views.length === 0) return 'no services yet (create one with: warren service create NAME --image IMAGE)';
  return renderTable(
    ['name', 'image', 'replicas', 'nodes', 'ports', 'pending'],
    [...views].sort(byName).map((v) => [v.spec.name, v.spec.image, replicaCount(v), summariseNodes(v.replicas), v.spec.ports.map(formatPort).join(', ') || '-', v.pending ?? '']),
  );
}

const quoteArg = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a));

const when = (ms: number, now: number) => `${new Date(ms).toISOString()} (${formatDuration(Math.max(0, now - ms))} ago)`;

/** `warren service inspect NAME`: the spec's fields, then one row per replica. */
export function renderServiceDetail(view: ServiceView, now: number): string {
  const s = view.spec;
  const fields: [string, string][] = [
    ['name', s.name],
    ['image', s.image],
    ['command', s.command.length ? s.command.map(quoteArg).join(' ') : "(the image's own)"],
    ['replicas', `${replicaCount(view)} running`],
    ['restart', s.restart],
    ['generation', String(s.generation)],
    ['ports', s.ports.map(formatPort).join(', ') || '-'],
    ['volumes', s.volumes.map(formatVolume).join(', ') || '-'],
    ['env', Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(' ') || '-'],
    ['constraints', s.constraints.map(formatConstraint).join(', ') || '-'],
    ['cpus', s.cpus === undefined ? 'no limit' : String(s.cpus)],
    ['memory', s.memoryBytes === undefined ? 'no limit' : formatBytes(s.memoryBytes)],
    ['https redirect', s.httpsRedirect ? 'yes' : 'no'],
    ['created', when(s.createdAt, now)],
    ['updated', when(s.updatedAt, now)],
  ];
  if (view.pending) fields.push(['pending', yellow(view.pending)]);
  const rows = [...view.replicas]
    .sort((a, b) => a.slot - b.slot)
    .map((r) => [
      String(r.slot),
      r.state === 'unassigned' ? '-' : replicaNode(r),
      colourState(r.state) + (r.generation < s.generation ? ` (gen ${r.generation})` : ''),
      formatReplicaAddress(r).replace(/ -> /g, '->') || '-',
      String(r.restarts),
      formatDuration(Math.max(0, now - r.since)),
      r.reason ?? r.progress ?? '',
    ]);
  const table = rows.length ? renderTable(['slot', 'node', 'state', 'address', 'restarts', 'since', 'reason'], rows) : 'no replicas';
  return `${renderFields(fields)}\n\n${table}`;
}
