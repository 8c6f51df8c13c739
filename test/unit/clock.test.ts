import { test } from 'node:test';
import assert from 'node:assert/strict';
import { atDeadline, monoNow, wallOffset } from '../../src/system/clock.ts';

/** Fake timers: each scheduled callback with its delay, fired by hand. */
function fakeTimers() {
  const pending: { fn: () => void; ms: number; cleared: boolean }[] = [];
  return {
    pending,
    timers: {
      setTimeout: (fn: () => void, ms: number) => {
        const t = { fn, ms, cleared: false };
        pending.push(t);
        return t;
      },
      clearTimeout: (t: never) => {
        (t as unknown as { cleared: boolean }).cleared = true;
      },
    },
    fireNext() {
      const t = pending.shift()!;
      if (!t.cleared) t.fn();
    },
  };
}

test('atDeadline: a timer that fires before the deadline by the clock waits again for the rest, then calls once', () => {
  const f = fakeTimers();
  let now = 1000;
  let calls = 0;
  atDeadline(1500, () => calls++, () => now, f.timers);
  assert.deepEqual(f.pending.map((t) => t.ms), [500]);
  now = 1497; // fired 3 ms early
  f.fireNext();
  assert.equal(calls, 0);
  assert.deepEqual(f.pending.map((t) => t.ms), [3]);
  now = 1500.2;
  f.fireNext();
  assert.equal(calls, 1);
  assert.equal(f.pending.length, 0);
});

test('atDeadline: on time or late it calls at once; a deadline already past is due at the next turn; cancelled, never', () => {
  const f = fakeTimers();
  let now = 0;
  let calls = 0;
  atDeadline(100, () => calls++, () => now, f.timers);
  now = 250;
  f.fireNext();
  assert.equal(calls, 1);
  atDeadline(100, () => calls++, () => now, f.timers);
  assert.deepEqual(f.pending.map((t) => t.ms), [0]);
  f.fireNext();
  assert.equal(calls, 2);
  const cancel = atDeadline(400, () => calls++, () => now, f.timers);
  cancel();
  now = 500;
  f.fireNext();
  assert.equal(calls, 2);
});

test('monoNow starts near the wall clock and never goes back; wallOffset maps it to the wall clock', () => {
  const a = monoNow();
  assert.ok(Math.abs(a - Date.now()) < 60_000);
  const b = monoNow();
  assert.ok(b >= a);
  assert.ok(Math.abs(monoNow() + wallOffset() - Date.now()) < 5);
});
