import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HookQueue, hookOutcome, isHookName, type HookAction } from '../../src/core/hooks/hook-queue.ts';
import { prng } from '../helpers/prng.ts';

const starts = (actions: HookAction<number>[]) => actions.filter((a) => a.type === 'start').map((a) => (a as { job: number }).job);
const drops = (actions: HookAction<number>[]) => actions.filter((a) => a.type === 'drop').map((a) => (a as { job: number }).job);

test('hook queue: an idle hook starts at once, with its deadline; a busy one queues in order', () => {
  const q = new HookQueue<number>({ maxQueued: 4, timeoutMs: 1000 });
  assert.deepEqual(q.offer(1, 100), [{ type: 'start', job: 1, deadline: 1100 }]);
  assert.deepEqual(q.offer(2, 150), []);
  assert.deepEqual(q.offer(3, 160), []);
  assert.equal(q.running, 1);
  assert.equal(q.queued, 2);
  assert.deepEqual(q.finished(500), [{ type: 'start', job: 2, deadline: 1500 }]);
  assert.deepEqual(q.finished(600), [{ type: 'start', job: 3, deadline: 1600 }]);
  assert.deepEqual(q.finished(700), []);
  assert.equal(q.running, undefined);
  assert.deepEqual(q.finished(800), [], 'a finish with nothing running changes nothing');
});

test('hook queue: a full queue drops its oldest waiting event, never the running one', () => {
  const q = new HookQueue<number>({ maxQueued: 2, timeoutMs: 1000 });
  q.offer(1, 0);
  q.offer(2, 0);
  q.offer(3, 0);
  assert.deepEqual(q.offer(4, 0), [{ type: 'drop', job: 2 }]);
  assert.deepEqual(q.offer(5, 0), [{ type: 'drop', job: 3 }]);
  assert.equal(q.running, 1);
  assert.deepEqual(starts(q.finished(1)), [4]);
  assert.deepEqual(starts(q.finished(2)), [5]);
});

test('hook queue: with no room to wait, events that arrive during a run are dropped', () => {
  const q = new HookQueue<number>({ maxQueued: 0, timeoutMs: 1000 });
  assert.deepEqual(starts(q.offer(1, 0)), [1]);
  assert.deepEqual(q.offer(2, 0), [{ type: 'drop', job: 2 }]);
  assert.deepEqual(q.finished(1), []);
});

test('hook queue: a run is killed once at its deadline, and the next starts only when it has ended', () => {
  const q = new HookQueue<number>({ maxQueued: 4, timeoutMs: 1000 });
  q.offer(1, 0);
  q.offer(2, 10);
  assert.deepEqual(q.tick(999), []);
  assert.equal(q.timedOut, false);
  assert.deepEqual(q.tick(1000), [{ type: 'kill' }]);
  assert.equal(q.timedOut, true);
  assert.deepEqual(q.tick(5000), [], 'killed once');
  assert.equal(q.running, 1, 'still running until the driver reports the exit');
  assert.deepEqual(q.finished(5001), [{ type: 'start', job: 2, deadline: 6001 }]);
  assert.equal(q.timedOut, false, 'the new run has its own deadline');
  assert.deepEqual(q.tick(6000), []);
  assert.deepEqual(q.tick(6001), [{ type: 'kill' }]);
});

test('hook queue: limits are checked', () => {
  assert.throws(() => new HookQueue({ maxQueued: -1, timeoutMs: 1 }));
  assert.throws(() => new HookQueue({ maxQueued: 1, timeoutMs: 0 }));
});

test('hook queue: randomized schedules keep one run at a time, order, the bound, and lose no event silently', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = prng(seed);
    const maxQueued = Math.floor(rnd() * 5);
    const timeoutMs = 1 + Math.floor(rnd() * 50);
    const q = new HookQueue<number>({ maxQueued, timeoutMs });
    let now = 0;
    let next = 0;
    let running: { job: number; deadline: number; killed: boolean } | undefined;
    const started: number[] = [];
    const dropped: number[] = [];
    const ctx = `seed ${seed}`;
    const take = (actions: HookAction<number>[]) => {
      for (const a of actions) {
        if (a.type === 'start') {
          assert.equal(running, undefined, `${ctx}: a second run started while one ran`);
          assert.equal(a.deadline, now + timeoutMs, ctx);
          running = { job: a.job, deadline: a.deadline, killed: false };
          started.push(a.job);
        } else if (a.type === 'drop') {
          assert.notEqual(a.job, running?.job, `${ctx}: dropped the running job`);
          dropped.push(a.job);
        } else {
          assert.ok(running && !running.killed && now >= running.deadline, `${ctx}: kill before the deadline or twice`);
          running.killed = true;
        }
      }
    };
    for (let step = 0; step < 300; step++) {
      now += Math.floor(rnd() * 20);
      const r = rnd();
      if (r < 0.45) take(q.offer(next++, now));
      else if (r < 0.75) {
        const was = running;
        running = undefined;
        take(q.finished(now));
        if (!was) assert.equal(running, undefined, `${ctx}: a finish with nothing running started a job`);
      } else take(q.tick(now));
      if (running && now >= running.deadline && !running.killed) take(q.tick(now));
      assert.ok(q.queued <= maxQueued, `${ctx}: queue over its bound`);
      assert.equal(q.running, running?.job, ctx);
      assert.equal(q.timedOut, running?.killed ?? false, ctx);
      // every event offered so far is started, dropped, or waiting
      assert.equal(started.length + dropped.length + q.queued, next, `${ctx}: an event vanished`);
    }
    // events start in the order they arrived
    assert.deepEqual(started, [...started].sort((a, b) => a - b), `${ctx}: out of order`);
    // drops are oldest-first among the waiting: a dropped event is always older than every later start
    for (const d of dropped) assert.ok(!started.includes(d), `${ctx}: ${d} both dropped and started`);
  }
});

test('hook outcome: timeout beats everything, a start failure is an error, else the exit decides', () => {
  assert.equal(hookOutcome({ timedOut: true, exitCode: null, signal: 'SIGKILL' }), 'timeout');
  assert.equal(hookOutcome({ timedOut: true, exitCode: 0, signal: null }), 'timeout');
  assert.equal(hookOutcome({ timedOut: false, spawnError: 'EACCES', exitCode: null, signal: null }), 'error');
  assert.equal(hookOutcome({ timedOut: false, exitCode: 0, signal: null }), 'ok');
  assert.equal(hookOutcome({ timedOut: false, exitCode: 3, signal: null }), 'failed');
  assert.equal(hookOutcome({ timedOut: false, exitCode: null, signal: 'SIGSEGV' }), 'failed');
});

test('hook names: dotfiles, editor backups and package-manager leftovers are not hooks', () => {
  for (const ok of ['notify', 'on-dead.sh', '10-backup', 'a.py']) assert.equal(isHookName(ok), true, ok);
  for (const no of ['.hidden', 'notify~', 'notify.dpkg-old', 'notify.dpkg-dist', 'notify.dpkg-new', 'x.swp', 'x.disabled', 'x.bak', 'x.ucf-dist']) {
    assert.equal(isHookName(no), false, no);
  }
});
