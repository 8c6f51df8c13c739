import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detectChanges, RACY_WINDOW_NS, type ScanEntry } from '../../src/core/volumes/changes.ts';
import { chunkNeed, roomFor } from '../../src/core/volumes/chunk-need.ts';
import { chooseCopy, newer, newestSnapshot, type CopyState } from '../../src/core/volumes/copy-choice.ts';
import { bucketOf, DEFAULT_RETENTION, planRetention, type SnapshotTime } from '../../src/core/volumes/retention.ts';
import type { Entry } from '../../src/core/volumes/manifest.ts';
import { prng } from '../helpers/prng.ts';

const HOUR = 3_600_000, DAY = 24 * HOUR;

describe('change detection', () => {
  const S = 10n ** 12n; // the last scan started here; every "old" time is well before it
  const entry = (path: string, o: Partial<Entry> = {}): Entry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: 5n, ctimeNs: 5n, ino: 1n, size: 3, xattrs: [], ...o });
  const scan = (e: Entry, o: Partial<ScanEntry> = {}): ScanEntry => ({ path: e.path, type: e.type, size: e.size, mtimeNs: e.mtimeNs, ctimeNs: e.ctimeNs, ino: e.ino, ...o });

  it('marks exactly the paths whose type, size, mtime, ctime or inode moved, the new and the removed ones', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = prng(seed);
      const last = Array.from({ length: Math.floor(rand() * 30) }, (_, i) => entry(`p${i}`, { ino: BigInt(i), size: i, mtimeNs: BigInt(i * 7), ctimeNs: BigInt(i * 9) }));
      const expectChanged: string[] = [], expectRemoved: string[] = [], expectSame: string[] = [];
      const now: ScanEntry[] = [];
      for (const e of last) {
        const r = rand();
        if (r < 0.15) { expectRemoved.push(e.path); continue; }
        const s = scan(e);
        if (r < 0.25) s.size++;
        else if (r < 0.35) s.mtimeNs++;
        else if (r < 0.45) s.ctimeNs++;
        else if (r < 0.55) s.ino += 1000n;
        else if (r < 0.6) s.type = 'dir';
        else if (r < 0.65) s.mtimeNs = S - RACY_WINDOW_NS + 1n; // racily clean: was just at the last scan
        (r < 0.65 ? expectChanged : expectSame).push(e.path);
        now.push(s);
      }
      for (let i = 0; i < Math.floor(rand() * 5); i++) {
        now.push(scan(entry(`new${i}`)));
        expectChanged.push(`new${i}`);
      }
      const last2 = { entries: last, scanStartNs: S };
      const got = detectChanges(last2, now);
      assert.deepEqual(got.changed.sort(), expectChanged.sort(), `seed ${seed}`);
      assert.deepEqual(got.removed.sort(), expectRemoved.sort(), `seed ${seed}`);
      assert.deepEqual(got.unchanged.sort(), expectSame.sort(), `seed ${seed}`);
    }
  });

  it('with no last manifest, everything is changed', () => {
    const got = detectChanges(undefined, [scan(entry('a')), scan(entry('b'))]);
    assert.deepEqual(got, { changed: ['a', 'b'], removed: [], unchanged: [] });
  });
});

