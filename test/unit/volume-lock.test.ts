import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { VolumeLock } from '../../src/runtime/volume-lock.ts';

/**
 * The scheduler's side as volume-driver.ts runs it: a cycle starts only when mayStart says so;
 * one that ran longer than its interval starts the next at once (setImmediate) when it ends.
 */
function backToBackCycles(lock: VolumeLock, name: string, cycles: number): { started: number; done: Promise<void> } {
  const out = { started: 0, done: Promise.resolve() };
  out.done = new Promise<void>((resolve) => {
    const start = () => {
      if (out.started >= cycles || !lock.mayStart(name) || !lock.tryTake(name)) return resolve();
      out.started++;
      setTimeout(() => {
        lock.release(name);
        setImmediate(start);
      }, 5);
    };
    start();
  });
  return out;
}

test('a waiter is not starved by cycles that follow each other at once: the next cycle does not start while it waits', async () => {
  const lock = new VolumeLock();
  const cycles = backToBackCycles(lock, 'v', 1000);
  assert.equal(lock.isHeld('v'), true, 'the first cycle runs');
  assert.equal(lock.mayStart('v'), false);
  const asked = lock.take('v');
  assert.equal(lock.mayStart('v'), false, 'no cycle starts while someone waits');
  assert.equal(await asked, true, 'the waiter gets the volume when the running cycle ends');
  await cycles.done;
  assert.equal(cycles.started, 1, 'no cycle ran after the first: the waiter went next');
  assert.equal(lock.mayStart('v'), false, 'held by the waiter');
  lock.release('v');
  assert.equal(lock.mayStart('v'), true);
  assert.equal(lock.size, 0);
});

test('a cycle asking in the same turn as the release (before the waiter wakes) does not start', async () => {
  const lock = new VolumeLock();
  lock.tryTake('v');
  const asked = lock.take('v');
  await tick();
  lock.release('v');
  assert.equal(lock.mayStart('v'), false, 'the waiter goes first');
  assert.equal(await asked, true);
  lock.release('v');
  assert.equal(lock.mayStart('v'), true);
});

test('take on a free volume holds it at once; tryTake on a held one is refused; other volumes are independent', async () => {
  const lock = new VolumeLock();
  assert.equal(await lock.take('a'), true);
  assert.equal(lock.tryTake('a'), false);
  assert.equal(lock.mayStart('b'), true);
  assert.equal(lock.tryTake('b'), true);
  assert.equal(lock.size, 2);
  lock.release('a');
  lock.release('b');
  assert.equal(lock.size, 0);
});

test('a waiter gives up at its timeout, leaves nothing behind, and a later release does not hand it the volume', async () => {
  const lock = new VolumeLock();
  lock.tryTake('v');
  assert.equal(await lock.take('v', 20), false);
  assert.equal(lock.isHeld('v'), true, 'still the first holder\'s');
  lock.release('v');
  await tick();
  assert.equal(lock.isHeld('v'), false, 'nobody took it');
  assert.equal(lock.mayStart('v'), true, 'no waiter left behind');
});

test('several waiters: each holds it in turn, never two at once; cycles wait until all are served', async () => {
  const lock = new VolumeLock();
  lock.tryTake('v');
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  const waiters = [0, 1, 2, 3].map(async (i) => {
    assert.equal(await lock.take('v'), true);
    inside++;
    most = Math.max(most, inside);
    order.push(i);
    await tick();
    inside--;
    lock.release('v');
  });
  assert.equal(lock.mayStart('v'), false);
  lock.release('v');
  await Promise.all(waiters);
  assert.equal(most, 1, 'never held twice');
  assert.deepEqual([...order].sort(), [0, 1, 2, 3], 'every waiter was served');
  assert.equal(lock.mayStart('v'), true);
});
