import { formatBytes } from '../format-bytes.ts';
import type { ChunkRef } from './manifest.ts';

export interface ChunkNeed {
  /** chunks the receiver lacks, each once, in the order the manifest first uses them */
  missing: ChunkRef[];
  missingBytes: number;
}

/**
 * What a snapshot transfer must send: the distinct chunks of the manifest (its own chunks
 * included) that the receiver's have-set lacks. Asking again after a cut transfer gives only what
 * still misses, so a resumed transfer never resends what arrived. Repeats are looked for among
 * the missing only: a 1% change of a 1 GiB file lacks a few thousand of its ~130k chunks, and a
 * set of all of them was a third of a peer's answer to the offer.
 */
export function chunkNeed(refs: Iterable<ChunkRef>, has: (hash: string) => boolean): ChunkNeed {
  const seen = new Set<string>();
  const out: ChunkNeed = { missing: [], missingBytes: 0 };
  for (const c of refs) {
    if (has(c.hash) || seen.has(c.hash)) continue;
    seen.add(c.hash);
    out.missing.push(c);
    out.missingBytes += c.size;
  }
  return out;
}

/**
 * Whether the receiver can take `need` bytes and keep `reserveBytes` free (a disk that would fill
 * is refused with the figures in the reason, never filled).
 */
export function roomFor(needBytes: number, freeBytes: number, reserveBytes: number): { ok: true } | { ok: false; reason: string } {
  if (needBytes + reserveBytes <= freeBytes) return { ok: true };
  const size = (n: number) => formatBytes(n, ' ');
  return { ok: false, reason: `not enough disk space: needs ${size(needBytes)} and keeps ${size(reserveBytes)} free, has ${size(freeBytes)} free` };
}
