import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSplit, sliceHint, splitPoint, SPLIT_MIN_BYTES } from '../../src/volumes/chunk-split.ts';

/* The split's planning, without threads: where a file is split, which hint each part gets, and how the parts merge. */

const MiB = 2 ** 20;
const hint = (sizes: number[]) => ({ sizes, hashes: sizes.map((_, i) => `h${i}`) });

describe('splitting a file between two chunking threads', () => {
  it('a file under the threshold is not split', () => {
    assert.equal(splitPoint(SPLIT_MIN_BYTES - 1), undefined);
    assert.equal(splitPoint(SPLIT_MIN_BYTES), SPLIT_MIN_BYTES / 2);
    assert.equal(splitPoint(10, undefined, 4), 5);
  });

  it('with a hint: its boundary nearest the middle, never 0', () => {
    assert.equal(splitPoint(100, hint([30, 30, 40]), 10), 60);
    assert.equal(splitPoint(100, hint([47, 10, 43]), 10), 47);
    assert.equal(splitPoint(100, hint([43, 10, 47]), 10), 53);
    assert.equal(splitPoint(100, hint([49, 51]), 10), 49);
    assert.equal(splitPoint(100, hint([100]), 10), 50, 'one chunk: no boundary inside, the middle');
  });

  it('a hint boundary far from the middle (the file grew): the middle', () => {
    assert.equal(splitPoint(1000, hint([100, 100]), 10), 500);
    assert.equal(splitPoint(1000, hint([100, 300, 50]), 10), 400, 'within an eighth of the size (the hint\'s end is no boundary: the old file\'s end cut it)');
    assert.equal(splitPoint(1000, hint([100, 270, 50]), 10), 500, 'more than an eighth away');
  });

  it('a slice keeps offsets, and says whether it holds the file\'s last chunk', () => {
    const h = hint([10, 20, 30, 40]);
    assert.deepEqual(sliceHint(h, 0, 30), { sizes: [10, 20], hashes: ['h0', 'h1'], offset: 0, endsFile: false });
    assert.deepEqual(sliceHint(h, 30, Infinity), { sizes: [30, 40], hashes: ['h2', 'h3'], offset: 30, endsFile: true });
    assert.deepEqual(sliceHint(h, 5, 31), { sizes: [20, 30], hashes: ['h1', 'h2'], offset: 10, endsFile: false }, 'chunks that start in the range');
    assert.equal(sliceHint(h, 100, 200), undefined);
    assert.equal(sliceHint(undefined, 0, 10), undefined);
    const s = sliceHint(h, 30, Infinity)!;
    assert.deepEqual(sliceHint(s, 60, Infinity), { sizes: [40], hashes: ['h3'], offset: 60, endsFile: true }, 'a slice of a slice');
  });

  it('merging: B\'s chunks from the resync point on; none when the resync reached the end', () => {
    const c = (offset: number, size: number) => ({ hash: `c${offset}`, size, offset });
    const a = { chunks: [c(0, 10), c(10, 10)], holes: [], reusedBytes: 20, tail: 20 };
    const b = { chunks: [c(25, 10), c(35, 10), c(45, 5)], holes: [], reusedBytes: 25 };
    const synced = mergeSplit(a, { chunks: [c(20, 15)], holes: [], syncedAt: 35, reusedBytes: 0 }, b);
    assert.deepEqual(synced.chunks, [c(0, 10), c(10, 10), c(20, 15), c(35, 10), c(45, 5)]);
    const toEnd = mergeSplit(a, { chunks: [c(20, 30)], holes: [], reusedBytes: 0 }, b);
    assert.deepEqual(toEnd.chunks, [c(0, 10), c(10, 10), c(20, 30)]);
    assert.equal(toEnd.reusedBytes, 20);
  });
});
