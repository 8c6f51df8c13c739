import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUSY_REQUESTS_PER_S, BUSY_SAMPLES, demandStep, initialDemand, type DemandState } from '../../src/core/proxy-demand.ts';
import { prng } from '../helpers/prng.ts';

/** Feeds per-second request counts; returns the sample index at which the workers start, or -1. */
function run(perSecond: number[], stepMs = 1000): number {
  let s: DemandState = initialDemand();
  let total = 0;
  for (let i = 0; i < perSecond.length; i++) {
    total += perSecond[i]!;
    const r = demandStep(s, total, i * stepMs);
    s = r.state;
    if (r.start) return i;
  }
  return -1;
}

test('the workers start after the proxy is busy for 3 samples in a row, never on a blip or at idle', () => {
  assert.equal(run([0, 0, 0, 0, 0, 0]), -1);
  assert.equal(run([0, 5, 2, 0, 1, 3, 0, 0]), -1, 'a home node at idle');
  assert.equal(run([0, 500, 500, 0, 500, 500, 0]), -1, 'bursts shorter than 3 s');
  assert.equal(run([0, 100, 100, 100]), 3, 'exactly at the rate, 3 samples after the first');
  assert.equal(run([0, 99, 99, 99, 99]), -1, 'just under the rate');
  assert.equal(run([0, 1000, 1000, 10, 1000, 1000, 1000]), 6, 'a quiet second resets the count');
  // the rate is per second whatever the sampling interval (a late timer under load)
  assert.equal(run([0, 150, 150, 150], 2000), -1, '150 requests per 2 s is 75/s');
  assert.equal(run([0, 200, 200, 200], 2000), 3, '200 requests per 2 s is 100/s');
});

test('a counter that goes back (a restarted proxy) or a clock that does not advance resets, never starts', () => {
  let s = initialDemand();
  s = demandStep(s, 1000, 0).state;
  s = demandStep(s, 2000, 1000).state;
  s = demandStep(s, 3000, 2000).state;
  assert.equal(s.busy, 2);
  const back = demandStep(s, 10, 3000);
  assert.equal(back.start, false);
  assert.equal(back.state.busy, 0);
  const still = demandStep(s, 9000, 2000);
  assert.equal(still.start, false);
});

test('randomized: it starts exactly at the first run of BUSY_SAMPLES busy seconds', () => {
  const rnd = prng(1616);
  for (let trial = 0; trial < 500; trial++) {
    const rates = Array.from({ length: 30 }, () => (rnd() < 0.5 ? Math.floor(rnd() * BUSY_REQUESTS_PER_S) : BUSY_REQUESTS_PER_S + Math.floor(rnd() * 1000)));
    rates[0] = 0;
    let want = -1;
    let streak = 0;
    for (let i = 1; i < rates.length; i++) {
      streak = rates[i]! >= BUSY_REQUESTS_PER_S ? streak + 1 : 0;
      if (streak >= BUSY_SAMPLES) {
        want = i;
        break;
      }
    }
    assert.equal(run(rates), want, `seed 1616 trial ${trial}`);
  }
});
