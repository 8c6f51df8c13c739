import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import type { CopyRecord } from '../../src/core/volumes/volume-records.ts';
import { inTurn, knownSmall, SMALL_PUSH_BYTES } from '../../src/runtime/volume-replicate.ts';
import type { SnapshotRecord } from '../../src/volumes/volume-store.ts';

/** A run per item that the test settles and reports progress for by hand. */
function controlled(items: string[]) {
  const started: string[] = [];
  const settle = new Map<string, () => void>();
  const progress = new Map<string, (release?: boolean) => void>();
  const run = (item: string, progressed: (release?: boolean) => void) => {
    started.push(item);
    progress.set(item, progressed);
    return new Promise<void>((resolve) => settle.set(item, resolve));
  };
  return { started, settle, progress, run, items };
}

const turns = () => new Promise<void>((r) => setImmediate(r));

describe('pushes in turn (inTurn)', () => {
  it('the next starts only when the one before settles, while that one keeps progressing', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const c = controlled(['a', 'b', 'c']);
      let finished = false;
      const all = inTurn(c.items, 100, c.run).then(() => void (finished = true));
      await turns();
      assert.deepEqual(c.started, ['a']);
      for (let i = 0; i < 10; i++) {
        mock.timers.tick(90);
        c.progress.get('a')!();
        await turns();
      }
      assert.deepEqual(c.started, ['a'], 'a push that progresses holds the next one back');
      c.settle.get('a')!();
      await turns();
      assert.deepEqual(c.started, ['a', 'b']);
      c.settle.get('b')!();
      await turns();
      assert.deepEqual(c.started, ['a', 'b', 'c']);
      assert.equal(finished, false);
      c.settle.get('c')!();
      await all;
    } finally {
      mock.timers.reset();
    }
  });

  it('a push that stalls releases the next; the whole waits for every push', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const c = controlled(['a', 'b']);
      let finished = false;
      const all = inTurn(c.items, 100, c.run).then(() => void (finished = true));
      await turns();
      c.progress.get('a')!();
      mock.timers.tick(99);
      await turns();
      assert.deepEqual(c.started, ['a']);
      mock.timers.tick(1);
      await turns();
      assert.deepEqual(c.started, ['a', 'b'], 'no progress for the stall time: the next starts');
      c.progress.get('a')!(); // a late progress of the stalled one changes nothing
      c.settle.get('b')!();
      await turns();
      assert.equal(finished, false, 'the stalled push is still awaited');
      c.settle.get('a')!();
      await all;
      assert.equal(finished, true);
    } finally {
      mock.timers.reset();
    }
  });

  it('a push that says it is small releases the next at once; the whole waits for every push', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const c = controlled(['a', 'b', 'c']);
      let finished = false;
      const all = inTurn(c.items, 100, c.run).then(() => void (finished = true));
      await turns();
      c.progress.get('a')!(false);
      await turns();
      assert.deepEqual(c.started, ['a'], 'progress without release holds the next back');
      c.progress.get('a')!(true);
      await turns();
      assert.deepEqual(c.started, ['a', 'b']);
      mock.timers.tick(50);
      c.progress.get('a')!(); // a released already: its later progress releases nothing more
      await turns();
      assert.deepEqual(c.started, ['a', 'b'], 'b holds c back until it settles, stalls or releases');
      c.settle.get('b')!();
      await turns();
      assert.deepEqual(c.started, ['a', 'b', 'c']);
      c.settle.get('c')!();
      await turns();
      assert.equal(finished, false, 'a is still awaited');
      c.settle.get('a')!();
      await all;
    } finally {
      mock.timers.reset();
    }
  });

  it('no items: done at once', async () => {
    await inTurn([], 100, async () => assert.fail('no run'));
  });
});

describe('a push known small before any offer (knownSmall)', () => {
  const snap = (seq: number, newBytes: number): SnapshotRecord => ({
    id: `00000${seq}-ab`, volume: 'v', seq, createdAt: seq, manifest: [], files: 1, sizeBytes: 2 ** 30, newBytes, pauseMs: 0, refused: [], skipped: [], epoch: 1,
  });
  const held = (s: SnapshotRecord | undefined): CopyRecord | undefined => s && { volume: 'v', node: 'p', snapshot: s.id, seq: s.seq, epoch: 1, createdAt: s.createdAt, sizeBytes: s.sizeBytes, applied: true, updatedAt: 0 };

  it('is small when the peer holds the snapshot before it and its new bytes fit', () => {
    const [a, b] = [snap(1, 2 ** 30), snap(2, 55e6)];
    assert.equal(knownSmall(b, a, held(a)), true);
    assert.equal(knownSmall(snap(2, SMALL_PUSH_BYTES), a, held(a)), true);
  });

  it('is not when the change is large, the peer holds an older one or none, or there is no snapshot before it', () => {
    const [a, b] = [snap(1, 2 ** 30), snap(2, 1)];
    assert.equal(knownSmall(snap(2, SMALL_PUSH_BYTES + 1), a, held(a)), false, 'a large change');
    assert.equal(knownSmall(snap(3, 1), b, held(a)), false, 'the peer is a snapshot behind');
    assert.equal(knownSmall(b, a, undefined), false, 'a new peer');
    assert.equal(knownSmall(a, undefined, undefined), false, 'the first snapshot');
  });
});
