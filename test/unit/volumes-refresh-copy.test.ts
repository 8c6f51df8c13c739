import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refreshCopy } from '../../src/volumes/refresh-copy.ts';
import { prng, randomBuffer as random } from '../helpers/prng.ts';

/* The freeze's refresh of a copy made in step 1: the copy ends equal to the live file, and only
 * the 16 KiB blocks that differ are written. */

const MiB = 2 ** 20;
let dir: string;
let n = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'refresh-copy-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** refreshes a copy holding `old` from a live file holding `now`: the bytes written */
async function refreshed(old: Buffer, now: Buffer): Promise<number> {
  const [live, copy] = [join(dir, `l${n}`), join(dir, `c${n++}`)];
  writeFileSync(live, now);
  writeFileSync(copy, old);
  const written = await refreshCopy(live, copy);
  assert.ok(readFileSync(copy).equals(now), 'the copy equals the live file');
  return written;
}

describe('refreshCopy', () => {
  const rand = prng(5);
  const base = random(rand, 9 * MiB + 1234);

  it('an equal copy: nothing written', async () => {
    assert.equal(await refreshed(base, base), 0);
  });

  it('a few pages changed: only their 16 KiB blocks written, one write per run of blocks', async () => {
    const now = Buffer.from(base);
    for (const at of [0, 5 * 4096, 4 * MiB - 100, 7 * MiB + 3]) random(rand, 200).copy(now, at);
    const written = await refreshed(base, now);
    // the page across the 4 MiB read boundary touches two blocks
    assert.ok(written >= 4 * 16 * 1024 && written <= 6 * 16 * 1024, `${written} bytes written`);
  });

  it('the tail changed in a block shorter than 16 KiB, the file grown, shrunk, emptied', async () => {
    const tail = Buffer.from(base);
    tail.writeUInt8(tail.readUInt8(tail.length - 1) ^ 1, tail.length - 1);
    assert.equal(await refreshed(base, tail), 1234);
    // grown: from the old last (short) block on, all of it new to the copy
    assert.equal(await refreshed(base, Buffer.concat([base, random(rand, 70_000)])), 1234 + 70_000);
    assert.equal(await refreshed(base, base.subarray(0, 3 * MiB + 5)), 0);
    assert.equal(await refreshed(base, Buffer.alloc(0)), 0);
    await refreshed(Buffer.alloc(0), base);
  });

  it('random edits (seeded): the copy always ends equal', async () => {
    const r = prng(99);
    for (let round = 0; round < 15; round++) {
      const old = random(r, Math.floor(r() * 6 * MiB));
      let now: Buffer = Buffer.from(old);
      for (let e = Math.floor(r() * 5); e > 0; e--) {
        const at = Math.floor(r() * (now.length + 1));
        if (r() < 0.7) random(r, Math.min(1 + Math.floor(r() * 50_000), now.length - at)).copy(now, at);
        else now = r() < 0.5 ? now.subarray(0, at) : Buffer.concat([now, random(r, Math.floor(r() * 100_000))]);
      }
      await refreshed(old, now);
    }
  });
});
