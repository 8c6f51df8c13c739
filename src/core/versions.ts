/**
 * Versions in a cluster being upgraded one machine at a time. Every node heartbeats its version
 * (gossip); the cluster's feature level is the lowest version among the members that are up
 * (alive or suspect: a machine that is dead or left does not hold the others back; when it comes
 * back older, the level drops again). A feature that every node must understand before anyone
 * may use it names the version that brought it: until the level reaches that version it waits,
 * and `warren status` says which nodes it waits for. Pure.
 */
import { UserError } from './errors.ts';

export interface Feature {
  name: string;
  /** the first version that has it */
  since: string;
  /** what waits, in a few words (shown by warren status) */
  what: string;
}

/**
 * Features that need every node: HTTPS is served only by nodes that have it, and an older
 * node's proxy would neither serve HTTPS nor redirect to it (a service asking for the redirect
 * would be redirected through some nodes and not others).
 */
export const FEATURES: readonly Feature[] = [
  { name: 'https', since: '0.2.0', what: 'HTTPS for services on every node, and services with --https-redirect' },
];

interface Parsed {
  nums: [number, number, number];
  pre: string[];
}

/** `1.2.3`, `1.2.3-rc.1`, `v1.2` (missing parts are 0); build metadata (`+...`) is ignored. undefined: not a version. */
export function parseVersion(text: string): Parsed | undefined {
  const m = /^v?(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(text.trim());
  if (!m) return undefined;
  return { nums: [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)], pre: m[4] ? m[4].split('.') : [] };
}

/**
 * Semantic-version order: negative when a < b. A pre-release sorts before its release
 * (0.3.0-rc.1 < 0.3.0); anything that is not a version sorts below every version (an unknown
 * build is treated as the oldest).
 */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  for (let i = 0; i < 3; i++) if (x.nums[i] !== y.nums[i]) return x.nums[i]! - y.nums[i]!;
  if (x.pre.length === 0 || y.pre.length === 0) return y.pre.length - x.pre.length;
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i]!;
    const q = y.pre[i]!;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return x.pre.length - y.pre.length;
}

export interface VersionedMember {
  name: string;
  state: string;
  version?: string;
}

export interface FeatureState extends Feature {
  ready: boolean;
  /** up members older than `since` (by name), when not ready */
  waitingFor: { name: string; version: string }[];
}

export interface ClusterVersions {
  /** the lowest version among the members that are up; null when none reports one */
  level: string | null;
  /** every member that is up, with its version ('unknown' when it sent none) */
  nodes: { name: string; version: string }[];
  /** more than one version among them: an upgrade is under way */
  mixed: boolean;
  features: FeatureState[];
}

const UP = new Set(['alive', 'suspect']);

/** The cluster's feature level and what waits for it, from the members' views. */
export function clusterVersions(members: readonly VersionedMember[], features: readonly Feature[] = FEATURES): ClusterVersions {
  const nodes = members.filter((m) => UP.has(m.state)).map((m) => ({ name: m.name, version: m.version ?? 'unknown' }));
  let level: string | null = null;
  for (const n of nodes) if (level === null || compareVersions(n.version, level) < 0) level = n.version;
  const states = features.map((f) => {
    const waitingFor = nodes.filter((n) => compareVersions(n.version, f.since) < 0);
    return { ...f, ready: waitingFor.length === 0, waitingFor };
  });
  return { level, nodes, mixed: new Set(nodes.map((n) => n.version)).size > 1, features: states };
}

/** Refuses (409 feature_waits) to use a feature some up member is too old for. */
export function requireFeature(v: ClusterVersions, name: string): void {
  const f = v.features.find((x) => x.name === name);
  if (!f || f.ready) return;
  const older = f.waitingFor.map((n) => `${n.name} (${n.version})`).join(', ');
  throw new UserError('feature_waits', `${f.what} needs every node at version ${f.since} or later; upgrade ${older} first (warren status shows the versions)`, 409);
}
