import { formatBytes } from '../format-bytes.ts';
import type { ChunkRef } from './manifest.ts';

export interface ChunkNeed {
  /** chunks the receiver lacks, each once, in the order the manifest first uses them */
  missing: ChunkRef[];
  missingBytes: number;
  /** distinct chunks the manifest references, and their bytes */
  totalChunks: number;
  totalBytes: number;
}

/**
 * What a snapshot transfer must send: the distinct chunks of the manifest (its own chunks
 * included) that the receiver's have-set lacks. Asking again after a cut transfer gives only what
 * still misses, so a resumed transfer never resends what arrived. `distinct`: the refs are each
 * once already (manifestChunks' list), so no set of ~130k hashes is built again to find repeats.
 */
export function chunkNeed(refs: Iterable<ChunkRef>, has: (hash: string) => boolean, distinct = false): ChunkNeed {
  const seen = distinct ? undefined : new Set<string>();
  const out: ChunkNeed = { missing: [], missingBytes: 0, totalChunks: 0, totalBytes: 0 };
  for (const c of refs) {
    if (seen) {
      if (seen.has(c.hash)) continue;
      seen.add(c.hash);
    }
    out.totalChunks++;
    out.totalBytes += c.size;
    if (has(c.hash)) continue;
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
