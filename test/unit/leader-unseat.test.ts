import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadMembers, newVerdicts, unseatable } from '../../src/core/leader-unseat.ts';

const live = (state: 'alive' | 'suspect' | 'dead' | 'left', since = 1) => ({ state, since }) as never;

test('dead members: only those gossip holds dead, never this node, with when they died', () => {
  const l = { a: live('alive'), b: live('suspect'), c: live('dead', 7), d: live('left'), me: live('dead', 9), e: undefined };
  assert.deepEqual([...deadMembers(l, 'me')], [['c', 7]]);
  assert.equal(deadMembers({}, 'me').size, 0);
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
