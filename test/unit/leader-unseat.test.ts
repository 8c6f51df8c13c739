import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadMembers, newVerdicts, RECENT_DEATH_MS, unseatable, viewHoldsMajority } from '../../src/core/leader-unseat.ts';

const live = (state: 'alive' | 'suspect' | 'dead' | 'left', since = 1) => ({ state, since }) as never;

test('dead members: only those gossip holds dead, never this node, with when they died', () => {
  const l = { a: live('alive'), b: live('suspect'), c: live('dead', 7), d: live('left'), me: live('dead', 9), e: undefined };
  assert.deepEqual([...deadMembers(l, 'me')], [['c', 7]]);
  assert.equal(deadMembers({}, 'me').size, 0);
});

test('verdicts reached before the bound are not taken (this node may have been cut off then)', () => {
  const l = { a: live('dead', 100), b: live('dead', 250), c: live('dead', 200) };
  assert.deepEqual([...deadMembers(l, 'me', 200)], [['b', 250], ['c', 200]]);
  assert.deepEqual([...deadMembers(l, 'me', 251)], []);
  assert.equal(deadMembers(l, 'me').size, 3, 'no bound: every verdict');
});

test('a node that holds half or more of the members freshly down (dead or suspect) unseats nobody', () => {
  const now = 1_000_000;
  const fresh = (state: 'alive' | 'suspect' | 'dead' | 'left') => live(state, now - 5000);
  const holds = (l: Record<string, unknown>) => viewHoldsMajority(l as never, 'me', now);
  // 3 nodes: this one back from a partition holds both others dead
  assert.equal(holds({ me: fresh('alive'), a: fresh('dead'), b: fresh('dead') }), false);
  assert.equal(holds({ a: fresh('dead'), b: fresh('dead') }), false, 'this node counted when liveness lacks it');
  // one of 3 dead (the leader killed): the survivors act
  assert.equal(holds({ me: fresh('alive'), a: fresh('alive'), b: fresh('dead') }), true);
  // cut off, the deaths come one by one: the other is already suspect when the first is dead
  assert.equal(holds({ a: fresh('suspect'), b: fresh('dead') }), false, 'a suspect member counts as down');
  assert.equal(holds({ a: fresh('suspect'), b: fresh('suspect') }), false);
  assert.equal(holds({ a: fresh('suspect'), b: fresh('alive'), c: fresh('dead'), d: fresh('alive') }), true, '2 of 5 down');
  assert.equal(holds({ a: fresh('suspect'), b: fresh('suspect'), c: fresh('dead'), d: fresh('alive') }), false, '3 of 5 down');
  // 2 nodes: the other dead is half: not acted on (either could be the one cut off)
  assert.equal(holds({ a: fresh('dead') }), false);
  // members that left do not count; nobody else: nothing dead
  assert.equal(holds({ a: fresh('left'), b: fresh('left'), c: fresh('dead'), d: fresh('alive'), e: fresh('alive') }), true);
  assert.equal(holds({ x: undefined }), true);
  // 5 nodes: 2 dead is under half, 3 is not
  const five = (deadCount: number) => Object.fromEntries(['a', 'b', 'c', 'd'].map((id, i) => [id, fresh(i < deadCount ? 'dead' : 'alive')]));
  assert.equal(holds(five(2)), true);
  assert.equal(holds(five(3)), false);
});

test('a member dead for longer than the recent window counts neither way (a machine gone for good)', () => {
  const now = 1_000_000;
  const old = live('dead', now - RECENT_DEATH_MS - 1);
  // chaos seed 1: the joiner killed for good, then the leader cut off: the survivors must still act
  assert.equal(viewHoldsMajority({ me: live('alive', 1), joiner: old, leader: live('dead', now - 200), other: live('alive', 1) }, 'me', now), true);
  assert.equal(viewHoldsMajority({ joiner: live('dead', now - RECENT_DEATH_MS), leader: live('dead', now - 200), other: live('alive', 1) }, 'me', now), false, 'at the window\'s edge it still counts');
  // back from a long partition: both others' verdicts are old; the candidacy rule (above) holds those back
  assert.equal(viewHoldsMajority({ a: old, b: old }, 'me', now), true);
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