describe('retention', () => {
  const T0 = Date.UTC(2026, 0, 5); // a Monday

  it('keeps all of the last hour, then the newest of each of 24 hours, 7 days, 4 weeks, 12 months', () => {
    // a snapshot every 10 minutes for 400 days
    const snaps: SnapshotTime[] = [];
    for (let t = T0; t < T0 + 400 * DAY; t += 600_000) snaps.push({ id: `s${t}`, time: t });
    const now = T0 + 400 * DAY;
    const keep = planRetention(snaps, now);
    const kept = snaps.filter((s) => keep.has(s.id));
    const within = kept.filter((s) => s.time > now - HOUR);
    assert.equal(within.length, 5); // now-50 min .. now-10 min (now-60 is not within the hour)
    // hourly: the last 24 hours (the newest per hour: xx:50), days/weeks/months overlap with those
    for (let h = 1; h <= 24; h++) assert.ok(keep.get(`s${now - h * HOUR + 50 * 60_000}`)?.includes('hourly'), `hour ${h}`);
    const byKind = (k: string) => kept.filter((s) => keep.get(s.id)!.includes(k)).length;
    assert.deepEqual([byKind('hourly'), byKind('daily'), byKind('weekly'), byKind('monthly')], [24, 7, 4, 12]);
    // what is kept beyond a day is the newest snapshot of its day/week/month
    for (const s of kept) {
      const reasons = keep.get(s.id)!;
      for (const k of ['daily', 'weekly', 'monthly'] as const) {
        if (!reasons.includes(k)) continue;
        assert.ok(!snaps.some((o) => o.time > s.time && bucketOf(k, o.time) === bucketOf(k, s.time)), `${s.id} ${k}`);
      }
    }
    assert.ok(kept.length <= 5 + 24 + 7 + 4 + 12);
  });

  it('random histories: newest, pinned and recent ones always kept; bounded; stable when run again', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = prng(seed);
      const snaps: SnapshotTime[] = [];
      let t = T0;
      for (let i = 0; i < Math.floor(rand() * 300); i++) {
        t += Math.floor(rand() ** 3 * 10 * DAY);
        snaps.push({ id: `s${i}`, time: t, pinned: rand() < 0.03 });
      }
      const now = t + Math.floor(rand() * 3 * HOUR);
      const policy = { ...DEFAULT_RETENTION, hourly: Math.floor(rand() * 30), daily: Math.floor(rand() * 10) };
      const keep = planRetention([...snaps].sort(() => rand() - 0.5), now, policy);
      if (snaps.length) assert.ok(keep.has(snaps.at(-1)!.id), `seed ${seed}: newest`);
      for (const s of snaps) {
        if (s.pinned || s.time > now - HOUR) assert.ok(keep.has(s.id), `seed ${seed}: ${s.id}`);
      }
      const extra = snaps.filter((s) => s.pinned || s.time > now - HOUR).length;
      assert.ok(keep.size <= extra + 1 + policy.hourly + policy.daily + policy.weekly + policy.monthly, `seed ${seed}`);
      // deleting what is not kept and planning again at the same time keeps the same set
      const again = planRetention(snaps.filter((s) => keep.has(s.id)), now, policy);
      assert.deepEqual([...again.keys()].sort(), [...keep.keys()].sort(), `seed ${seed}`);
    }
  });

  it('weeks run Monday to Sunday (UTC)', () => {
    assert.equal(bucketOf('weekly', T0), bucketOf('weekly', T0 + 6 * DAY + DAY - 1));
    assert.notEqual(bucketOf('weekly', T0), bucketOf('weekly', T0 - 1));
  });
});

describe('chunk need', () => {
  it('lists each missing chunk once, in first-use order, and nothing twice after a resumed ask', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rand = prng(seed);
      const refs = Array.from({ length: Math.floor(rand() * 200) }, () => {
        const k = Math.floor(rand() * 60);
        return { hash: k.toString(16).padStart(64, '0'), size: 100 + k };
      });
      const have = new Set(refs.filter(() => rand() < 0.4).map((r) => r.hash));
      const need = chunkNeed(refs, (h) => have.has(h));
      const distinct = [...new Map(refs.map((r) => [r.hash, r])).values()];
      assert.deepEqual(need.missing, distinct.filter((r) => !have.has(r.hash)), `seed ${seed}`);
      assert.equal(need.missingBytes, need.missing.reduce((s, r) => s + r.size, 0));
      assert.deepEqual(chunkNeed(distinct, (h) => have.has(h)), need, 'the refs without their repeats: the same answer');
      // a transfer cut part way: the receiver got a prefix; asking again gives exactly the rest
      const got = Math.floor(rand() * (need.missing.length + 1));
      for (const r of need.missing.slice(0, got)) have.add(r.hash);
      assert.deepEqual(chunkNeed(refs, (h) => have.has(h)).missing, need.missing.slice(got), `seed ${seed}`);
    }
  });

  it('refuses a transfer that would eat into the reserve, with the figures', () => {
    assert.deepEqual(roomFor(10, 100, 90), { ok: true });
    const r = roomFor(11 * 2 ** 20, 100 * 2 ** 20, 90 * 2 ** 20);
    assert.ok(!r.ok && r.reason === 'not enough disk space: needs 11 MiB and keeps 90 MiB free, has 100 MiB free');
  });
});

