import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadMembers, newVerdicts, RECENT_DEATH_MS, unseatable, viewStanding } from '../../src/core/leader-unseat.ts';
import { prng } from '../helpers/prng.ts';

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

test('a view with half or more of the members freshly dead is cut off; with half or more dead or suspect, unsure', () => {
  const now = 1_000_000;
  const fresh = (state: 'alive' | 'suspect' | 'dead' | 'left') => live(state, now - 5000);
  const standing = (l: Record<string, unknown>) => viewStanding(l as never, 'me', now);
  // 3 nodes: this one back from a partition holds both others dead
  assert.equal(standing({ me: fresh('alive'), a: fresh('dead'), b: fresh('dead') }), 'cut-off');
  assert.equal(standing({ a: fresh('dead'), b: fresh('dead') }), 'cut-off', 'this node counted when liveness lacks it');
  // one of 3 dead (the leader killed): the survivors act
  assert.equal(standing({ me: fresh('alive'), a: fresh('alive'), b: fresh('dead') }), 'sound');
  // cut off, the deaths come one by one: the other is already suspect when the first is dead
  assert.equal(standing({ a: fresh('suspect'), b: fresh('dead') }), 'unsure');
  assert.equal(standing({ a: fresh('suspect'), b: fresh('suspect') }), 'unsure');
  assert.equal(standing({ a: fresh('suspect'), b: fresh('alive') }), 'sound', 'one suspect of 3');
  // 2 nodes: the other dead is half: not acted on (either could be the one cut off)
  assert.equal(standing({ a: fresh('dead') }), 'cut-off');
  assert.equal(standing({ a: fresh('suspect') }), 'unsure');
  // members that left do not count; nobody else: nothing dead
  assert.equal(standing({ a: fresh('left'), b: fresh('left'), c: fresh('dead'), d: fresh('alive'), e: fresh('alive') }), 'sound');
  assert.equal(standing({ x: undefined }), 'sound');
  // 5 nodes: 2 dead is under half, 3 is not; 2 dead and a suspect is unsure
  const five = (dead: number, suspect = 0) => Object.fromEntries(['a', 'b', 'c', 'd'].map((id, i) => [id, fresh(i < dead ? 'dead' : i < dead + suspect ? 'suspect' : 'alive')]));
  assert.equal(standing(five(2)), 'sound');
  assert.equal(standing(five(3)), 'cut-off');
  assert.equal(standing(five(1, 1)), 'sound');
  assert.equal(standing(five(2, 1)), 'unsure');
  assert.equal(standing(five(0, 3)), 'unsure');
});

test('a member dead for longer than the recent window counts neither way (a machine gone for good)', () => {
  const now = 1_000_000;
  const old = live('dead', now - RECENT_DEATH_MS - 1);
  // chaos seed 1: the joiner killed for good, then the leader cut off: the survivors must still act
  assert.equal(viewStanding({ me: live('alive', 1), joiner: old, leader: live('dead', now - 200), other: live('alive', 1) }, 'me', now), 'sound');
  assert.equal(viewStanding({ joiner: live('dead', now - RECENT_DEATH_MS), leader: live('dead', now - 200), other: live('alive', 1) }, 'me', now), 'cut-off', 'at the window\'s edge it still counts');
  // back from a long partition: both others' verdicts are old; the candidacy rule (above) holds those back
  assert.equal(viewStanding({ a: old, b: old }, 'me', now), 'sound');
});

test('view standing, randomized: a member going suspect, or suspect going dead, never makes the view sounder; one death among 3+ live members is sound', () => {
  const now = 1_000_000;
  const rank = { sound: 0, unsure: 1, 'cut-off': 2 } as const;
  const states = ['alive', 'suspect', 'dead', 'left'] as const;
  const next = prng(7);
  const rand = (n: number) => Math.floor(next() * n);
  for (let round = 0; round < 2000; round++) {
    const l: Record<string, { state: string; since: number }> = {};
    const n = 1 + rand(7);
    for (let i = 0; i < n; i++) l[`m${i}`] = { state: states[rand(4)]!, since: now - rand(2) * (RECENT_DEATH_MS + 1000) };
    const before = rank[viewStanding(l as never, 'me', now)];
    const id = `m${rand(n)}`;
    const m = l[id]!;
    if (m.state === 'alive' || m.state === 'suspect') {
      const worse = { ...l, [id]: { state: m.state === 'alive' ? 'suspect' : 'dead', since: now } };
      assert.ok(rank[viewStanding(worse as never, 'me', now)] >= before, JSON.stringify({ l, id }));
    }
  }
  for (let alive = 2; alive < 8; alive++) {
    const l = Object.fromEntries([...Array.from({ length: alive }, (_, i) => [`a${i}`, live('alive', 1)]), ['leader', live('dead', now - 100)]]);
    assert.equal(viewStanding(l as never, 'me', now), 'sound', `${alive} alive others`);
  }
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
