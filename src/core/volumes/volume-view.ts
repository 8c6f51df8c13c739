/**
 * The `warren volume ls` / `GET /v1/volumes` view of one volume, from its etcd records alone.
 *  - node: the owner (whose copy is live);
 *  - atRiskMs: how far back the data is on at least 2 live nodes: the age of the second-newest live
 *    copy (a node whose copy is newer holds that point too), or less when the owner says its last
 *    cycle found the data still equal to a snapshot a peer holds (`ownerSafeAgoMs`, owner-safe-ago.ts: an idle volume
 *    is not at risk however old its copies); null while only one node has a copy;
 *  - state: `new` (no copy yet), `protected` (3 or more live nodes hold a copy), `degraded` (1-2),
 *    `unavailable` (no live node holds one: a replica of its service waits).
 */
import type { CopyRecord, VolumeMeta } from './volume-records.ts';

export interface VolumeCopyView {
  node: string;
  snapshot: string;
  ageMs: number;
  applied: boolean;
}

export interface VolumeView {
  name: string;
  /** the service using it; for a stack's volume, every service of the stack that mounts it, comma-separated */
  service: string;
  /** a stack's volume (`<stack>.<volume>`): its stack */
  stack?: string;
  sizeBytes: number;
  node: string | null;
  state: 'new' | 'protected' | 'degraded' | 'unavailable';
  atRiskMs: number | null;
  copies: VolumeCopyView[];
}

export interface ViewNode {
  name: string;
  alive: boolean;
}

export function volumeView(meta: VolumeMeta, copies: readonly CopyRecord[], nodes: ReadonlyMap<string, ViewNode>, now: number, ownerSafeAgoMs?: number): VolumeView {
  const mine = copies.filter((c) => c.volume === meta.name && nodes.has(c.node)).sort((a, b) => b.epoch - a.epoch || b.seq - a.seq || (a.node < b.node ? -1 : 1));
  const liveCopies = mine.filter((c) => nodes.get(c.node)!.alive);
  const shared = liveCopies[1];
  const live = liveCopies.length;
  const name = (id: string) => nodes.get(id)?.name ?? id;
  return {
    name: meta.name,
    service: meta.service,
    sizeBytes: mine[0]?.sizeBytes ?? 0,
    node: meta.owner ? name(meta.owner) : null,
    state: mine.length === 0 ? 'new' : live >= 3 ? 'protected' : live > 0 ? 'degraded' : 'unavailable',
    atRiskMs: shared ? Math.max(0, Math.min(now - shared.createdAt, ownerSafeAgoMs ?? Infinity)) : null,
    copies: mine.map((c) => ({ node: name(c.node), snapshot: c.snapshot, ageMs: Math.max(0, now - c.createdAt), applied: c.applied })),
  };
}
