/**
 * Where a replica with replicated volumes may be placed: the live nodes holding a complete copy of
 * every one of its volumes, best first (newest (epoch, seq) of the first volume by name, then the
 * next, then node id, so every planner ranks alike). A volume nobody holds a copy of is new (or was
 * never captured): it constrains nothing and starts empty. One that has copies only on nodes that
 * are down makes the replica wait, with the reason: a service never starts on an empty volume
 * while a copy of its data exists anywhere in the cluster.
 */
import { newer } from './copy-choice.ts';
import type { CopyRecord, VolumeMeta } from './volume-records.ts';

export type VolumeHome =
  | { kind: 'any' }
  | { kind: 'nodes'; /** best first */ nodes: string[] }
  | { kind: 'wait'; reason: string };

export interface HomeNode {
  id: string;
  name: string;
  alive: boolean;
}

export interface HomeInput {
  /** the slot's replicated volumes (Warren names) */
  volumes: string[];
  meta: ReadonlyMap<string, VolumeMeta>;
  /** copy records of these volumes (others are ignored) */
  copies: readonly CopyRecord[];
  /** admitted nodes; a copy on a node not listed here is gone with its node */
  nodes: readonly HomeNode[];
}

export function volumeHome(input: HomeInput): VolumeHome {
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  const name = (id: string) => nodes.get(id)?.name ?? id;
  const constrained: { volume: string; byNode: Map<string, CopyRecord> }[] = [];
  for (const volume of [...new Set(input.volumes)].sort()) {
    const epoch = input.meta.get(volume)?.epoch ?? Infinity;
    // a copy claiming an epoch etcd never gave out is not trusted
    const valid = input.copies.filter((c) => c.volume === volume && nodes.has(c.node) && c.epoch <= epoch);
    if (valid.length === 0) continue;
    const live = valid.filter((c) => nodes.get(c.node)!.alive);
    if (live.length === 0) {
      const newest = valid.reduce((a, b) => (newer(b, a) ? b : a));
      return { kind: 'wait', reason: `volume ${volume}: no live node holds a copy (newest on ${name(newest.node)}, down)` };
    }
    constrained.push({ volume, byNode: new Map(live.map((c) => [c.node, c])) });
  }
  if (constrained.length === 0) return { kind: 'any' };
  const candidates = [...constrained[0]!.byNode.keys()].filter((id) => constrained.every((v) => v.byNode.has(id)));
  if (candidates.length === 0) {
    const where = constrained.map((v) => `${v.volume} on ${[...v.byNode.keys()].map(name).sort().join(', ')}`).join('; ');
    return { kind: 'wait', reason: `no live node holds a copy of every volume (${where})` };
  }
  candidates.sort((a, b) => {
    for (const v of constrained) {
      const ca = v.byNode.get(a)!;
      const cb = v.byNode.get(b)!;
      if (newer(ca, cb)) return -1;
      if (newer(cb, ca)) return 1;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return { kind: 'nodes', nodes: candidates };
}
