import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkFile } from '../../src/volumes/chunk-worker.ts';
import { ChunkPool, type ChunkHint, type ChunkJobResult, type FileChunk } from '../../src/volumes/chunk-pool.ts';
import { prng, randomBuffer as random } from '../helpers/prng.ts';

/*
 * A hint (the file's chunks in its last snapshot) lets the worker take unchanged chunks without
 * running the content-defined cut. Whatever the hint says, the result must be exactly the chunks
 * of a full cut of the file as it is now (deduplication across versions depends on it).
 */

const MiB = 2 ** 20;
let dir: string;
let n = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'chunk-hint-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function fileOf(b: Uint8Array): string {
  const path = join(dir, `f${n++}`);
  writeFileSync(path, b);
  return path;
}

/**
 * Up to `maxEdits - 1` random edits of a copy of `buf`, each of up to `maxLen` bytes: overwrite,
 * insert, delete and (with 4 kinds) cut the rest off.
 */
function randomEdits(r: () => number, buf: Buffer, maxEdits: number, maxLen: number, kinds: 3 | 4): Buffer {
  let now: Buffer = Buffer.from(buf);
  for (let e = Math.floor(r() * maxEdits); e > 0; e--) {
    const at = Math.floor(r() * (now.length + 1));
    const len = 1 + Math.floor(r() * maxLen);
    const kind = Math.floor(r() * kinds);
    if (kind === 0) random(r, Math.min(len, now.length - at)).copy(now, at);
    else if (kind === 1) now = Buffer.concat([now.subarray(0, at), random(r, len), now.subarray(at)]);
    else if (kind === 2) now = Buffer.concat([now.subarray(0, at), now.subarray(at + len)]);
    else now = now.subarray(0, at);
  }
  return now;
}

const hintOf = (r: ChunkJobResult): ChunkHint => ({ sizes: r.chunks.map((c) => c.size), hashes: r.chunks.map((c) => c.hash) });

/** chunks `now` with the hint of `old`'s chunks: equal to the full cut; the bytes taken from the hint */
function hinted(old: Buffer, now: Buffer, hint = hintOf(chunkFile(fileOf(old), false))): number {
  const path = fileOf(now);
  const full = chunkFile(path, false);
  const got = chunkFile(path, false, undefined, hint);
  assert.deepEqual(got.chunks, full.chunks);
  assert.equal(full.reusedBytes, 0);
  return got.reusedBytes!;
}

describe('chunking with the last snapshot\'s chunks as a hint', () => {
  const rand = prng(7);
  const base = random(rand, 10 * MiB + 12_345);

  it('an unchanged file: every chunk taken from the hint', () => {
    assert.equal(hinted(base, base), base.length);
  });

  it('1% of the file overwritten in scattered 4 KiB pages: the rest taken from the hint', () => {
    const now = Buffer.from(base);
    const pages = Math.floor(base.length / 4096);
    for (let i = 0; i < pages / 100; i++) random(rand, 4096).copy(now, Math.floor(rand() * pages) * 4096);
    const reused = hinted(base, now);
    assert.ok(reused > 0.9 * base.length && reused < base.length, `reused ${reused} of ${base.length}`);
  });

  it('bytes inserted or removed: the chunks before the edit are taken, the rest cut again', () => {
    const at = 3 * MiB + 77;
    const inserted = Buffer.concat([base.subarray(0, at), random(rand, 100), base.subarray(at)]);
    const reused = hinted(base, inserted);
    assert.ok(reused > 2.9 * MiB && reused <= at, `reused ${reused}`);
    hinted(base, Buffer.concat([base.subarray(0, at), base.subarray(at + 5000)]));
  });

  it('the old last chunk was cut by the file\'s end: not taken when the file grew or shrank', () => {
    hinted(base, Buffer.concat([base, random(rand, 50_000)]));
    hinted(base, Buffer.concat([base, base.subarray(0, 3)]));
    hinted(base, base.subarray(0, Math.floor(base.length * 0.6)));
    hinted(base, base.subarray(0, base.length - 1));
    hinted(base, Buffer.alloc(0));
  });

  it('a wrong hint costs time, never a wrong chunk', () => {
    const good = hintOf(chunkFile(fileOf(base), false));
    const forged = { sizes: good.sizes, hashes: good.hashes.map((h, i) => (i === 5 ? createHash('sha256').update('x').digest('hex') : h)) };
    assert.equal(hinted(base, base, forged), base.length - good.sizes[5]!);
    assert.equal(hinted(random(rand, 2 * MiB), base), 0);
    const shifted = { sizes: [...good.sizes.slice(1), good.sizes[0]!], hashes: good.hashes };
    hinted(base, base, shifted);
    hinted(base, base, { sizes: [], hashes: [] });
  });

  it('a file with holes is cut as without a hint', () => {
    const now = Buffer.concat([base.subarray(0, MiB), Buffer.alloc(64 * 1024), base.subarray(MiB)]);
    const path = fileOf(now);
    const got = chunkFile(path, true, undefined, hintOf(chunkFile(fileOf(base), false)));
    assert.deepEqual(got, { ...chunkFile(path, true), reusedBytes: 0 });
  });

  it('random edits of random files (seeded): always the full cut', () => {
    const r = prng(2024);
    for (let round = 0; round < 25; round++) {
      let old: Buffer = random(r, Math.floor(r() * 6 * MiB));
      let now = randomEdits(r, old, 6, 100_000, 4);
      if (round % 5 === 0) [old, now] = [now, old];
      hinted(old, now);
    }
  });
});

