import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admitSimultaneous, coldStart } from '../../bench/sim/admission-sim.ts';
import { deathUnderLoss, partition } from '../../bench/sim/detector-scenarios.ts';

// The scale simulator (bench/sim) at small sizes: it replays from its seed, and the real
// machines it drives behave as their own tests say (these are simulated-clock figures, not timings).

test('the simulation replays exactly from its seed', () => {
  assert.deepEqual(deathUnderLoss(20, 7), deathUnderLoss(20, 7));
  assert.deepEqual(admitSimultaneous(3, 20, 3, 7), admitSimultaneous(3, 20, 3, 7));
});

test('a killed node is marked dead by every live node, and nobody else is, under 5% loss', () => {
  for (const seed of [1, 2, 3]) {
    const d = deathUnderLoss(20, seed);
    assert.equal(d.missed, 0, `seed ${seed}`);
    assert.equal(d.falseDead, 0, `seed ${seed}`);
    assert.ok(d.allMarkedMs > 0 && d.allMarkedMs < 10_000, `seed ${seed}: ${d.allMarkedMs}`);
  }
});

test('a 3 s partition kills nobody; a long one is detected on the majority side', () => {
  assert.equal(partition(30, 1, 3000, 2000).splitPairsAfterHeal, 0);
  const long = partition(30, 1, 12_000, 1000);
  assert.ok(Number.isFinite(long.majorityMarkedMs), 'every majority node marked every cut-off node dead');
});

test('100 simultaneous joiners are all admitted, with the voter set at its target; cold starts found one cluster', () => {
  const a = admitSimultaneous(3, 100, 5, 1);
  assert.ok(Number.isFinite(a.allAdmittedMs));
  assert.equal(a.voters, 5);
  for (const seed of [1, 2, 3]) assert.equal(coldStart(30, seed).founders, 1, `seed ${seed}`);
});
