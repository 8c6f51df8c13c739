import type { ChunkHint, ChunkJobResult, FileChunk } from './chunk-pool.ts';

/**
 * Splitting one large file between two worker threads, with the very chunks of one thread's cut.
 *
 * Part A cuts [0, mid) and leaves its last uncut bytes (`tail`); part B cuts from mid to the end,
 * starting a chunk at mid. A short resync part then cuts from A's tail on until one of its cuts
 * lands where a chunk of B starts: from there B's chunks are the whole-file cut's as well (a cut
 * depends only on the bytes from its chunk's start). With the last snapshot's chunks as a hint,
 * mid is one of their boundaries, so an unchanged file resyncs at mid itself, after < 64 KiB.
 */

/** files from this size on are split (a smaller one is not worth a second thread) */
export const SPLIT_MIN_BYTES = 64 * 2 ** 20;
/** hint chunks the resync part gets past mid (it stops at the first cut it shares with B) */
const RESYNC_HINT_BYTES = 16 * 2 ** 20;

/** Where a file of `size` bytes is split: a hint boundary nearest its middle; undefined: not split. */
export function splitPoint(size: number, hint?: ChunkHint, minBytes = SPLIT_MIN_BYTES): number | undefined {
  if (size < minBytes) return undefined;
  const half = Math.floor(size / 2);
  if (!hint?.sizes.length) return half;
  let at = hint.offset ?? 0;
  let best: number | undefined;
  for (const s of hint.sizes) {
    if (at > 0 && (best === undefined || Math.abs(at - half) < Math.abs(best - half))) best = at;
    if (at > half) break;
    at += s;
  }
  // a boundary far from the middle (a file that grew a lot) splits worse than the middle itself
  return best !== undefined && Math.abs(best - half) <= size / 8 ? best : half;
}

/** The hint's chunks that start in [from, to), offsets kept. */
export function sliceHint(hint: ChunkHint | undefined, from: number, to: number): ChunkHint | undefined {
  if (!hint?.sizes.length) return undefined;
  let at = hint.offset ?? 0;
  let i = 0;
  for (; i < hint.sizes.length && at < from; i++) at += hint.sizes[i]!;
  const first = i;
  const offset = at;
  for (; i < hint.sizes.length && at < to; i++) at += hint.sizes[i]!;
  if (i === first) return undefined;
  return { sizes: hint.sizes.slice(first, i), hashes: hint.hashes.slice(first, i), offset, endsFile: hint.endsFile !== false && i === hint.sizes.length };
}

/** The hint for each part: A's [0, mid), B's [mid, end), and the resync's from A's tail. */
export const partHints = {
  a: (hint: ChunkHint | undefined, mid: number) => sliceHint(hint, 0, mid),
  b: (hint: ChunkHint | undefined, mid: number) => sliceHint(hint, mid, Infinity),
  resync: (hint: ChunkHint | undefined, tail: number, mid: number) => sliceHint(hint, tail, mid + RESYNC_HINT_BYTES),
};

/** Where the resync part may stop: where B's chunks start. */
export function syncPoints(b: ChunkJobResult): number[] {
  return b.chunks.map((c) => c.offset);
}

/**
 * The whole file's chunks from the three parts. B's chunks before the resync point are dropped
 * (the resync cut those bytes differently); reusedBytes may then count a few of them, by at most
 * the resync's length.
 */
export function mergeSplit(a: ChunkJobResult, resync: ChunkJobResult, b: ChunkJobResult): ChunkJobResult {
  const at = resync.syncedAt;
  const kept: FileChunk[] = at === undefined ? [] : b.chunks.filter((c) => c.offset >= at);
  return {
    chunks: [...a.chunks, ...resync.chunks, ...kept],
    holes: [],
    reusedBytes: (a.reusedBytes ?? 0) + (resync.reusedBytes ?? 0) + (at === undefined ? 0 : (b.reusedBytes ?? 0)),
  };
}
