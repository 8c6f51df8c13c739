/** The client's endpoints and when to reconnect to them (src/core/follow-voters.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shouldReconnect, voterEndpoints } from '../../src/core/follow-voters.ts';

const A = 'https://10.0.0.1:7372';
const B = 'https://10.0.0.2:7372';
const C = 'https://10.0.0.3:7372';

test('the endpoints: voters that stay, plus this node\'s own member, once each and sorted', () => {
  const nodes = [
    { role: 'voter', clientUrl: C },
    { role: 'client', clientUrl: 'https://10.0.0.9:7372' },
    { role: 'voter', clientUrl: B, leaving: true },
    { role: 'learner', clientUrl: 'https://10.0.0.8:7372' },
    { role: 'voter', clientUrl: A },
  ];
  assert.deepEqual(voterEndpoints(nodes, undefined), [A, C]);
  assert.deepEqual(voterEndpoints(nodes, A), [A, C]);
  assert.deepEqual(voterEndpoints(nodes, B), [A, B, C], 'a leaving voter still uses its own member');
  assert.deepEqual(voterEndpoints([], undefined), []);
});

test('when to reconnect: every case of leader, departed, new voters and a failing client', () => {
  const cases: { current: string[]; wanted: string[]; leader: boolean; failing: boolean; want: boolean; why: string }[] = [
    { current: [A], wanted: [A], leader: false, failing: false, want: false, why: 'nothing changed' },
    { current: [A], wanted: [A], leader: true, failing: true, want: false, why: 'failing, but nothing else to try' },
    { current: [A], wanted: [], leader: false, failing: true, want: false, why: 'no voter known' },
    { current: [A], wanted: [A, B, C], leader: false, failing: false, want: true, why: 'a follower takes new voters' },
    { current: [A], wanted: [A, B, C], leader: true, failing: false, want: false, why: 'a working leader keeps its campaign' },
    { current: [A], wanted: [A, B, C], leader: true, failing: true, want: true, why: 'a failing leader reaches the others' },
    { current: [A, B], wanted: [A, C], leader: true, failing: false, want: true, why: 'a departed voter' },
    { current: [A, B], wanted: [A, C], leader: false, failing: false, want: true, why: 'a departed voter, follower' },
    { current: [A, B, C], wanted: [A, B], leader: true, failing: false, want: true, why: 'a voter gone' },
    { current: [A, B, C], wanted: [A, B], leader: false, failing: true, want: true, why: 'a voter gone, failing' },
  ];
  for (const c of cases) assert.equal(shouldReconnect(c.current, c.wanted, { leader: c.leader, failing: c.failing }), c.want, c.why);
  // exhaustive over three endpoints: reconnect exactly when the lists differ and (not leading, or a departure, or failing)
  const subsets = [[], [A], [B], [C], [A, B], [A, C], [B, C], [A, B, C]];
  for (const current of subsets) {
    for (const wanted of subsets) {
      for (const leader of [false, true]) {
        for (const failing of [false, true]) {
          const differs = current.join() !== wanted.join();
          const departed = current.some((e) => !wanted.includes(e));
          const expected = wanted.length > 0 && differs && (!leader || departed || failing);
          assert.equal(shouldReconnect(current, wanted, { leader, failing }), expected, JSON.stringify({ current, wanted, leader, failing }));
        }
      }
    }
  }
});