describe('copy choice', () => {
  const copy = (node: string, epoch: number, seq: number, o: Partial<CopyState> = {}): CopyState => ({ node, alive: true, epoch, seq, complete: true, ...o });

  it('uses the live node with the newest complete copy; an older epoch never wins', () => {
    assert.deepEqual(chooseCopy([copy('a', 1, 90), copy('b', 2, 3)], 2), { kind: 'use', node: 'b', epoch: 2, seq: 3, behind: false });
    assert.deepEqual(chooseCopy([copy('a', 2, 4, { complete: false }), copy('b', 2, 3)], 2), { kind: 'use', node: 'b', epoch: 2, seq: 3, behind: false });
    // a copy claiming an epoch etcd never gave is not trusted
    assert.equal((chooseCopy([copy('a', 3, 1), copy('b', 2, 3)], 2) as { node: string }).node, 'b');
    assert.deepEqual(chooseCopy([copy('a', 2, 5, { alive: false }), copy('b', 2, 3)], 2), { kind: 'use', node: 'b', epoch: 2, seq: 3, behind: true });
    assert.deepEqual(chooseCopy([copy('a', 2, 5, { alive: false }), copy('b', 2, 3)], 2, { waitForNewest: true }), { kind: 'wait', reason: 'the newest copy is on a, down' });
    assert.deepEqual(chooseCopy([copy('a', 2, 5, { alive: false })], 2), { kind: 'wait', reason: 'no live node holds a copy (newest on a, down)' });
    assert.deepEqual(chooseCopy([], 2), { kind: 'wait', reason: 'no copy of this volume' });
  });

  it('random sets: the choice is live, complete, newest among those, and independent of order', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const rand = prng(seed);
      const epoch = 1 + Math.floor(rand() * 4);
      const copies = Array.from({ length: Math.floor(rand() * 6) }, (_, i) => copy(`n${i}`, 1 + Math.floor(rand() * 5), Math.floor(rand() * 5), { alive: rand() < 0.7, complete: rand() < 0.8 }));
      const prefer = rand() < 0.5 ? `n${Math.floor(rand() * 6)}` : undefined;
      const got = chooseCopy(copies, epoch, { prefer });
      assert.deepEqual(chooseCopy([...copies].reverse(), epoch, { prefer }), got, `seed ${seed}: order`);
      const usable = copies.filter((c) => c.alive && c.complete && c.epoch <= epoch);
      if (got.kind === 'wait') { assert.equal(usable.length, 0, `seed ${seed}`); continue; }
      const chosen = usable.find((c) => c.node === got.node)!;
      assert.ok(chosen, `seed ${seed}`);
      assert.ok(!usable.some((c) => newer(c, chosen)), `seed ${seed}: a newer live copy exists`);
      if (prefer && usable.some((c) => c.node === prefer && !newer(chosen, c))) assert.equal(got.node, prefer, `seed ${seed}: prefer`);
    }
  });
});

it('newestSnapshot: the later epoch wins whatever its seq, then the higher seq; no epoch is epoch 0; none: undefined', () => {
  assert.equal(newestSnapshot([]), undefined);
  const list = [{ id: 'a', epoch: 1, seq: 9 }, { id: 'b', epoch: 2, seq: 1 }, { id: 'c', seq: 50 }, { id: 'd', epoch: 2, seq: 3 }];
  assert.equal(newestSnapshot(list)?.id, 'd');
  assert.equal(newestSnapshot(list.slice(0, 1).concat(list[2]!))?.id, 'a');
  assert.equal(newestSnapshot([{ id: 'x', seq: 1 }, { id: 'y', epoch: 0, seq: 2 }])?.id, 'y');
});
