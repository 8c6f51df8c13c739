import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable, formatDuration, renderFields } from '../../src/cli/output.ts';

test('tables align columns (no colour off a TTY)', () => {
  const out = renderTable(['name', 'state'], [['a', 'alive'], ['longer', 'dead']]);
  assert.equal(out, 'NAME    STATE\na       alive\nlonger  dead');
});

test('fields align keys', () => {
  assert.equal(renderFields([['a', '1'], ['bbb', '2']]), 'a    1\nbbb  2');
});

test('durations read naturally', () => {
  assert.deepEqual([5, 1500, 61_000, 3_700_000, 90_000_000].map(formatDuration), ['5ms', '1s', '1m1s', '1h1m', '1d1h']);
});
