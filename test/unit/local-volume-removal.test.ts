/** stack rm --volumes of per-node Docker volumes: which node removes what, when an order is settled, what holds a replica, the report. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ackKey, orderSettled, removalHold, removalProgress, volumesToRemove, type LocalVolumeRemoval, type LocalVolumeRemovalAck } from '../../src/core/compose/local-volume-removal.ts';

const V = 'warren-stack_shop_cache';
const W = 'warren-stack_shop_thumbs';
const order = (id: string, nodes: string[]): LocalVolumeRemoval => ({ id, stack: 'shop', at: 1, by: 'n1', nodes });
const acks = (...entries: [string, string, LocalVolumeRemovalAck][]) => new Map(entries.map(([v, n, a]) => [ackKey(v, n), a]));

test('a node removes the volumes whose order names it and that it has not answered', () => {
  const orders = new Map([[V, order('o1', ['n1', 'n2'])], [W, order('o2', ['n2'])]]);
  assert.deepEqual(volumesToRemove('n2', orders, new Map()), [V, W]);
  assert.deepEqual(volumesToRemove('n1', orders, new Map()), [V]);
  // a node that joined after the order is not named: it never touches a volume of that name
  assert.deepEqual(volumesToRemove('n9', orders, new Map()), []);
  // answered: done; an ack of an older order of the same name does not answer this one
  assert.deepEqual(volumesToRemove('n2', orders, acks([V, 'n2', { order: 'o1', removed: true }], [W, 'n2', { order: 'old', removed: true }])), [W]);
  assert.deepEqual(volumesToRemove('n2', new Map(), new Map()), []);
});

test('an order is settled once every named node still registered has answered it', () => {
  const o = order('o1', ['n1', 'n2', 'n3']);
  const all = new Set(['n1', 'n2', 'n3']);
  const two = acks([V, 'n1', { order: 'o1', removed: true }], [V, 'n2', { order: 'o1', removed: false }]);
  assert.equal(orderSettled(V, o, two, all), false, 'n3 has not answered');
  assert.equal(orderSettled(V, o, new Map([...two, [ackKey(V, 'n3'), { order: 'o0', removed: true }]]), all), false, 'n3 answered an older order');
  assert.equal(orderSettled(V, o, new Map([...two, [ackKey(V, 'n3'), { order: 'o1', removed: false }]]), all), true);
  // n3 left the cluster for good: not waited for
  assert.equal(orderSettled(V, o, two, new Set(['n1', 'n2'])), true);
  // another volume's acks do not count
  assert.equal(orderSettled(W, o, two, all), false);
});

test('a replica that mounts a volume still to be removed here is held, with the reason', () => {
  const pending = new Set([V]);
  assert.equal(removalHold(undefined, pending), undefined);
  assert.equal(removalHold([{ name: 'other' }], pending), undefined);
  assert.equal(removalHold([{ name: V }], new Set()), undefined);
  assert.equal(removalHold([{ name: 'other' }, { name: V }], pending), `waiting for the old volume ${V} to be removed from this node (stack rm --volumes)`);
  assert.match(removalHold([{ name: V }, { name: W }], new Set([V, W]))!, /old volumes warren-stack_shop_cache, warren-stack_shop_thumbs to be/);
});

test('the report: done once every node that is up has answered; down ones are named, not waited for', () => {
  const orders = new Map([[V, order('o1', ['n1', 'n2', 'n3'])], [W, order('o2', ['n1', 'n2', 'n3'])]]);
  const live = { n2: { state: 'alive' as const }, n3: { state: 'dead' as const } };
  // nobody answered yet: self (n1) and n2 are up
  const start = removalProgress([V, W], orders, new Map(), live, 'n1');
  assert.equal(start.done, false);
  assert.deepEqual(start.pending.map((p) => [p.volume, p.nodes.map((n) => `${n.node}:${n.state}`)]), [
    [V, ['n1:alive', 'n2:alive', 'n3:dead']],
    [W, ['n1:alive', 'n2:alive', 'n3:dead']],
  ]);
  const answered = acks(
    [V, 'n1', { order: 'o1', removed: false }], [V, 'n2', { order: 'o1', removed: true }],
    [W, 'n1', { order: 'o2', removed: true }], [W, 'n2', { order: 'o2', removed: false }],
  );
  const end = removalProgress([V, W], orders, answered, live, 'n1');
  assert.equal(end.done, true, 'only n3 is left, and it is down');
  assert.deepEqual(end.removedOn, { [V]: ['n2'], [W]: ['n1'] });
  assert.deepEqual(end.pending, [{ volume: V, nodes: [{ node: 'n3', state: 'dead' }] }, { volume: W, nodes: [{ node: 'n3', state: 'dead' }] }]);
  // a node gossip does not know: unknown, not waited for
  assert.equal(removalProgress([V], new Map([[V, order('o1', ['n1', 'n4'])]]), acks([V, 'n1', { order: 'o1', removed: true }]), live, 'n1').pending[0]!.nodes[0]!.state, 'unknown');
  // an order already settled and deleted: nothing pending
  assert.deepEqual(removalProgress([V], new Map(), new Map(), live, 'n1'), { done: true, removedOn: {}, pending: [] });
});

test('stack rm --volumes says where each local volume stands, node by node', async () => {
  const { localVolumeLines } = await import('../../src/cli/stack-commands.ts');
  assert.deepEqual(localVolumeLines([
    { volume: V, removedOn: ['n2'], pending: [{ node: 'n3', state: 'dead' }] },
    { volume: W, removedOn: [], pending: [{ node: 'n1', state: 'alive' }, { node: 'n3', state: 'suspect' }, { node: 'n4', state: 'unknown' }] },
    { volume: 'warren-stack_shop_tmp', removedOn: ['n1', 'n2'], pending: [] },
  ]), [
    `  ${V}: removed on n2; n3 (dead) removes its copy when back`,
    `  ${W}: still in use on n1: removed there once its containers are gone; n3 (suspect), n4 (unknown) remove their copy when back`,
    '  warren-stack_shop_tmp: removed on n1, n2',
  ]);
  assert.deepEqual(localVolumeLines([{ volume: V, removedOn: [], pending: [] }]), [`  ${V}: no node had it`]);
});
