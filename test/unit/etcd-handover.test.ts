import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Handover, type Connection } from '../../src/consensus/etcd-connection.ts';

/** src/consensus/etcd-connection.ts Handover: which connections close, and when. */
function fakeConnection(name: string, closed: string[]): Connection {
  const closer = (what: string) => ({ close: () => void closed.push(what) });
  return { client: closer(`${name}.client`), store: {}, probes: [closer(`${name}.probe1`), closer(`${name}.probe2`)] } as unknown as Connection;
}

test('handover: a kept connection serves until its successor is up, then closes a few seconds later, probes and all', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const closed: string[] = [];
    const h = new Handover();
    const a = fakeConnection('a', closed);
    h.keep(a);
    assert.equal(h.kept, a);
    assert.equal(h.takeOver(), true, 'there was one to take over');
    assert.equal(h.kept, undefined);
    assert.deepEqual(closed, [], 'not closed at once: requests it carries may still be answered');
    mock.timers.tick(4999);
    assert.deepEqual(closed, []);
    mock.timers.tick(1);
    assert.deepEqual(closed, ['a.client', 'a.probe1', 'a.probe2']);
    assert.equal(h.takeOver(), false, 'nothing kept: nothing to take over');
    assert.equal(h.drop(), false);
  } finally {
    mock.timers.reset();
  }
});

test('handover: dropping closes the kept connection and any still retiring, at once, and says whether one was kept', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const closed: string[] = [];
    const h = new Handover();
    h.keep(fakeConnection('a', closed));
    h.takeOver();
    h.keep(fakeConnection('b', closed));
    assert.deepEqual(closed, [], 'keeping b does not cut a short');
    assert.equal(h.drop(), true);
    assert.deepEqual(closed.sort(), ['a.client', 'a.probe1', 'a.probe2', 'b.client', 'b.probe1', 'b.probe2']);
    mock.timers.tick(10_000);
    assert.equal(closed.length, 6, 'a retired connection is closed once');
  } finally {
    mock.timers.reset();
  }
});

test('handover: keeping a second connection closes a first one nobody took over', () => {
  const closed: string[] = [];
  const h = new Handover();
  h.keep(fakeConnection('a', closed));
  const b = fakeConnection('b', closed);
  h.keep(b);
  assert.deepEqual(closed, ['a.client', 'a.probe1', 'a.probe2']);
  assert.equal(h.kept, b);
  h.drop();
});
