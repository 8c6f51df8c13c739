import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { QuorumWatch, QUORUM_PROBE_MS } from '../../src/runtime/quorum-watch.ts';
import { waitFor } from '../helpers/wait.ts';

/** A stand-in for one member's client: its reads answer, fail, or hang (a member cut off). */
function member(behaviour: 'answers' | 'fails' | 'hangs'): Etcd3 & { reads: number } {
  const m = {
    reads: 0,
    get: () => ({
      options: () => ({
        string: () => {
          m.reads++;
          if (behaviour === 'answers') return Promise.resolve('{}');
          if (behaviour === 'fails') return Promise.reject(new Error('14 UNAVAILABLE: connect ECONNREFUSED'));
          return new Promise<string>(() => undefined);
        },
      }),
    }),
  };
  return m as unknown as Etcd3 & { reads: number };
}

function watch(clients: () => Etcd3[], graceMs: number) {
  const changes: boolean[] = [];
  const failures: string[] = [];
  const w = new QuorumWatch(clients, graceMs, (f) => changes.push(f), (e) => failures.push(e));
  w.start();
  return { w, changes, failures };
}

test('quorum watch: one member cut off (its reads hang) never fences a node the others answer', { timeout: 20_000 }, async () => {
  const cut = member('hangs');
  const ok = member('answers');
  const { w, changes } = watch(() => [cut, ok, member('answers')], 1200);
  try {
    await waitFor('a few probe rounds', () => cut.reads >= 3, 10_000, 50);
    assert.equal(w.fenced, false);
    assert.deepEqual(changes, []);
    assert.ok(ok.reads >= 3, 'every member is read in every round');
  } finally {
    w.stop();
  }
});

test('quorum watch: no member answering fences after the grace, with every member\'s error named; an answer unfences', { timeout: 20_000 }, async () => {
  let clients: Etcd3[] = [member('fails'), member('hangs')];
  const { w, changes, failures } = watch(() => clients, 1200);
  try {
    await waitFor('fenced', () => w.fenced && changes.length === 1, 10_000, 50);
    assert.deepEqual(changes, [true]);
    assert.match(failures[0]!, /no etcd member answered.*1 failed: 14 UNAVAILABLE.*1 silent/);
    clients = [member('answers')];
    await waitFor('unfenced', () => changes.length === 2, 10_000, 50);
    assert.deepEqual(changes, [true, false]);
    assert.ok(w.regainedAt > 0);
  } finally {
    w.stop();
  }
});

test('quorum watch: a node with no client yet (not admitted) is not fenced; once it had one, losing it counts', { timeout: 20_000 }, async () => {
  let clients: Etcd3[] = [];
  let rounds = 0;
  const startedAt = Date.now();
  const { w, changes } = watch(() => (rounds++, clients), 1200);
  try {
    await waitFor('probe rounds past the grace', () => rounds >= 3 && Date.now() - startedAt > 1200 + QUORUM_PROBE_MS, 10_000, 50);
    assert.equal(w.fenced, false);
    assert.deepEqual(changes, []);
    const first = member('answers');
    clients = [first];
    await waitFor('a good read', () => first.reads > 0, 5000, 50);
    clients = [];
    await waitFor('fenced once the client is gone', () => changes.some((c) => c), 10_000, 50);
  } finally {
    w.stop();
  }
});
