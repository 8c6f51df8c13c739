/** A volume's own snapshot interval and retention (issue 13): validation, merge with defaults, due volumes, the CLI's flags. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RETENTION } from '../../src/core/volumes/retention.ts';
import { checkPolicy, dueVolumes, durationText, effectivePolicy, parseDurationText, RETENTION_FIELDS, setFields, tickMs, type ScheduledVolume } from '../../src/core/volumes/volume-policy.ts';
import { changesPolicy, policyFromFlags } from '../../src/core/volumes/policy-edit.ts';
import { SnapshotSchedule } from '../../src/runtime/volume-schedule.ts';
import { AGENT_RETENTION, retainSnapshots } from '../../src/runtime/volume-upkeep.ts';
import type { Catalog } from '../../src/runtime/catalog.ts';
import type { VolumeStore } from '../../src/volumes/volume-store.ts';
import { prng } from '../helpers/prng.ts';

const DEFAULTS = { intervalMs: 2000, retention: AGENT_RETENTION };
const ALL_DEFAULT = ['intervalMs', ...RETENTION_FIELDS.map((k) => `retention.${k}`)];

test('checkPolicy: accepts what a person may set, and {} or {reset: true} as every default', () => {
  assert.deepEqual(checkPolicy({ intervalMs: 30_000, retention: { daily: 14, keepAllWithinMs: 0 } }), { ok: true, record: { intervalMs: 30_000, retention: { daily: 14, keepAllWithinMs: 0 } } });
  assert.deepEqual(checkPolicy({}), { ok: true, record: {} });
  assert.deepEqual(checkPolicy({ reset: true }), { ok: true, record: {} });
  assert.deepEqual(checkPolicy({ retention: {} }), { ok: true, record: {} });
  assert.deepEqual(checkPolicy({ intervalMs: 1000 }), { ok: true, record: { intervalMs: 1000 } });
  assert.deepEqual(checkPolicy({ intervalMs: 86_400_000 }), { ok: true, record: { intervalMs: 86_400_000 } });
});

test('checkPolicy: a bad field is refused with a message that names it', () => {
  const bad: [unknown, string, RegExp][] = [
    [null, '', /JSON object/],
    [[1], '', /JSON object/],
    [{ interval: 5 }, 'interval', /unknown field "interval"/],
    [{ intervalMs: 999 }, 'intervalMs', /^intervalMs must be .* from 1000 \(1s\) to 86400000 \(24h\) \(got 999\)$/],
    [{ intervalMs: 86_400_001 }, 'intervalMs', /^intervalMs .*got 86400001/],
    [{ intervalMs: 1500.5 }, 'intervalMs', /^intervalMs .*got 1500.5/],
    [{ intervalMs: '30s' }, 'intervalMs', /^intervalMs .*got "30s"/],
    [{ retention: 5 }, 'retention', /^retention must be an object/],
    [{ retention: { yearly: 1 } }, 'retention.yearly', /unknown field "retention.yearly"/],
    [{ retention: { hourly: -1 } }, 'retention.hourly', /^retention.hourly must be a whole number from 0 to 10000 \(got -1\)$/],
    [{ retention: { daily: 1e6 } }, 'retention.daily', /^retention.daily /],
    [{ retention: { keepAllWithinMs: 'x' } }, 'retention.keepAllWithinMs', /^retention.keepAllWithinMs must be a whole number of milliseconds/],
    [{ reset: false }, 'reset', /reset must be true/],
    [{ reset: true, intervalMs: 5000 }, 'reset', /alone/],
  ];
  for (const [body, field, message] of bad) {
    const r = checkPolicy(body);
    assert.equal(r.ok, false, JSON.stringify(body));
    if (r.ok) continue;
    assert.equal(r.field, field, JSON.stringify(body));
    assert.match(r.message, message);
  }
});

test('effectivePolicy: no record is every default; set fields win, the others are listed as defaults', () => {
  assert.deepEqual(effectivePolicy(undefined, DEFAULTS), { intervalMs: 2000, retention: AGENT_RETENTION, defaults: ALL_DEFAULT });
  const p = effectivePolicy({ intervalMs: 60_000, retention: { daily: 30, keepAllWithinMs: 0 } }, DEFAULTS);
  assert.deepEqual(p, { intervalMs: 60_000, retention: { ...AGENT_RETENTION, daily: 30, keepAllWithinMs: 0 }, defaults: ['retention.hourly', 'retention.weekly', 'retention.monthly'] });
  // a record written by hand into etcd: each bad field is a default, the good ones count
  const hand = effectivePolicy({ intervalMs: 5, retention: { hourly: -3, weekly: 2, bogus: 1 } }, DEFAULTS);
  assert.deepEqual(hand, { intervalMs: 2000, retention: { ...AGENT_RETENTION, weekly: 2 }, defaults: ALL_DEFAULT.filter((f) => f !== 'retention.weekly') });
  assert.deepEqual(effectivePolicy('junk', DEFAULTS).defaults, ALL_DEFAULT);
});

test('effectivePolicy, randomized: its set fields are exactly the record, and they give the same policy back', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rand = prng(seed);
    const record: Record<string, unknown> = {};
    if (rand() < 0.5) record.intervalMs = 1000 + Math.floor(rand() * 86_399_000);
    const retention: Record<string, number> = {};
    for (const k of RETENTION_FIELDS) if (rand() < 0.4) retention[k] = Math.floor(rand() * (k === 'keepAllWithinMs' ? 1e9 : 100));
    if (Object.keys(retention).length) record.retention = retention;
    assert.equal(checkPolicy(record).ok, true);
    const p = effectivePolicy(record, DEFAULTS);
    assert.deepEqual(setFields(p), record, `seed ${seed}`);
    assert.deepEqual(effectivePolicy(setFields(p), DEFAULTS), p, `seed ${seed}`);
    for (const k of RETENTION_FIELDS) assert.equal(p.retention[k], retention[k] ?? AGENT_RETENTION[k]);
    assert.equal(p.intervalMs, record.intervalMs ?? DEFAULTS.intervalMs);
  }
});

test('tickMs: the agent interval unless a volume in use has a shorter one', () => {
  assert.equal(tickMs(2000, []), 2000);
  assert.equal(tickMs(2000, [{ name: 'a', intervalMs: 2000 }, { name: 'b', intervalMs: 60_000 }]), 2000);
  assert.equal(tickMs(2000, [{ name: 'a', intervalMs: 1000 }, { name: 'b', intervalMs: 60_000 }]), 1000);
  assert.equal(tickMs(300, [{ name: 'a', intervalMs: 1000 }]), 300);
});

test('dueVolumes: never cycled is due at once; then once its interval (less half a tick) has passed', () => {
  const v = (name: string, intervalMs: number, lastAt?: number): ScheduledVolume => ({ name, intervalMs, lastAt });
  assert.deepEqual(dueVolumes([v('a', 60_000), v('b', 60_000, 10_000)], 10_500, 2000), ['a']);
  assert.deepEqual(dueVolumes([v('b', 60_000, 10_000)], 69_000, 2000), ['b']); // 59 s: within half a tick
  assert.deepEqual(dueVolumes([v('b', 60_000, 10_000)], 68_999, 2000), []);
  // with every volume on the agent's interval, every tick finds every volume due
  assert.deepEqual(dueVolumes([v('a', 2000, 0), v('b', 2000, 100)], 1100, 2000), ['a', 'b']);
});

/** Runs a timer of period `tick` (each firing up to `jitter` late) for `untilMs`; the cycle starts of each volume. */
function simulate(rand: () => number, defaultMs: number, intervals: Record<string, number>, untilMs: number, jitter: number): Map<string, number[]> {
  const starts = new Map<string, number[]>(Object.keys(intervals).map((n) => [n, []]));
  const last = new Map<string, number>();
  const vols = () => Object.entries(intervals).map(([name, intervalMs]) => ({ name, intervalMs, lastAt: last.get(name) }));
  const tick = tickMs(defaultMs, vols());
  for (let k = 1; k * tick < untilMs; k++) {
    const now = k * tick + rand() * jitter;
    for (const name of dueVolumes(vols(), now, tick)) {
      last.set(name, now);
      starts.get(name)!.push(now);
    }
  }
  return starts;
}

