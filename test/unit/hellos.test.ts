import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hellos } from '../../src/consensus/hellos.ts';

function hellos() {
  const sent: Record<string, unknown>[] = [];
  let member = false;
  const h = new Hellos({ nodeId: 'me', apiUrl: 'http://me:7370', publish: async (m) => void sent.push(m as Record<string, unknown>), member: () => member, clusterId: () => (member ? 'K' : null) });
  return { h, sent, join: () => (member = true), leave: () => (member = false) };
}

test('Hellos: a founding node says so at once and until it is a member, and not after it starts over', async () => {
  const { h, sent, join, leave } = hellos();
  await h.say();
  assert.deepEqual(sent.at(-1), { type: 'hello', id: 'me', api: 'http://me:7370', clusterId: null });
  h.foundingNow();
  assert.equal(sent.length, 2, 'said at once');
  assert.deepEqual(sent.at(-1), { type: 'hello', id: 'me', api: 'http://me:7370', clusterId: null, founding: true });
  await h.say();
  assert.equal(sent.at(-1)!.founding, true, 'still founding');
  join();
  await h.say();
  assert.deepEqual(sent.at(-1), { type: 'hello', id: 'me', api: 'http://me:7370', clusterId: 'K' });
  leave(); // removed from the cluster: a fresh node again, not a founder
  await h.say();
  assert.equal(sent.at(-1)!.founding, undefined);
});

test('Hellos: takes the founding mark from a well-formed hello, nothing from a malformed one', () => {
  const { h } = hellos();
  assert.equal(h.take('p1', { type: 'hello', id: 'p1', api: 'http://p1', clusterId: null, founding: true }), true);
  assert.equal(h.take('p2', { type: 'hello', id: 'p2', api: 'http://p2', clusterId: null, founding: 'yes' }), true);
  assert.equal(h.take('p3', { type: 'hello', id: 'p3', api: 'http://p3', clusterId: null }), true);
  assert.equal(h.take('p4', { type: 'hello', id: 'someone-else', api: 'http://p4', clusterId: null, founding: true }), false, 'signed by another node');
  const byId = new Map(h.list().map((p) => [p.id, p]));
  assert.equal(byId.get('p1')!.founding, true);
  assert.equal(byId.get('p2')!.founding, undefined, 'only a literal true counts');
  assert.equal(byId.get('p3')!.founding, undefined);
  assert.equal(byId.has('p4'), false);
});
