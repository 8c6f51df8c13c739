/** Gathered writes: the file holds every piece at its offset, in the order written, whatever the pieces' sizes and gaps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatheredWrites } from '../../src/volumes/gathered-writes.ts';
import { prng } from '../helpers/prng.ts';

test('gathered writes put every piece at its offset (randomized: runs, gaps, pieces larger than the buffer, writes back over earlier ones)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gathered-'));
  try {
    const rand = prng(7);
    const int = (n: number) => Math.floor(rand() * n);
    for (let round = 0; round < 300; round++) {
      const cap = 1 + int(64);
      const size = 1 + int(600);
      const want = Buffer.alloc(size + 200);
      let end = 0;
      const path = join(dir, `f${round}`);
      const fd = openSync(path, 'w+');
      const out = new GatheredWrites(fd, cap);
      for (let pos = int(8), n = 0; pos < size && n < 100; n++) {
        const len = 1 + int(cap * 2);
        const piece = Buffer.alloc(len);
        for (let i = 0; i < len; i++) piece[i] = 1 + int(255);
        out.write(piece, pos);
        want.set(piece, pos);
        end = Math.max(end, pos + len);
        piece.fill(0); // the caller's buffer may be reused once write returns
        pos = rand() < 0.1 ? int(size) : pos + len + (rand() < 0.3 ? int(10) : 0);
      }
      out.flush();
      closeSync(fd);
      assert.ok(readFileSync(path).equals(want.subarray(0, end)), `round ${round} (buffer ${cap} bytes)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