test('due volumes, randomized timers: the agent interval alone snapshots every volume at every tick; each volume keeps its own interval', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = prng(seed);
    const defaultMs = 200 + Math.floor(rand() * 5000);
    // every volume on the default: each is snapshotted at every tick, as before policies
    const plain = simulate(rand, defaultMs, { a: defaultMs, b: defaultMs }, defaultMs * 50, defaultMs * 0.4);
    for (const [, s] of plain) assert.equal(s.length, 49, `seed ${seed}`);
    // a mix: each volume's cycles are its interval apart, give or take a tick
    const intervals: Record<string, number> = { plain: defaultMs };
    for (let i = 0; i < 3; i++) intervals[`v${i}`] = 1000 + Math.floor(rand() * 20_000);
    const tick = tickMs(defaultMs, Object.entries(intervals).map(([name, intervalMs]) => ({ name, intervalMs })));
    const jitter = tick * 0.4;
    const starts = simulate(rand, defaultMs, intervals, 200_000, jitter);
    for (const [name, s] of starts) {
      const every = intervals[name]!;
      for (let i = 1; i < s.length; i++) {
        const gap = s[i]! - s[i - 1]!;
        assert.ok(gap >= every - tick / 2 && gap <= every + tick + jitter, `seed ${seed}: ${name} every ${every} ms (tick ${tick}): a gap of ${gap}`);
      }
      assert.ok(s.length >= Math.floor(200_000 / (every + tick + jitter)) - 1, `seed ${seed}: ${name} cycled ${s.length} times`);
    }
  }
});

