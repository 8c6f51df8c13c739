import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkIndex } from '../../src/volumes/chunk-index.ts';
import type { Loc } from '../../src/volumes/chunk-records.ts';
import { prng } from '../helpers/prng.ts';

/** a random hash; with `home`, its first 4 bytes fixed (every such hash probes from the same slot) */
function hashOf(rand: () => number, home?: number): string {
  const b = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) b[i] = Math.floor(rand() * 256);
  if (home !== undefined) b.writeUInt32LE(home >>> 0, 0);
  return b.toString('hex');
}

function sameAs(index: ChunkIndex, model: Map<string, Loc>, why: string): void {
  assert.equal(index.size, model.size, why);
  assert.deepEqual(new Map(index.entries()), model, why);
  assert.deepEqual(new Set(index.keysHex()), new Set(model.keys()), why);
  assert.equal(index.totalSize(), [...model.values()].reduce((s, l) => s + l.size, 0), why);
  for (const [h, l] of model) assert.deepEqual(index.get(h), l, why);
}

test('chunk index: random sets, updates and deletes answer as a Map does, through growth and long probe runs', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rand = prng(seed);
    const index = new ChunkIndex();
    const model = new Map<string, Loc>();
    // few homes make long runs of colliding hashes (and runs that wrap past the table's end)
    const homes = seed % 2 ? [0, 1, 2, 0xffffffff, 0x7ff, 0x800] : undefined;
    const ops = 500 + Math.floor(rand() * 4000);
    for (let i = 0; i < ops; i++) {
      const r = rand();
      const known = [...model.keys()];
      if (r < 0.6 || !known.length) {
        const h = hashOf(rand, homes ? homes[Math.floor(rand() * homes.length)] : undefined);
        const loc = { pack: Math.floor(rand() * 1000), offset: Math.floor(rand() * 2 ** 32), size: Math.floor(rand() * 2 ** 20) };
        index.set(h, loc);
        model.set(h, loc);
      } else if (r < 0.7) {
        const h = known[Math.floor(rand() * known.length)]!;
        const loc = { pack: 7, offset: i, size: i % 9 };
        index.set(h, loc);
        model.set(h, loc);
      } else {
        const h = rand() < 0.9 ? known[Math.floor(rand() * known.length)]! : hashOf(rand);
        assert.equal(index.delete(h), model.delete(h), `seed ${seed} op ${i}: delete`);
      }
      if (i % 97 === 0) for (const h of known) assert.equal(index.has(h), model.has(h), `seed ${seed} op ${i}: has`);
    }
    sameAs(index, model, `seed ${seed}`);
    // emptied one by one in random order: every lookup still right after each delete
    const left = [...model.keys()].sort(() => rand() - 0.5);
    for (const [i, h] of left.entries()) {
      assert.ok(index.delete(h));
      model.delete(h);
      if (i % 50 === 0) sameAs(index, model, `seed ${seed}, emptying`);
    }
    assert.equal(index.size, 0);
    assert.equal(index.has(left[0] ?? hashOf(rand)), false);
  }
});

test('chunk index: only lower-case 64-digit hex names a chunk', () => {
  const index = new ChunkIndex();
  const h = 'ab'.repeat(32);
  index.set(h, { pack: 1, offset: 2, size: 3 });
  for (const other of [h.toUpperCase(), h.slice(0, 63), `${h}00`, `${h.slice(0, 62)}zz`, '']) {
    assert.equal(index.has(other), false, other);
    assert.equal(index.get(other), undefined, other);
    assert.equal(index.delete(other), false, other);
  }
  assert.throws(() => index.set('xyz', { pack: 1, offset: 2, size: 3 }), /not a SHA-256 hash/);
  assert.throws(() => index.set('cd'.repeat(32), { pack: 1, offset: 2 ** 32, size: 3 }), /out of range/);
  assert.deepEqual(index.get(h), { pack: 1, offset: 2, size: 3 });
});
