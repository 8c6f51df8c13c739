/**
 * FastCDC content-defined chunking (Xia et al., USENIX ATC '16), with normalized chunking.
 *
 * Sizes: no chunk is shorter than MIN_CHUNK (2 KiB) unless it ends the data, none is longer than
 * MAX_CHUNK (64 KiB); cuts are looked for with a harder mask (15 bits) before AVG_CHUNK (8 KiB) and
 * an easier one (11 bits) after it ("normalization level 2"), so sizes bunch around 8 KiB: measured
 * on random data the mean is ~9.3 KiB, the median ~9 KiB (see test/unit/volumes-fastcdc.test.ts). Small chunks are what
 * make a 1% scattered change inside a database file cost ~1% of its bytes (restic/borg's 1-4 MiB
 * chunks re-ship most of the file).
 *
 * The gear table and masks are part of the on-disk format: changing them changes every boundary
 * and so breaks deduplication against existing stores. They are fixed here, never configurable.
 *
 * The rolling hash is 32-bit (plain JS integers are fast; 64-bit would need BigInt): hash =
 * (hash << 1) + GEAR[byte], so bit k depends on the last k+1 bytes. The masks therefore use the
 * top bits, which see a 32-byte window.
 */

export const MIN_CHUNK = 2 * 1024;
export const AVG_CHUNK = 8 * 1024;
export const MAX_CHUNK = 64 * 1024;

/** top `bits` bits of a 32-bit word, as a signed int (what `| 0` arithmetic produces) */
function topBits(bits: number): number {
  return ((0xffffffff << (32 - bits)) | 0);
}
const MASK_S = topBits(15); // before AVG_CHUNK: a cut is 4x less likely than at 13 bits
const MASK_L = topBits(11); // after AVG_CHUNK: 4x more likely

/** 256 pseudo-random 32-bit words from splitmix32 with a fixed seed (format: never change it). */
const GEAR: Int32Array = (() => {
  const t = new Int32Array(256);
  let s = 0x5741524e; // "WARN"
  for (let i = 0; i < 256; i++) {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    t[i] = z ^ (z >>> 16);
  }
  return t;
})();

/**
 * Length of the chunk that starts at `start` in buf[start, end). When the data ends before
 * MAX_CHUNK the caller must know whether more follows: only call with end - start < MAX_CHUNK at
 * the end of the data (the chunk may otherwise be cut short of where the content puts its end).
 */
export function cutPoint(buf: Uint8Array, start: number, end: number): number {
  let n = end - start;
  if (n <= MIN_CHUNK) return n;
  if (n > MAX_CHUNK) n = MAX_CHUNK;
  const normal = Math.min(AVG_CHUNK, n);
  let h = 0;
  let i = start + MIN_CHUNK;
  const normalEnd = start + normal;
  const maxEnd = start + n;
  const gear = GEAR;
  for (; i < normalEnd; i++) {
    h = ((h << 1) + gear[buf[i]!]!) | 0;
    if ((h & MASK_S) === 0) return i - start + 1;
  }
  for (; i < maxEnd; i++) {
    h = ((h << 1) + gear[buf[i]!]!) | 0;
    if ((h & MASK_L) === 0) return i - start + 1;
  }
  return n;
}

/**
 * Cuts buf[start, end) into chunk lengths. With `final` false, stops before the tail that might
 * still grow (less than MAX_CHUNK left): `consumed` says how far it got, the caller keeps the
 * rest and calls again with more data appended (streaming gives the same cuts as one buffer).
 */
export function cutChunks(buf: Uint8Array, start: number, end: number, final: boolean): { lengths: number[]; consumed: number } {
  const lengths: number[] = [];
  let pos = start;
  while (pos < end && (final || end - pos >= MAX_CHUNK)) {
    const len = cutPoint(buf, pos, end);
    lengths.push(len);
    pos += len;
  }
  return { lengths, consumed: pos - start };
}