test('SnapshotSchedule: its timer follows the shortest interval in use, back to the agent interval when that is gone', () => {
  const schedule = new SnapshotSchedule(2000, () => undefined);
  try {
    schedule.start();
    assert.equal(schedule.periodMs, 2000);
    assert.deepEqual(schedule.due([{ name: 'a', intervalMs: 2000 }, { name: 'b', intervalMs: 60_000 }], 0, () => false), ['a', 'b']);
    assert.equal(schedule.periodMs, 2000);
    assert.deepEqual(schedule.due([{ name: 'a', intervalMs: 2000 }, { name: 'b', intervalMs: 60_000 }], 2000, () => false), ['a']);
    // a busy volume is not due (its cycle is not counted as begun): it is due at the next tick
    assert.deepEqual(schedule.due([{ name: 'a', intervalMs: 1000 }, { name: 'b', intervalMs: 60_000 }], 3000, (n) => n === 'a'), []);
    assert.equal(schedule.periodMs, 1000);
    assert.deepEqual(schedule.due([{ name: 'a', intervalMs: 1000 }, { name: 'b', intervalMs: 60_000 }], 3100, () => false), ['a']);
    assert.deepEqual(schedule.due([{ name: 'b', intervalMs: 60_000 }], 61_000, () => false), ['b']);
    assert.equal(schedule.periodMs, 2000);
    // a volume it forgot (no longer owned) starts again at once when it comes back
    assert.deepEqual(schedule.due([{ name: 'a', intervalMs: 1000 }], 61_500, () => false), ['a']);
  } finally {
    schedule.stop();
  }
});

test('durations: parsed as people type them; durationText gives them back', () => {
  assert.equal(parseDurationText('30s'), 30_000);
  assert.equal(parseDurationText('1h30m'), 5_400_000);
  assert.equal(parseDurationText('500ms'), 500);
  assert.equal(parseDurationText('7d'), 7 * 86_400_000);
  assert.equal(parseDurationText('2w'), 14 * 86_400_000);
  assert.equal(parseDurationText('0'), 0);
  for (const bad of ['', '30', 's', '1.5h', '-1s', '1y', '10 m']) assert.equal(parseDurationText(bad), undefined, bad);
  assert.equal(durationText(600_000), '10m');
  assert.equal(durationText(1500), '1s500ms');
  const rand = prng(7);
  for (let i = 0; i < 500; i++) {
    const ms = Math.floor(rand() * 10 * 365 * 86_400_000);
    assert.equal(parseDurationText(durationText(ms)), ms);
  }
});

test('CLI flags: merged over the set fields, "default" unsets one, --reset alone; errors name the flag', () => {
  const current = { intervalMs: 30_000, retention: { daily: 14 } };
  assert.equal(changesPolicy({}), false);
  assert.equal(changesPolicy({ daily: '3' }), true);
  assert.deepEqual(policyFromFlags(current, { hourly: '48', keepWithin: '1h' }), { intervalMs: 30_000, retention: { daily: 14, hourly: 48, keepAllWithinMs: 3_600_000 } });
  assert.deepEqual(policyFromFlags(current, { interval: 'default', daily: 'default' }), {});
  assert.deepEqual(policyFromFlags({}, { interval: '1m', keepWithin: '0' }), { intervalMs: 60_000, retention: { keepAllWithinMs: 0 } });
  assert.deepEqual(policyFromFlags(current, { reset: true }), {});
  assert.throws(() => policyFromFlags(current, { reset: true, daily: '2' }), /--reset goes back to every default/);
  assert.throws(() => policyFromFlags({}, { interval: '500ms' }), /^UserError: --interval must be a duration from 1s to 24h.*got "500ms"/);
  assert.throws(() => policyFromFlags({}, { interval: '25h' }), /--interval/);
  assert.throws(() => policyFromFlags({}, { keepWithin: 'soon' }), /--keep-within must be a duration/);
  assert.throws(() => policyFromFlags({}, { weekly: '-1' }), /--weekly must be a whole number >= 0/);
  // what the flags make is what the API accepts
  assert.equal(checkPolicy(policyFromFlags(current, { hourly: '48', keepWithin: '1h', interval: '24h' })).ok, true);
});

test('retention runs each volume on its own policy: a volume set to keep nothing extra keeps its newest; one on the defaults keeps its last 10 minutes', async () => {
  const now = Date.now();
  const snaps = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}`, seq: i, epoch: 1, createdAt: now - (n - i) * 30_000 }));
  const lists: Record<string, ReturnType<typeof snaps>> = { lean_data: snaps(10), plain_data: snaps(10) };
  const deleted: Record<string, string[]> = {};
  const store = {
    volumes: () => Object.keys(lists),
    list: (name: string) => lists[name]!,
    deleteMany: async (name: string, ids: string[]) => void (deleted[name] = ids),
  } as unknown as VolumeStore;
  const catalog = { maps: {
    volumeMeta: new Map(), volumeCopies: new Map(),
    volumePolicies: new Map([['lean_data', { value: { retention: { keepAllWithinMs: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0 } }, modRevision: '1' }]]),
  } } as unknown as Catalog;
  await retainSnapshots(store, catalog, 'self');
  assert.deepEqual(deleted.lean_data, lists.lean_data!.slice(0, 9).map((s) => s.id));
  assert.equal(deleted.plain_data, undefined, 'the default keeps every snapshot of the last 10 minutes');
  assert.equal(DEFAULT_RETENTION.hourly, AGENT_RETENTION.hourly);
});
