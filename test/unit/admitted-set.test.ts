/** The admitted set node-to-node calls are checked against (src/consensus/admitted-set.ts). */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { AdmittedSet } from '../../src/consensus/admitted-set.ts';

test('replace: the set becomes the ids read, always with this node', () => {
  const set = new AdmittedSet();
  set.replace(['a', 'b'], 'self');
  assert.deepEqual([...set].sort(), ['a', 'b', 'self']);
  set.replace(['b', 'c'], 'self');
  assert.deepEqual([...set].sort(), ['b', 'c', 'self']);
  set.replace([], 'self');
  assert.deepEqual([...set], ['self']);
});

test('confirm: a known id without a read; an unknown one after one read, shared by callers and standing for holdMs', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const set = new AdmittedSet(1000);
  set.replace(['a'], 'self');
  let reads = 0;
  let registry = ['a', 'new'];
  const read = async () => (reads++, registry);

  assert.equal(await set.confirm('a', 'self', read), true);
  assert.equal(reads, 0);
  // admitted after this node's last read: found by the read it causes
  assert.equal(await set.confirm('new', 'self', read), true);
  assert.equal(reads, 1);
  // a stranger: concurrent calls and calls within the hold share that read's answer
  assert.deepEqual(await Promise.all([set.confirm('stranger', 'self', read), set.confirm('stranger', 'self', read)]), [false, false]);
  assert.equal(reads, 1);
  t.mock.timers.tick(999);
  assert.equal(await set.confirm('stranger', 'self', read), false);
  assert.equal(reads, 1);
  t.mock.timers.tick(1);
  // past the hold: read again (and the set follows the registry, a removed node included)
  registry = ['new', 'stranger'];
  assert.equal(await set.confirm('stranger', 'self', read), true);
  assert.equal(reads, 2);
  assert.deepEqual([...set].sort(), ['new', 'self', 'stranger']);
});

test('confirm: not connected (no read) or a failing read: refused, the set unchanged', async () => {
  const set = new AdmittedSet(0);
  set.replace(['a'], 'self');
  assert.equal(await set.confirm('b', 'self', undefined), false);
  const failing = mock.fn(async (): Promise<string[]> => {
    throw new Error('etcd unreachable');
  });
  assert.equal(await set.confirm('b', 'self', failing), false);
  assert.equal(failing.mock.callCount(), 1);
  assert.deepEqual([...set].sort(), ['a', 'self']);
});
