import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { AVG_CHUNK, MAX_CHUNK, MIN_CHUNK, cutChunks } from '../../src/core/volumes/fastcdc.ts';
import { prng } from '../helpers/prng.ts';

function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = (rand() * 4294967296) >>> 0;
    b[i] = v; b[i + 1] = v >>> 8; b[i + 2] = v >>> 16; b[i + 3] = v >>> 24;
  }
  return b;
}

const whole = (b: Uint8Array) => cutChunks(b, 0, b.length, true).lengths;

/** streams `b` in blocks of random sizes, keeping the uncut tail as a driver does */
function streamed(b: Uint8Array, rand: () => number): number[] {
  const out: number[] = [];
  let pending = new Uint8Array(0);
  let pos = 0;
  while (pos < b.length) {
    const n = Math.min(b.length - pos, 1 + Math.floor(rand() * 3 * MAX_CHUNK));
    const buf = new Uint8Array(pending.length + n);
    buf.set(pending);
    buf.set(b.subarray(pos, pos + n), pending.length);
    pos += n;
    const { lengths, consumed } = cutChunks(buf, 0, buf.length, pos === b.length);
    out.push(...lengths);
    pending = buf.slice(consumed);
  }
  return out;
}

function hashes(b: Uint8Array, lengths: number[]): string[] {
  let off = 0;
  return lengths.map((len) => {
    const h = createHash('sha256').update(b.subarray(off, off + len)).digest('hex');
    off += len;
    return h;
  });
}

describe('FastCDC chunker', () => {
  it('covers the data exactly, with every chunk between MIN and MAX (only the last may be shorter)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = prng(seed);
      const b = randomBytes(rand, Math.floor(rand() * 600_000));
      const lengths = whole(b);
      assert.equal(lengths.reduce((s, n) => s + n, 0), b.length, `seed ${seed}`);
      lengths.forEach((n, i) => {
        assert.ok(n <= MAX_CHUNK, `seed ${seed}: chunk ${i} of ${n} > MAX`);
        if (i < lengths.length - 1) assert.ok(n > MIN_CHUNK, `seed ${seed}: chunk ${i} of ${n} <= MIN`);
      });
    }
  });

  it('cuts a stream fed in random blocks exactly as one buffer', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = prng(1000 + seed);
      const b = randomBytes(rand, Math.floor(rand() * 1_000_000));
      assert.deepEqual(streamed(b, rand), whole(b), `seed ${seed}`);
    }
  });

  it('averages near 8 KiB on random data (normalized: few tiny or huge chunks)', () => {
    const b = randomBytes(prng(7), 32 * 2 ** 20);
    const lengths = whole(b);
    const mean = b.length / lengths.length;
    assert.ok(mean > AVG_CHUNK && mean < 1.5 * AVG_CHUNK, `mean ${mean}`);
    const atMax = lengths.filter((n) => n === MAX_CHUNK).length;
    assert.ok(atMax / lengths.length < 0.001, `${atMax} chunks hit MAX`);
  });

  it('is content-defined: an insertion or deletion changes only the chunks around it', () => {
    let worst = 0, edited = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const rand = prng(2000 + seed);
      const a = randomBytes(rand, 2 * 2 ** 20);
      const at = Math.floor(rand() * a.length);
      const ins = randomBytes(rand, 1 + Math.floor(rand() * 100));
      const edits = [
        Buffer.concat([a.subarray(0, at), ins, a.subarray(at)]),
        Buffer.concat([a.subarray(0, at), a.subarray(Math.min(a.length, at + ins.length))]),
      ];
      const before = new Set(hashes(a, whole(a)));
      for (const b of edits) {
        const after = hashes(b, whole(b));
        const fresh = after.filter((h) => !before.has(h)).length;
        assert.ok(fresh <= 5, `seed ${seed}: ${fresh} new chunks for one edit`);
        worst += fresh;
        edited++;
      }
    }
    // typically the chunk with the edit and the next one or two, until the cuts fall in step again
    assert.ok(worst / edited <= 3, `${worst / edited} new chunks per edit on average`);
  });

  it('cuts data without content (zeros) at MAX', () => {
    const lengths = whole(new Uint8Array(10 * MAX_CHUNK + 5));
    assert.deepEqual(lengths, [...Array(10).fill(MAX_CHUNK), 5]);
  });

  it('keeps the same boundaries forever (the gear table is part of the store format)', () => {
    const lengths = whole(randomBytes(prng(42), 200_000)).slice(0, 6);
    assert.deepEqual(lengths, GOLDEN);
  });
});

const GOLDEN = [9750, 7722, 16338, 9771, 9995, 4629];
