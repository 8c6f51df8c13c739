import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadMembers, newVerdicts, unseatable, viewHoldsMajority } from '../../src/core/leader-unseat.ts';

const live = (state: 'alive' | 'suspect' | 'dead' | 'left', since = 1) => ({ state, since }) as never;

test('dead members: only those gossip holds dead, never this node, with when they died', () => {
  const l = { a: live('alive'), b: live('suspect'), c: live('dead', 7), d: live('left'), me: live('dead', 9), e: undefined };
  assert.deepEqual([...deadMembers(l, 'me')], [['c', 7]]);
  assert.equal(deadMembers({}, 'me').size, 0);
});

test('verdicts reached before this candidacy began are not taken (they may come from a partition of this node)', () => {
  const l = { a: live('dead', 100), b: live('dead', 250), c: live('dead', 200) };
  assert.deepEqual([...deadMembers(l, 'me', 200)], [['b', 250], ['c', 200]]);
  assert.deepEqual([...deadMembers(l, 'me', 251)], []);
  assert.equal(deadMembers(l, 'me').size, 3, 'no bound: every verdict');
});

test('a node that holds half or more of the members dead unseats nobody', () => {
  // 3 nodes: this one back from a partition holds both others dead
  assert.equal(viewHoldsMajority({ me: live('alive'), a: live('dead'), b: live('dead') }, 'me'), false);
  assert.equal(viewHoldsMajority({ a: live('dead'), b: live('dead') }, 'me'), false, 'this node counted when liveness lacks it');
  // one of 3 dead (the leader killed): the survivors act
  assert.equal(viewHoldsMajority({ me: live('alive'), a: live('alive'), b: live('dead') }, 'me'), true);
  assert.equal(viewHoldsMajority({ a: live('suspect'), b: live('dead') }, 'me'), true, 'a suspect member is not dead');
  // 2 nodes: the other dead is half: not acted on (either could be the one cut off)
  assert.equal(viewHoldsMajority({ a: live('dead') }, 'me'), false);
  // members that left do not count; nobody else: nothing dead
  assert.equal(viewHoldsMajority({ a: live('left'), b: live('left'), c: live('dead'), d: live('alive'), e: live('alive') }, 'me'), true);
  assert.equal(viewHoldsMajority({ x: undefined }, 'me'), true);
  // 5 nodes: 2 dead is under half, 3 is not
  const five = (deadCount: number) => Object.fromEntries(['a', 'b', 'c', 'd'].map((id, i) => [id, live(i < deadCount ? 'dead' : 'alive')]));
  assert.equal(viewHoldsMajority(five(2), 'me'), true);
  assert.equal(viewHoldsMajority(five(3), 'me'), false);
});

test('a verdict is new until acted on; a member dead again (another moment) is new again', () => {
  const dead = new Map([['c', 7]]);
  assert.equal(newVerdicts(dead, new Map()), true);
  assert.equal(newVerdicts(dead, new Map([['c', 7]])), false);
  assert.equal(newVerdicts(dead, new Map([['c', 5]])), true);
  assert.equal(newVerdicts(new Map(), new Map([['c', 7]])), false, 'nobody dead: nothing to look at');
  assert.equal(newVerdicts(new Map([['c', 7], ['x', 2]]), new Map([['c', 7]])), true);
});

test('only a leader gossip holds dead is unseated', () => {
  const dead = new Map([['c', 7]]);
  assert.equal(unseatable('c', dead), true);
  assert.equal(unseatable('a', dead), false, 'a live leader keeps its seat');
  assert.equal(unseatable(undefined, dead), false, 'no leader: nothing to remove');
  assert.equal(unseatable('c', new Map()), false);
});
