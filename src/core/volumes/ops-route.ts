/**
 * Which node carries out a volume operation that can arrive at any node (restore, clone, export).
 * A restore changes the live copy, so it runs on the owner only. A clone or an export reads one
 * snapshot: this node when it holds it, else the owner (it took every snapshot of the lineage),
 * else the live nodes whose copy is that snapshot, then the others holding a copy, newest first.
 * A volume with no owner (a clone or an import no service took yet) has only copies.
 */
import { newer } from './copy-choice.ts';
import type { CopyRecord } from './volume-records.ts';

export interface OpsRouteInput {
  kind: 'restore' | 'read';
  self: string;
  /** the volume's owner ('' or undefined: none) */
  owner?: string;
  /** this node's store holds the snapshot asked for (false when none is named: the newest is wanted) */
  selfHolds: boolean;
  snapshot?: string;
  copies: readonly CopyRecord[];
  alive: (node: string) => boolean;
}

/** Nodes to try, in order (the caller tries the next when one does not hold the snapshot or does not answer). */
export function opsRoute(i: OpsRouteInput): string[] {
  if (i.kind === 'restore' && i.owner) return [i.owner];
  const out: string[] = [];
  const add = (n: string) => {
    if (!out.includes(n)) out.push(n);
  };
  if (i.selfHolds) add(i.self);
  if (i.owner && (i.owner === i.self || i.alive(i.owner))) add(i.owner);
  const live = i.copies.filter((c) => c.node === i.self || i.alive(c.node));
  const ranked = [...live].sort((a, b) => (newer(a, b) ? -1 : newer(b, a) ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  for (const c of ranked) if (i.snapshot !== undefined && c.snapshot === i.snapshot) add(c.node);
  for (const c of ranked) add(c.node);
  return out;
}
