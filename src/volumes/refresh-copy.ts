import { open } from 'node:fs/promises';

/** bytes read from each file per turn (each read in libuv's thread pool: the loop keeps its turns) */
const READ = 4 * 2 ** 20;
/** the unit compared and rewritten: a page changed costs this much, not its whole read */
const BLOCK = 16 * 1024;

/**
 * Makes `copy` equal to `live` by writing only the blocks that differ, and returns the bytes
 * written. For the freeze of a large file whose copy from step 1 moved since (a busy database):
 * reading both files from the page cache is about twice as fast as copying the whole file again,
 * and the freeze (the app's pause) lasts as long as this does.
 */
export async function refreshCopy(live: string, copy: string): Promise<number> {
  const src = await open(live, 'r');
  try {
    const dst = await open(copy, 'r+');
    try {
      const size = (await src.stat()).size;
      const a = Buffer.allocUnsafe(READ);
      const b = Buffer.allocUnsafe(READ);
      let written = 0;
      for (let pos = 0; pos < size; pos += READ) {
        const [ra, rb] = await Promise.all([src.read(a, 0, READ, pos), dst.read(b, 0, READ, pos)]);
        const n = ra.bytesRead;
        if (n === 0) break;
        // runs of differing blocks, each written with one call (the turn past the end closes the last run)
        let from = -1;
        for (let at = 0; at < n + BLOCK; at += BLOCK) {
          const end = Math.min(n, at + BLOCK);
          const differs = at < n && (end > rb.bytesRead || !a.subarray(at, end).equals(b.subarray(at, end)));
          if (differs && from < 0) from = at;
          if (!differs && from >= 0) {
            const to = Math.min(at, n);
            await dst.write(a, from, to - from, pos + from);
            written += to - from;
            from = -1;
          }
        }
      }
      await dst.truncate(size);
      return written;
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}