describe('the chunk pool with a hint and pieces', () => {
  it('hands over the same chunks, each piece\'s bytes hashing to its chunk', async () => {
    const rand = prng(11);
    const old = random(rand, 9 * MiB);
    const now = Buffer.from(old);
    random(rand, 4096).copy(now, 5 * MiB);
    const pool = new ChunkPool(1);
    try {
      const hint = hintOf(await pool.chunk(fileOf(old), false));
      const path = fileOf(now);
      const seen: FileChunk[] = [];
      const got = await pool.chunk(path, false, (p) => {
        const buf = Buffer.from(p.buf);
        for (const c of p.chunks) {
          assert.equal(createHash('sha256').update(buf.subarray(c.at, c.at + c.size)).digest('hex'), c.hash);
          seen.push({ hash: c.hash, size: c.size, offset: c.offset });
        }
      }, hint);
      const full = chunkFile(path, false);
      assert.deepEqual(got.chunks, full.chunks);
      assert.deepEqual(seen, full.chunks);
      assert.ok(got.reusedBytes! > 8 * MiB, `reused ${got.reusedBytes}`);
    } finally {
      await pool.close();
    }
  });
});

describe('a large file cut by two threads at once', () => {
  // split from 1 MiB here (64 MiB in the agent) so random files stay small
  const pool = new ChunkPool(1, MiB);
  after(() => pool.close());

  /** the pool's split cut of `now` (hinted by `old`'s chunks): the full cut, every chunk's bytes handed over */
  async function splitCut(old: Buffer | undefined, now: Buffer): Promise<ChunkJobResult> {
    const hint = old && hintOf(chunkFile(fileOf(old), false));
    const path = fileOf(now);
    const handed = new Map<string, number>();
    const got = await pool.chunk(path, false, (p) => {
      const buf = Buffer.from(p.buf);
      for (const c of p.chunks) {
        assert.equal(createHash('sha256').update(buf.subarray(c.at, c.at + c.size)).digest('hex'), c.hash);
        handed.set(c.hash, c.size);
      }
    }, hint);
    assert.deepEqual(got.chunks, chunkFile(path, false).chunks);
    for (const c of got.chunks) assert.equal(handed.get(c.hash), c.size, 'every chunk of the result was handed over with its bytes');
    return got;
  }

  it('a file without a hint: the whole-file cut (B starts at the middle, the resync finds its cuts)', async () => {
    await splitCut(undefined, random(prng(3), 5 * MiB + 999));
  });

  it('an unchanged file with a hint: every chunk taken from it, parts meeting at a hint boundary', async () => {
    const base = random(prng(4), 6 * MiB + 1);
    const got = await splitCut(base, base);
    assert.equal(got.reusedBytes, base.length);
  });

  it('edits at the split point, and a file that grew or shrank past it', async () => {
    const base = random(prng(5), 4 * MiB);
    const mid = 2 * MiB;
    const edited = Buffer.from(base);
    random(prng(6), 3000).copy(edited, mid - 1500);
    await splitCut(base, edited);
    await splitCut(base, Buffer.concat([base.subarray(0, mid - 10), random(prng(7), 20), base.subarray(mid)]));
    await splitCut(base, Buffer.concat([base, random(prng(8), 5 * MiB)]));
    await splitCut(base, base.subarray(0, MiB + 17)); // hint's middle beyond the file's end
  });

  it('an error taking a piece fails the job, once both parts have ended', async () => {
    const path = fileOf(random(prng(9), 3 * MiB));
    let calls = 0;
    await assert.rejects(pool.chunk(path, false, () => {
      calls++;
      throw new Error('disk full');
    }), /disk full/);
    const after = calls;
    assert.ok(after >= 2, `each part's first piece reached onPiece (${after} calls)`);
    assert.deepEqual((await pool.chunk(path, false)).chunks, chunkFile(path, false).chunks, 'the pool works on after it');
    assert.equal(calls, after, 'no piece of the failed job came later');
  });

  it('random edits of random files (seeded): always the full cut', async () => {
    const r = prng(77);
    for (let round = 0; round < 12; round++) {
      const old = random(r, MiB + Math.floor(r() * 4 * MiB));
      const now = randomEdits(r, old, 5, 200_000, 3);
      await splitCut(round % 4 === 3 ? undefined : old, now);
    }
  });
});
