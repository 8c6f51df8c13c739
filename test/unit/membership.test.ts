import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { prng } from '../helpers/prng.ts';
import {
  DEFAULT_DETECTOR_CONFIG,
  Membership,
  STALL_FLOOR_MS,
  STALL_MEMORY_MS,
  type DetectorConfig,
  type MemberState,
  type Output,
  type ProbeMode,
} from '../../src/core/membership.ts';

const D = DEFAULT_DETECTOR_CONFIG;
type Info = { name: string };

function mk(opts: { incarnation?: number; config?: Partial<DetectorConfig>; selfId?: string } = {}) {
  return new Membership<Info>({ selfId: opts.selfId ?? 'self', incarnation: opts.incarnation ?? 1, config: opts.config });
}

const stateOuts = (outs: Output[]) => outs.filter((o) => o.type === 'state');

// ------------------------------------------------------------------ a tiny discrete-event driver

type Answer = { ok: boolean; after: number; helper?: string } | null;
interface Scenario {
  m: Membership<Info>;
  end: number;
  tickEvery: number;
  tickPhase?: number;
  beats: Array<{ id: string; t: number; incarnation?: number }>;
  /** How the network answers a probe output (null = never answers: timeout). */
  answer?: (target: string, mode: ProbeMode, t: number, via: string[]) => Answer | Answer[];
}
interface Logged {
  t: number;
  out: Output;
}
interface Ev {
  t: number;
  prio: number; // at equal times: heartbeats, then probe results, then the tick
  seq: number;
  run: () => Output[];
}
const evBefore = (a: Ev, b: Ev) => a.t - b.t || a.prio - b.prio || a.seq - b.seq;

function simulate(s: Scenario): Logged[] {
  let seq = 0;
  const fixed: Ev[] = [];
  for (const b of s.beats) {
    fixed.push({ t: b.t, prio: 0, seq: seq++, run: () => s.m.heartbeat(b.id, { incarnation: b.incarnation ?? 1, now: b.t }) });
  }
  for (let t = s.tickPhase ?? 0; t <= s.end; t += s.tickEvery) {
    const now = t;
    fixed.push({ t: now, prio: 2, seq: seq++, run: () => s.m.tick(now) });
  }
  fixed.sort(evBefore);
  const dynamic: Ev[] = [];
  const log: Logged[] = [];
  let fi = 0;
  for (;;) {
    const f = fixed[fi];
    const d = dynamic[0];
    let ev: Ev;
    if (f && (!d || evBefore(f, d) <= 0)) {
      ev = f;
      fi++;
    } else if (d) {
      ev = dynamic.shift()!;
    } else break;
    for (const o of ev.run()) {
      log.push({ t: ev.t, out: o });
      if (o.type !== 'probe' || !s.answer) continue;
      const answers = [s.answer(o.target, o.mode, ev.t, o.mode === 'indirect' ? o.via : [])].flat();
      for (const a of answers) {
        if (!a) continue;
        const at = ev.t + a.after;
        const mode = o.mode;
        const target = o.target;
        dynamic.push({
          t: at,
          prio: 1,
          seq: seq++,
          run: () => s.m.probeResult(target, { ok: a.ok, via: mode, now: at, helper: a.helper }),
        });
        dynamic.sort(evBefore);
      }
    }
  }
  return log;
}

function beats(id: string, from: number, to: number, every = 250, incarnation = 1) {
  const out: Array<{ id: string; t: number; incarnation: number }> = [];
  for (let t = from; t <= to; t += every) out.push({ id, t, incarnation });
  return out;
}

const about = (id: string) => (l: Logged) =>
  (l.out.type === 'state' && l.out.id === id) ||
  (l.out.type === 'probe' && l.out.target === id) ||
  (l.out.type === 'broadcast' && l.out.about === id);

type FailMode = 'timeout' | 'fail-fast' | 'per-helper';
const failing =
  (mode: FailMode, victims: ReadonlySet<string>) =>
  (target: string, probe: ProbeMode, _t: number, via: string[]): Answer | Answer[] => {
    if (!victims.has(target)) return { ok: true, after: 2 };
    if (mode === 'timeout') return null;
    if (probe === 'direct' || mode === 'fail-fast') return { ok: false, after: 5 };
    return via.map((h, i) => ({ ok: false, after: 3 + i, helper: h }));
  };

/** Bring `ids` to alive at `incarnation` via first heartbeats at time `now`. */
function join(m: Membership<Info>, ids: string[], now = 0, incarnation = 1) {
  for (const id of ids) m.heartbeat(id, { incarnation, now, info: { name: id } });
}

/** Run ticks (every `step`) from `from` to `to` while `beating` ids heartbeat every 250 ms. */
function runFor(
  m: Membership<Info>,
  from: number,
  to: number,
  opts: { step?: number; beating?: string[]; inc?: Record<string, number> } = {},
): Logged[] {
  const log: Logged[] = [];
  const step = opts.step ?? 10;
  for (let t = from; t <= to; t += step) {
    if ((t - from) % 250 === 0) {
      for (const id of opts.beating ?? []) m.heartbeat(id, { incarnation: opts.inc?.[id] ?? 1, now: t });
    }
    for (const o of m.tick(t)) log.push({ t, out: o });
  }
  return log;
}

/** A time at which the heartbeats of time 0 are no longer fresh evidence. */
const STALE = D.suspectAfterMs + 10;

/** Put `x` into a given state at incarnation 5 (time 0), with helpers a, b, c alive. */
function withState(state: MemberState | 'suspect-local'): Membership<Info> {
  const m = mk();
  join(m, ['a', 'b', 'c']);
  m.heartbeat('x', { incarnation: 5, now: 0 });
  if (state === 'suspect') m.rumor('x', { state: 'suspect', incarnation: 5, from: 'z', now: 0 });
  // (once our own evidence is stale: a fresh heartbeat turns a dead verdict into a suspicion)
  if (state === 'dead') m.rumor('x', { state: 'dead', incarnation: 5, from: 'z', now: STALE });
  if (state === 'left') m.leave('x', { incarnation: 5, now: 0 });
  if (state === 'suspect-local') {
    // silence + failed probe round (aggregate indirect failure)
    runFor(m, 0, 1000, { beating: ['a', 'b', 'c'] });
    m.probeResult('x', { ok: false, via: 'direct', now: 1001 });
    m.probeResult('x', { ok: false, via: 'indirect', now: 1002 });
    assert.equal(m.get('x')?.suspicion, 'local');
  }
  return m;
}

// --------------------------------------------------------------------------------------- tests

describe('membership: configuration', () => {
  it('defaults meet the 2 s kill / 1.5 s pause constraints', () => {
    assert.deepEqual({ ...D }, {
      heartbeatIntervalMs: 250,
      suspectAfterMs: 1000,
      probeTimeoutMs: 250,
      indirectProbes: 3,
      deadAfterMs: 1850,
      minSuspectMs: 200,
      maxTickGapMs: 5000,
      scaleFromMembers: 8,
      maxScale: 4,
    });
    // worst receiver-side gap of a 1.5 s SIGSTOP (stop just before a heartbeat was due) + latency
    assert.ok(1500 + D.heartbeatIntervalMs + 50 < D.deadAfterMs, '1.5 s stop + heartbeat interval + latency must stay below deadAfterMs');
    // with a 100 ms tick: dead at most deadAfterMs + tick after the last heartbeat
    assert.ok(D.deadAfterMs + 100 <= 2000, 'deadAfterMs + a 100 ms tick must fit in 2 s');
    // a round (direct + indirect) fails, plus tick lag, plus minSuspect, all within 2 s
    assert.ok(D.suspectAfterMs + 2 * D.probeTimeoutMs + 3 * 100 + D.minSuspectMs <= 2000, 'a failed round + tick lag + minSuspect must fit in 2 s');
    assert.ok(Object.isFrozen(D), 'defaults are frozen');
  });

  it('merges partial config and rejects invalid config and options', () => {
    const m = mk({ config: { indirectProbes: 1 } });
    assert.equal(m.config.indirectProbes, 1);
    assert.equal(m.config.deadAfterMs, D.deadAfterMs);
    assert.throws(() => mk({ config: { probeTimeoutMs: 0 } }), RangeError);
    assert.throws(() => mk({ config: { deadAfterMs: Number.NaN } }), RangeError);
    assert.throws(() => mk({ config: { indirectProbes: 1.5 } }), RangeError);
    assert.throws(() => mk({ config: { minSuspectMs: -1 } }), RangeError);
    assert.throws(() => mk({ config: { deadAfterMs: 900 } }), RangeError);
    assert.throws(() => mk({ config: { heartbeatIntervalMs: 2000 } }), RangeError);
    assert.throws(() => mk({ config: { scaleFromMembers: -1 } }), RangeError);
    assert.throws(() => mk({ config: { scaleFromMembers: 2.5 } }), RangeError);
    assert.throws(() => mk({ config: { maxScale: 0.5 } }), RangeError);
    assert.throws(() => mk({ incarnation: -1 }), RangeError);
    assert.throws(() => mk({ incarnation: 1.5 }), RangeError);
    assert.throws(() => mk({ selfId: '' }), TypeError);
    assert.equal(mk({ incarnation: 1_700_000_000_000 }).self.incarnation, 1_700_000_000_000);
    assert.equal(new Membership({ selfId: 's' }).self.incarnation, 0);
  });

  it('throws on a non-finite now and ignores malformed network data', () => {
    const m = mk();
    assert.throws(() => m.tick(Number.NaN), RangeError);
    assert.throws(() => m.heartbeat('x', { incarnation: 1, now: Infinity }), RangeError);
    assert.deepEqual(m.heartbeat('x', { incarnation: -1, now: 0 }), []);
    assert.deepEqual(m.heartbeat('x', { incarnation: 0.5, now: 0 }), []);
    assert.deepEqual(m.heartbeat('', { incarnation: 1, now: 0 }), []);
    join(m, ['x']);
    assert.deepEqual(m.rumor('x', { state: 'zombie' as MemberState, incarnation: 9, from: 'a', now: 0 }), []);
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: -3, from: 'a', now: 0 }), []);
    assert.deepEqual(m.leave('x', { incarnation: Number.NaN, now: 0 }), []);
    assert.equal(m.get('x')?.state, 'alive');
  });
});

describe('membership: joining and steady state', () => {
  it('first sighting -> alive (from unknown), with info; self is not listed', () => {
    const m = mk();
    const outs = m.heartbeat('x', { incarnation: 3, now: 100, info: { name: 'box' } });
    assert.deepEqual(outs, [{ type: 'state', id: 'x', from: 'unknown', to: 'alive', incarnation: 3 }]);
    assert.deepEqual(m.get('x'), {
      id: 'x',
      state: 'alive',
      incarnation: 3,
      lastHeardAt: 100,
      stateSince: 100,
      suspicion: null,
      info: { name: 'box' },
    });
    assert.equal(m.get('self'), undefined);
    assert.equal(m.get('nobody'), undefined);
    assert.deepEqual(m.self, { id: 'self', incarnation: 1 });
    assert.deepEqual(
      m.list().map((x) => x.id),
      ['x'],
    );
  });

  it('list() is sorted by id and returns snapshots', () => {
    const m = mk();
    join(m, ['c', 'a', 'b']);
    const l = m.list();
    assert.deepEqual(
      l.map((x) => x.id),
      ['a', 'b', 'c'],
    );
    l[0]!.state = 'dead';
    assert.equal(m.get('a')?.state, 'alive');
  });

  it('a repeated heartbeat emits nothing; info is updated, or kept when omitted', () => {
    const m = mk();
    m.heartbeat('x', { incarnation: 1, now: 0, info: { name: 'one' } });
    assert.deepEqual(m.heartbeat('x', { incarnation: 1, now: 250, info: { name: 'two' } }), []);
    assert.equal(m.get('x')?.info?.name, 'two');
    assert.deepEqual(m.heartbeat('x', { incarnation: 1, now: 500 }), []);
    assert.equal(m.get('x')?.info?.name, 'two');
    assert.equal(m.get('x')?.lastHeardAt, 500);
    // a higher incarnation while alive (a quick restart) is adopted silently
    assert.deepEqual(m.heartbeat('x', { incarnation: 2, now: 750 }), []);
    assert.equal(m.get('x')?.incarnation, 2);
  });

  it('steady heartbeats stay alive with no probes at all (60 s, several tick rates)', () => {
    for (const step of [10, 50, 100, 250]) {
      const m = mk();
      const log = simulate({
        m,
        end: 60_000,
        tickEvery: step,
        beats: [...beats('a', 0, 60_000), ...beats('b', 0, 60_000, 900), ...beats('c', 0, 60_000, 990)],
      });
      assert.deepEqual(
        log.map((l) => l.out),
        ['a', 'b', 'c'].map((id) => ({ type: 'state', id, from: 'unknown', to: 'alive', incarnation: 1 })),
        `step ${step}`,
      );
    }
  });

  it('ignores heartbeats, leaves and rumors originated by the local node', () => {
    const m = mk();
    assert.deepEqual(m.heartbeat('self', { incarnation: 99, now: 0 }), []);
    assert.deepEqual(m.leave('self', { incarnation: 99, now: 0 }), []);
    join(m, ['x']);
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 1, from: 'self', now: 0 }), []);
    assert.equal(m.get('x')?.state, 'alive');
    assert.equal(m.get('self'), undefined);
    assert.equal(m.self.incarnation, 1);
  });
});

describe('membership: failure detection timeline', () => {
  it('silence -> direct probe -> indirect probe -> suspect -> dead, exactly (10 ms ticks, timeouts)', () => {
    const m = mk();
    const log = simulate({
      m,
      end: 5000,
      tickEvery: 10,
      beats: [...beats('a', 0, 5000), ...beats('b', 0, 5000), ...beats('c', 0, 5000), ...beats('x', 0, 1000)],
    });
    assert.deepEqual(log.filter(about('x')), [
      { t: 0, out: { type: 'state', id: 'x', from: 'unknown', to: 'alive', incarnation: 1 } },
      { t: 2000, out: { type: 'probe', target: 'x', mode: 'direct' } },
      { t: 2250, out: { type: 'probe', target: 'x', mode: 'indirect', via: ['a', 'b', 'c'] } },
      { t: 2500, out: { type: 'state', id: 'x', from: 'alive', to: 'suspect', incarnation: 1 } },
      { t: 2500, out: { type: 'broadcast', about: 'x', state: 'suspect', incarnation: 1 } },
      { t: 2500, out: { type: 'probe', target: 'x', mode: 'direct' } },
      { t: 2750, out: { type: 'probe', target: 'x', mode: 'indirect', via: ['a', 'b', 'c'] } },
      { t: 2850, out: { type: 'state', id: 'x', from: 'suspect', to: 'dead', incarnation: 1 } },
      { t: 2850, out: { type: 'broadcast', about: 'x', state: 'dead', incarnation: 1 } },
    ]);
    assert.equal(log.filter((l) => !about('x')(l)).length, 3); // only the three joins
    assert.equal(m.get('x')?.state, 'dead');
    assert.equal(m.get('x')?.lastHeardAt, 1000);
  });

  it('a killed node is dead within [deadAfterMs, 2000] ms of its last heartbeat (tick rates, phases, failure modes)', () => {
    for (const step of [10, 20, 25, 50, 100]) {
      for (const off of [0, 1, 7, 49, 99]) {
        for (const mode of ['timeout', 'fail-fast', 'per-helper'] as const) {
          const last = 1000 + off;
          const m = mk();
          const log = simulate({
            m,
            end: last + 4000,
            tickEvery: step,
            beats: [...beats('a', 0, 6000), ...beats('b', 0, 6000), ...beats('c', 0, 6000), ...beats('x', off, last)],
            answer: failing(mode, new Set(['x'])),
          });
          const label = `step ${step} off ${off} ${mode}`;
          const changes = log.filter((l) => l.out.type === 'state' && l.out.id === 'x').map((l) => l.out);
          assert.deepEqual(
            changes.map((o) => (o.type === 'state' ? o.to : '')),
            ['alive', 'suspect', 'dead'],
            label,
          );
          const dead = log.find((l) => l.out.type === 'state' && l.out.to === 'dead')!;
          assert.ok(dead.t - last >= D.deadAfterMs, `${label}: dead too early at ${dead.t - last}`);
          assert.ok(dead.t - last <= 2000, `${label}: dead too late at ${dead.t - last}`);
          assert.ok(
            log.some((l) => l.t === dead.t && l.out.type === 'broadcast' && l.out.state === 'dead'),
            label,
          );
          // nobody else was ever judged
          assert.ok(log.every((l) => l.out.type !== 'state' || l.out.id === 'x' || l.out.from === 'unknown'), label);
        }
      }
    }
  });

  it('with 250 ms ticks aligned to the last heartbeat, dead lands exactly at 2000 ms', () => {
    const m = mk();
    const log = simulate({
      m,
      end: 6000,
      tickEvery: 250,
      beats: [...beats('a', 0, 6000), ...beats('b', 0, 6000), ...beats('x', 0, 1000)],
    });
    const dead = log.find((l) => l.out.type === 'state' && l.out.to === 'dead');
    assert.equal(dead?.t, 3000);
  });

  it('a 1.5 s silence (and the 1.75 s worst-case SIGSTOP gap) with failing probes never leads to dead', () => {
    for (const step of [10, 50, 100, 250]) {
      for (const off of [0, 1, 13, 77]) {
        for (const gap of [1500, 1750]) {
          for (const mode of ['timeout', 'fail-fast', 'per-helper'] as const) {
            const label = `step ${step} off ${off} gap ${gap} ${mode}`;
            // x beats every 250 ms but goes silent for `gap` ms after every 6th beat (probes fail then)
            const xBeats: Array<{ id: string; t: number }> = [];
            const silentWindows: Array<[number, number]> = [];
            let t = off;
            for (let i = 0; t <= 10_000; i++) {
              xBeats.push({ id: 'x', t });
              if (i % 6 === 5) {
                silentWindows.push([t, t + gap]);
                t += gap;
              } else t += 250;
            }
            xBeats.push({ id: 'x', t }); // every silence ends with a heartbeat
            const end = t + 100;
            const m = mk();
            const inSilence = (at: number) => silentWindows.some(([s, e]) => at > s && at < e);
            const log = simulate({
              m,
              end,
              tickEvery: step,
              beats: [...beats('a', 0, end), ...beats('b', 0, end), ...beats('c', 0, end), ...xBeats],
              answer: (target, probe, at, via) =>
                inSilence(at) ? failing(mode, new Set([target]))(target, probe, at, via) : { ok: true, after: 2 },
            });
            const xStates = log.filter((l) => l.out.type === 'state' && l.out.id === 'x').map((l) => l.out);
            assert.ok(
              xStates.every((o) => o.type === 'state' && o.to !== 'dead'),
              `${label}: declared dead`,
            );
            assert.ok(!log.some((l) => l.out.type === 'broadcast' && l.out.state === 'dead'), label);
            assert.equal(m.get('x')?.state, 'alive', label);
            if (mode !== 'timeout' && gap === 1500) {
              // suspicion really happened and was cleared by the next heartbeat, every window
              const toSuspect = xStates.filter((o) => o.type === 'state' && o.to === 'suspect').length;
              const backAlive = xStates.filter((o) => o.type === 'state' && o.from === 'suspect' && o.to === 'alive').length;
              assert.equal(toSuspect, silentWindows.length, label);
              assert.equal(backAlive, toSuspect, label);
            }
          }
        }
      }
    }
  });

  it('with a single peer there are no helpers: a failed direct probe makes it suspect at once', () => {
    const m = mk();
    join(m, ['x']);
    const log = runFor(m, 0, 3000);
    assert.deepEqual(log, [
      { t: 1000, out: { type: 'probe', target: 'x', mode: 'direct' } },
      { t: 1250, out: { type: 'state', id: 'x', from: 'alive', to: 'suspect', incarnation: 1 } },
      { t: 1250, out: { type: 'broadcast', about: 'x', state: 'suspect', incarnation: 1 } },
      { t: 1250, out: { type: 'probe', target: 'x', mode: 'direct' } },
      { t: 1500, out: { type: 'probe', target: 'x', mode: 'direct' } },
      { t: 1750, out: { type: 'probe', target: 'x', mode: 'direct' } },
      { t: 1850, out: { type: 'state', id: 'x', from: 'suspect', to: 'dead', incarnation: 1 } },
      { t: 1850, out: { type: 'broadcast', about: 'x', state: 'dead', incarnation: 1 } },
    ]);
  });

  it('a late suspicion still spends minSuspectMs in suspect before dead', () => {
    const m = mk({ config: { probeTimeoutMs: 600 } });
    join(m, ['a', 'x']);
    const log = runFor(m, 0, 4000, { beating: ['a'] }).filter(about('x'));
    assert.deepEqual(
      log.map((l) => [l.t, l.out.type === 'state' ? l.out.to : l.out.type]),
      [
        [1000, 'probe'],
        [1600, 'probe'],
        [2200, 'suspect'],
        [2200, 'broadcast'],
        [2200, 'probe'],
        [2400, 'dead'],
        [2400, 'broadcast'],
      ],
    );
  });

  it('indirect helpers: up to indirectProbes alive members following the target in id order', () => {
    const m = mk({ config: { indirectProbes: 2 } });
    join(m, ['a', 'b', 'c', 'x', 'y']);
    const via = (target: string, now: number) => {
      m.tick(now);
      const outs = m.probeResult(target, { ok: false, via: 'direct', now });
      const p = outs.find((o) => o.type === 'probe');
      return p && p.type === 'probe' && p.mode === 'indirect' ? p.via : undefined;
    };
    // everybody is silent from t=0; the 1000 ms tick starts a round for all of them
    assert.deepEqual(via('b', 1000), ['c', 'x']);
    assert.deepEqual(via('y', 1000), ['a', 'b']); // wraps around (b is still alive: only probed)
    const m2 = mk({ config: { indirectProbes: 0 } });
    join(m2, ['a', 'x']);
    m2.tick(1000);
    assert.deepEqual(stateOuts(m2.probeResult('x', { ok: false, via: 'direct', now: 1001 })).map((o) => o.type === 'state' && o.to), [
      'suspect',
    ]);
  });

  it('indirect helpers skip suspect, dead and left members', () => {
    const m = mk();
    join(m, ['a', 'b', 'c', 'd', 'x']);
    m.rumor('a', { state: 'suspect', incarnation: 1, from: 'z', now: 0 });
    m.rumor('b', { state: 'dead', incarnation: 1, from: 'z', now: 0 });
    m.leave('c', { incarnation: 1, now: 0 });
    m.heartbeat('d', { incarnation: 1, now: 900 });
    m.tick(1000);
    const outs = m.probeResult('x', { ok: false, via: 'direct', now: 1001 });
    assert.deepEqual(outs, [{ type: 'probe', target: 'x', mode: 'indirect', via: ['d'] }]);
  });
});

describe('membership: timings stretched with the cluster size', () => {
  const ids = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
  const join = (m: Membership<Info>, members: string[], t = 0) => {
    for (const id of members) m.heartbeat(id, { incarnation: 1, now: t });
  };

  it('scale is 1 up to scaleFromMembers nodes (self included), size / scaleFromMembers beyond, capped at maxScale', () => {
    const m = mk();
    assert.equal(m.scale, 1, 'alone');
    join(m, ids(7));
    assert.equal(m.scale, 1, '8 nodes');
    join(m, ids(15));
    assert.equal(m.scale, 2, '16 nodes');
    join(m, ids(39));
    assert.equal(m.scale, 4, '40 nodes: capped');
    assert.equal(mk({ config: { scaleFromMembers: 0 } }).scale, 1);
    const off = mk({ config: { scaleFromMembers: 0 } });
    join(off, ids(39));
    assert.equal(off.scale, 1, 'scaling turned off');
  });

  it('dead and left members do not count', () => {
    const m = mk();
    join(m, ids(15));
    assert.equal(m.scale, 2);
    for (const id of ids(4)) m.leave(id, { incarnation: 1, now: 10 });
    assert.equal(m.scale, 1.5, '12 nodes left alive');
    for (const id of ids(8).slice(4)) m.rumor(id, { state: 'dead', incarnation: 1, from: 'm14', now: 5000 });
    assert.equal(m.scale, 1, '8 nodes left alive');
  });

  it('in a 16-node cluster a silent node is probed after 2 s and declared dead after 3.7 s of silence', () => {
    const m = mk();
    const others = ids(14);
    const log = simulate({
      m,
      end: 8000,
      tickEvery: 10,
      beats: [...others.flatMap((id) => beats(id, 0, 8000, 500)), ...beats('x', 0, 1000, 500)],
      answer: failing('timeout', new Set(['x'])),
    });
    const x = log.filter(about('x'));
    const firstProbe = x.find((l) => l.out.type === 'probe');
    assert.equal(firstProbe?.t, 1000 + 2 * D.suspectAfterMs, 'probing starts at 2 x suspectAfterMs of silence');
    const dead = x.find((l) => l.out.type === 'state' && l.out.to === 'dead');
    assert.equal(dead?.t, 1000 + 2 * D.deadAfterMs, 'dead at 2 x deadAfterMs of silence');
  });

  it('in a 16-node cluster, heartbeats every 500 ms (the stretched interval) never raise a suspicion', () => {
    const m = mk();
    const log = simulate({ m, end: 10_000, tickEvery: 10, beats: ids(15).flatMap((id, i) => beats(id, i * 7, 10_000, 500)) });
    assert.deepEqual(log.filter((l) => l.out.type !== 'state' || l.out.to !== 'alive'), []);
  });

  it('a dead rumor within the stretched suspectAfterMs of a first-hand heartbeat only raises a suspicion', () => {
    const m = mk();
    join(m, ids(15));
    m.tick(1500);
    const outs = m.rumor('m03', { state: 'dead', incarnation: 1, from: 'm14', now: 1500 });
    assert.equal(m.get('m03')?.state, 'suspect', JSON.stringify(outs));
  });
});

describe('membership: local stalls stretch the thresholds', () => {
  /** a, b, c heartbeat throughout, x until `xLast`; probes are never answered; `lags` are reported with ticks */
  function run(xLast: number, end: number, lags: Record<number, number>) {
    const m = mk();
    const log: Logged[] = [];
    for (let t = 0; t <= end; t += 10) {
      if (t % 250 === 0) {
        for (const id of ['a', 'b', 'c']) m.heartbeat(id, { incarnation: 1, now: t });
        if (t <= xLast) m.heartbeat('x', { incarnation: 1, now: t });
      }
      for (const out of m.tick(t, lags[t] ?? 0)) log.push({ t, out });
    }
    return log.filter(about('x')).filter((l) => l.out.type !== 'state' || l.out.to !== 'alive');
  }
  const firstProbe = (log: Logged[]) => log.find((l) => l.out.type === 'probe')?.t;
  const deadAt = (log: Logged[]) => log.find((l) => l.out.type === 'state' && l.out.to === 'dead')?.t;

  it('after a 600 ms stall, probing starts 1.2 s later and dead comes at least 1.2 s later', () => {
    const normal = run(1000, 8000, {});
    const stalled = run(1000, 8000, { 500: 600 });
    assert.equal(firstProbe(normal), 1000 + D.suspectAfterMs);
    assert.equal(firstProbe(stalled), 1000 + D.suspectAfterMs + 1200);
    assert.ok(deadAt(normal)! <= 1000 + 2000, `normal dead at ${deadAt(normal)}`);
    assert.ok(deadAt(stalled)! >= 1000 + D.deadAfterMs + 1200, `stalled dead at ${deadAt(stalled)}`);
  });

  it('the stretch ends STALL_MEMORY_MS after the stall', () => {
    const xLast = 500 + STALL_MEMORY_MS + 1000;
    assert.deepEqual(run(xLast, xLast + 4000, { 500: 600 }), run(xLast, xLast + 4000, {}));
  });

  it('timer jitter below STALL_FLOOR_MS changes nothing', () => {
    const lags: Record<number, number> = {};
    for (let t = 0; t <= 6000; t += 10) lags[t] = (t * 7) % STALL_FLOOR_MS;
    assert.deepEqual(run(1000, 6000, lags), run(1000, 6000, {}));
  });

  it('a longer stall replaces a shorter one; a shorter one does not shorten the stretch', () => {
    const longer = run(1000, 9000, { 300: 100, 500: 600, 700: 200 });
    assert.equal(firstProbe(longer), 1000 + D.suspectAfterMs + 1200);
  });

  it('a dead rumor about a member heard within the stretched suspect-after only raises a suspicion', () => {
    const m = mk();
    m.heartbeat('x', { incarnation: 1, now: 0 });
    m.tick(100, 800); // stall: suspect-after is now 1000 + 1600 ms
    m.rumor('x', { state: 'dead', incarnation: 1, from: 'y', now: 2000 });
    assert.equal(m.get('x')?.state, 'suspect');
  });
});

describe('membership: probes', () => {
  it('a successful direct probe of a silent node keeps it alive and dates evidence at the send time', () => {
    const m = mk();
    join(m, ['a', 'x']);
    const log: Logged[] = [];
    for (let t = 0; t <= 20_000; t += 10) {
      if (t % 250 === 0) m.heartbeat('a', { incarnation: 1, now: t });
      for (const o of m.tick(t)) {
        log.push({ t, out: o });
        if (o.type === 'probe' && o.target === 'x') m.probeResult('x', { ok: true, via: 'direct', now: t + 5 });
      }
    }
    assert.ok(log.every((l) => l.out.type === 'probe' && l.out.mode === 'direct'), 'only direct probes');
    assert.deepEqual(
      log.slice(0, 3).map((l) => l.t),
      [1000, 2000, 3000],
    );
    assert.equal(m.get('x')?.state, 'alive');
    assert.equal(m.get('x')?.lastHeardAt, 20_000);
  });

  it('a successful indirect probe clears a local suspicion; steady indirect success never lets it die', () => {
    const m = mk();
    const log = simulate({
      m,
      end: 20_000,
      tickEvery: 10,
      beats: [...beats('a', 0, 20_000), ...beats('b', 0, 20_000), ...beats('x', 0, 0)],
      answer: (target, probe, t) =>
        target !== 'x' ? { ok: true, after: 1 } : probe === 'direct' ? null : t < 1500 ? null : { ok: true, after: 20 },
    }).filter(about('x'));
    assert.deepEqual(log.slice(0, 8), [
      { t: 0, out: { type: 'state', id: 'x', from: 'unknown', to: 'alive', incarnation: 1 } },
      { t: 1000, out: { type: 'probe', target: 'x', mode: 'direct' } },
      { t: 1250, out: { type: 'probe', target: 'x', mode: 'indirect', via: ['a', 'b'] } },
      { t: 1500, out: { type: 'state', id: 'x', from: 'alive', to: 'suspect', incarnation: 1 } },
      { t: 1500, out: { type: 'broadcast', about: 'x', state: 'suspect', incarnation: 1 } },
      { t: 1500, out: { type: 'probe', target: 'x', mode: 'direct' } },
      { t: 1750, out: { type: 'probe', target: 'x', mode: 'indirect', via: ['a', 'b'] } },
      { t: 1770, out: { type: 'state', id: 'x', from: 'suspect', to: 'alive', incarnation: 1 } },
    ]);
    assert.ok(!log.some((l) => l.out.type === 'state' && (l.out.to === 'dead' || l.t > 1770)), 'no state change after 1770');
    assert.equal(m.get('x')?.state, 'alive');
  });

  it('a late ack of a failed round still clears a local suspicion (evidence after the last heartbeat)', () => {
    const m = withState('suspect-local');
    const outs = m.probeResult('x', { ok: true, via: 'direct', now: 1100 });
    assert.deepEqual(outs, [{ type: 'state', id: 'x', from: 'suspect', to: 'alive', incarnation: 5 }]);
    assert.equal(m.get('x')?.lastHeardAt, 1000); // the direct probe was sent at 1000
  });

  it('a successful probe does not clear a suspicion learned from a rumor (needs a refutation)', () => {
    const m = withState('suspect');
    runFor(m, 0, 1000, { beating: ['a', 'b', 'c'] });
    assert.deepEqual(m.probeResult('x', { ok: true, via: 'direct', now: 1010 }), []);
    assert.equal(m.get('x')?.state, 'suspect');
    // ...but as long as it answers probes it is never declared dead
    const log: Logged[] = [];
    for (let t = 1020; t <= 10_000; t += 10) {
      if (t % 250 === 0) for (const id of ['a', 'b', 'c']) m.heartbeat(id, { incarnation: 1, now: t });
      for (const o of m.tick(t)) {
        log.push({ t, out: o });
        if (o.type === 'probe') m.probeResult('x', { ok: true, via: o.mode, now: t + 3 });
      }
    }
    assert.ok(!log.some((l) => l.out.type === 'state'), 'no state change');
    assert.equal(m.get('x')?.state, 'suspect');
  });

  it('suppresses duplicate probes while one is outstanding', () => {
    const m = mk();
    join(m, ['a', 'x']);
    const log: Logged[] = [];
    for (let t = 0; t <= 1400; t += 1) {
      if (t % 250 === 0) m.heartbeat('a', { incarnation: 1, now: t });
      for (const o of m.tick(t)) log.push({ t, out: o });
    }
    assert.deepEqual(log, [
      { t: 1000, out: { type: 'probe', target: 'x', mode: 'direct' } },
      { t: 1250, out: { type: 'probe', target: 'x', mode: 'indirect', via: ['a'] } },
    ]);
  });

  it('a failed direct probe escalates at once, exactly once; stray results are ignored', () => {
    const m = mk();
    join(m, ['a', 'b', 'c', 'x']);
    for (const id of ['a', 'b', 'c']) m.heartbeat(id, { incarnation: 1, now: 990 });
    // results for probes never asked for
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'direct', now: 500 }), []);
    assert.deepEqual(m.probeResult('x', { ok: true, via: 'direct', now: 500 }), []);
    assert.deepEqual(m.probeResult('nobody', { ok: false, via: 'direct', now: 500 }), []);
    assert.equal(m.get('x')?.lastHeardAt, 0);
    assert.deepEqual(m.tick(1000), [{ type: 'probe', target: 'x', mode: 'direct' }]);
    // no indirect probe was sent yet: an indirect result is a stray
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'indirect', now: 1001 }), []);
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'direct', now: 1002 }), [
      { type: 'probe', target: 'x', mode: 'indirect', via: ['a', 'b', 'c'] },
    ]);
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'direct', now: 1003 }), []);
    assert.deepEqual(m.tick(1010), []);
    // per-helper failures: the round fails only once every helper asked has failed
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'indirect', helper: 'a', now: 1011 }), []);
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'indirect', helper: 'a', now: 1012 }), []);
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'indirect', helper: 'zz', now: 1013 }), []);
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'indirect', helper: 'b', now: 1014 }), []);
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'indirect', helper: 'c', now: 1015 }), [
      { type: 'state', id: 'x', from: 'alive', to: 'suspect', incarnation: 1 },
      { type: 'broadcast', about: 'x', state: 'suspect', incarnation: 1 },
    ]);
    // late failures of the finished round change nothing; the next tick starts a new round
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'indirect', now: 1016 }), []);
    assert.deepEqual(m.tick(1020), [{ type: 'probe', target: 'x', mode: 'direct' }]);
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'direct', now: 1021 }).length, 1);
    // an aggregate indirect failure (no helper named) fails the round at once
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'indirect', now: 1022 }), []); // already suspect
    assert.equal(m.get('x')?.state, 'suspect');
  });

  it('an aggregate indirect failure fails the round at once', () => {
    const m = mk();
    join(m, ['a', 'x']);
    m.heartbeat('a', { incarnation: 1, now: 1000 });
    m.tick(1000);
    m.probeResult('x', { ok: false, via: 'direct', now: 1001 });
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'indirect', now: 1002 }), [
      { type: 'state', id: 'x', from: 'alive', to: 'suspect', incarnation: 1 },
      { type: 'broadcast', about: 'x', state: 'suspect', incarnation: 1 },
    ]);
  });

  it('probe results never revive dead or left nodes, and dead/left nodes are never probed', () => {
    for (const state of ['dead', 'left'] as const) {
      const m = withState(state);
      const log = runFor(m, 0, 10_000, { beating: ['a', 'b', 'c'] });
      assert.deepEqual(log, [], state);
      assert.deepEqual(m.probeResult('x', { ok: true, via: 'direct', now: 10_001 }), []);
      assert.equal(m.get('x')?.state, state);
    }
  });

  it('a heartbeat during a probe round ends it; its late results are harmless', () => {
    const m = mk();
    join(m, ['a', 'x']);
    m.heartbeat('a', { incarnation: 1, now: 1000 });
    m.tick(1000);
    assert.deepEqual(m.heartbeat('x', { incarnation: 1, now: 1100 }), []);
    assert.deepEqual(m.tick(1260), []); // no escalation of the cancelled round
    assert.deepEqual(m.probeResult('x', { ok: false, via: 'direct', now: 1270 }), []);
    assert.deepEqual(m.probeResult('x', { ok: true, via: 'direct', now: 1280 }), []);
    assert.equal(m.get('x')?.lastHeardAt, 1100);
    assert.equal(m.get('x')?.state, 'alive');
  });
});

describe('membership: incarnations, rumors, refutation', () => {
  it('late heartbeats of an older incarnation are ignored (no info, no refresh)', () => {
    const m = mk();
    join(m, ['a', 'b']);
    m.heartbeat('x', { incarnation: 5, now: 0, info: { name: 'new' } });
    assert.deepEqual(m.heartbeat('x', { incarnation: 4, now: 500, info: { name: 'old' } }), []);
    assert.equal(m.get('x')?.info?.name, 'new');
    assert.equal(m.get('x')?.lastHeardAt, 0);
    assert.equal(m.get('x')?.incarnation, 5);
    // stale heartbeats keep arriving, but x is judged on its real silence
    const log: Logged[] = [];
    for (let t = 10; t <= 3000; t += 10) {
      if (t % 250 === 0) {
        m.heartbeat('x', { incarnation: 4, now: t });
        for (const id of ['a', 'b']) m.heartbeat(id, { incarnation: 1, now: t });
      }
      for (const o of m.tick(t)) log.push({ t, out: o });
    }
    const dead = log.find((l) => l.out.type === 'state' && l.out.to === 'dead');
    assert.equal(dead?.t, 1850);
  });

  // After heartbeat@5 (and possibly a rumor/leave), apply a rumor and check the resulting state.
  const rumorTable: Array<[MemberState, MemberState, number, MemberState, number]> = [
    // [current@5, rumor state, rumor incarnation, expected state, expected incarnation]
    ['alive', 'alive', 4, 'alive', 5],
    ['alive', 'alive', 5, 'alive', 5],
    ['alive', 'alive', 6, 'alive', 6],
    ['alive', 'suspect', 4, 'alive', 5],
    ['alive', 'suspect', 5, 'suspect', 5],
    ['alive', 'suspect', 6, 'suspect', 6],
    ['alive', 'dead', 4, 'alive', 5],
    ['alive', 'dead', 5, 'dead', 5],
    ['alive', 'dead', 6, 'dead', 6],
    ['alive', 'left', 4, 'alive', 5],
    ['alive', 'left', 5, 'left', 5],
    ['alive', 'left', 6, 'left', 6],
    ['suspect', 'alive', 4, 'suspect', 5],
    ['suspect', 'alive', 5, 'suspect', 5],
    ['suspect', 'alive', 6, 'alive', 6],
    ['suspect', 'suspect', 4, 'suspect', 5],
    ['suspect', 'suspect', 5, 'suspect', 5],
    ['suspect', 'suspect', 6, 'suspect', 6],
    ['suspect', 'dead', 4, 'suspect', 5],
    ['suspect', 'dead', 5, 'dead', 5],
    ['suspect', 'dead', 6, 'dead', 6],
    ['suspect', 'left', 4, 'suspect', 5],
    ['suspect', 'left', 5, 'left', 5],
    ['suspect', 'left', 6, 'left', 6],
    ['dead', 'alive', 4, 'dead', 5],
    ['dead', 'alive', 5, 'dead', 5],
    ['dead', 'alive', 6, 'alive', 6],
    ['dead', 'suspect', 4, 'dead', 5],
    ['dead', 'suspect', 5, 'dead', 5],
    ['dead', 'suspect', 6, 'dead', 5],
    ['dead', 'dead', 4, 'dead', 5],
    ['dead', 'dead', 5, 'dead', 5],
    ['dead', 'dead', 6, 'dead', 6],
    ['dead', 'left', 4, 'dead', 5],
    ['dead', 'left', 5, 'left', 5],
    ['dead', 'left', 6, 'left', 6],
    ['left', 'alive', 4, 'left', 5],
    ['left', 'alive', 5, 'left', 5],
    ['left', 'alive', 6, 'alive', 6],
    ['left', 'suspect', 4, 'left', 5],
    ['left', 'suspect', 5, 'left', 5],
    ['left', 'suspect', 6, 'left', 5],
    ['left', 'dead', 4, 'left', 5],
    ['left', 'dead', 5, 'left', 5],
    ['left', 'dead', 6, 'dead', 6],
    ['left', 'left', 4, 'left', 5],
    ['left', 'left', 5, 'left', 5],
    ['left', 'left', 6, 'left', 6],
  ];
  for (const [cur, rs, ri, es, ei] of rumorTable) {
    it(`rumor precedence: ${cur}@5 + ${rs}@${ri} (third party) -> ${es}@${ei}`, () => {
      const m = withState(cur);
      const outs = m.rumor('x', { state: rs, incarnation: ri, from: 'z', now: STALE + 10 });
      assert.equal(m.get('x')?.state, es);
      assert.equal(m.get('x')?.incarnation, ei);
      const expected = es === cur ? [] : [{ type: 'state', id: 'x', from: cur, to: es, incarnation: ei }];
      assert.deepEqual(stateOuts(outs), expected);
      assert.ok(outs.every((o) => o.type === 'state'), 'rumors never cause broadcasts'); // rumors never cause broadcasts
    });
  }

  const heartbeatTable: Array<[MemberState | 'suspect-local', number, MemberState, number]> = [
    ['alive', 4, 'alive', 5],
    ['alive', 5, 'alive', 5],
    ['alive', 6, 'alive', 6],
    ['suspect', 4, 'suspect', 5],
    ['suspect', 5, 'suspect', 5], // rumored suspicion needs a refutation
    ['suspect', 6, 'alive', 6],
    ['suspect-local', 4, 'suspect', 5],
    ['suspect-local', 5, 'alive', 5], // our own suspicion is contradicted by first-hand evidence
    ['suspect-local', 6, 'alive', 6],
    ['dead', 4, 'dead', 5],
    ['dead', 5, 'dead', 5],
    ['dead', 6, 'alive', 6],
    ['left', 4, 'left', 5],
    ['left', 5, 'left', 5],
    ['left', 6, 'alive', 6],
  ];
  for (const [cur, hi, es, ei] of heartbeatTable) {
    it(`heartbeat precedence: ${cur}@5 + heartbeat@${hi} -> ${es}@${ei}`, () => {
      const m = withState(cur);
      const from = cur === 'suspect-local' ? 'suspect' : cur;
      const outs = m.heartbeat('x', { incarnation: hi, now: 1500, info: { name: `hb${hi}` } });
      assert.equal(m.get('x')?.state, es);
      assert.equal(m.get('x')?.incarnation, ei);
      // a heartbeat of the dead incarnation is answered by repeating the verdict (the node refutes)
      const reassert = from === 'dead' && hi === 5 ? [{ type: 'tell', about: 'x', state: 'dead', incarnation: 5 }] : [];
      assert.deepEqual(outs, es === from ? reassert : [{ type: 'state', id: 'x', from, to: es, incarnation: ei }]);
      const accepted = hi > 5 || (hi === 5 && (from === 'alive' || from === 'suspect'));
      assert.equal(m.get('x')?.info?.name === `hb${hi}`, accepted);
      assert.equal(m.get('x')?.lastHeardAt === 1500, accepted);
    });
  }

  const leaveTable: Array<[MemberState, number, MemberState, number]> = [
    ['alive', 4, 'alive', 5],
    ['alive', 5, 'left', 5],
    ['alive', 6, 'left', 6],
    ['suspect', 5, 'left', 5],
    ['dead', 4, 'dead', 5],
    ['dead', 5, 'left', 5],
    ['left', 5, 'left', 5],
    ['left', 6, 'left', 6],
  ];
  for (const [cur, li, es, ei] of leaveTable) {
    it(`leave precedence: ${cur}@5 + leave@${li} -> ${es}@${ei}`, () => {
      const m = withState(cur);
      const outs = m.leave('x', { incarnation: li, now: 10 });
      assert.equal(m.get('x')?.state, es);
      assert.equal(m.get('x')?.incarnation, ei);
      assert.deepEqual(outs, es === cur ? [] : [{ type: 'state', id: 'x', from: cur, to: es, incarnation: ei }]);
    });
  }

  it('reordered messages: a refutation overtaking the suspicion it answers wins', () => {
    const m = mk();
    join(m, ['x'], 0, 1);
    // x was suspected at 1 and refuted with 2; the refutation arrives first
    assert.deepEqual(m.rumor('x', { state: 'alive', incarnation: 2, from: 'x', now: 10 }), []);
    assert.equal(m.get('x')?.incarnation, 2);
    assert.deepEqual(m.rumor('x', { state: 'suspect', incarnation: 1, from: 'a', now: 20 }), []);
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 1, from: 'a', now: 30 }), []);
    assert.deepEqual(m.heartbeat('x', { incarnation: 1, now: 40 }), []); // older heartbeat overtaken
    assert.equal(m.get('x')?.lastHeardAt, 10);
    assert.equal(m.get('x')?.state, 'alive');
    // the other order: the suspicion then the refutation
    const n = mk();
    join(n, ['x'], 0, 1);
    assert.equal(stateOuts(n.rumor('x', { state: 'suspect', incarnation: 1, from: 'a', now: 20 })).length, 1);
    assert.deepEqual(n.rumor('x', { state: 'alive', incarnation: 2, from: 'x', now: 30 }), [
      { type: 'state', id: 'x', from: 'suspect', to: 'alive', incarnation: 2 },
    ]);
    assert.equal(n.get('x')?.state, m.get('x')?.state);
    assert.equal(n.get('x')?.incarnation, m.get('x')?.incarnation);
  });

  it('reordered messages: a dead rumor overtaken by the restarted node stays ignored', () => {
    const m = mk();
    join(m, ['x'], 0, 7);
    m.heartbeat('x', { incarnation: 8, now: 100 });
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 7, from: 'a', now: 110 }), []);
    assert.deepEqual(m.leave('x', { incarnation: 7, now: 120 }), []);
    assert.equal(m.get('x')?.state, 'alive');
  });

  it('alive/suspect rumors about unknown nodes are ignored; an alive rumor from the node itself joins it', () => {
    const m = mk();
    assert.deepEqual(m.rumor('x', { state: 'alive', incarnation: 1, from: 'a', now: 0 }), []);
    assert.deepEqual(m.rumor('x', { state: 'suspect', incarnation: 1, from: 'a', now: 0 }), []);
    assert.equal(m.get('x'), undefined);
    assert.deepEqual(m.rumor('x', { state: 'alive', incarnation: 1, from: 'x', now: 0 }), [
      { type: 'state', id: 'x', from: 'unknown', to: 'alive', incarnation: 1 },
    ]);
    assert.deepEqual(m.rumor('x', { state: 'left', incarnation: 1, from: 'x', now: 5 }), [
      { type: 'state', id: 'x', from: 'alive', to: 'left', incarnation: 1 },
    ]);
  });

  it('a rumor about the local node makes it refute with a higher incarnation', () => {
    const m = mk({ incarnation: 3 });
    assert.deepEqual(m.rumor('self', { state: 'suspect', incarnation: 3, from: 'a', now: 0 }), [
      { type: 'refute', incarnation: 4 },
    ]);
    assert.equal(m.self.incarnation, 4);
    assert.deepEqual(m.rumor('self', { state: 'suspect', incarnation: 3, from: 'b', now: 1 }), []); // stale
    assert.deepEqual(m.rumor('self', { state: 'dead', incarnation: 4, from: 'b', now: 2 }), [
      { type: 'refute', incarnation: 5 },
    ]);
    assert.deepEqual(m.rumor('self', { state: 'left', incarnation: 9, from: 'b', now: 3 }), [
      { type: 'refute', incarnation: 10 },
    ]);
    assert.deepEqual(m.rumor('self', { state: 'alive', incarnation: 10, from: 'b', now: 4 }), []);
    assert.deepEqual(m.rumor('self', { state: 'alive', incarnation: 12, from: 'b', now: 5 }), [
      { type: 'refute', incarnation: 13 },
    ]);
    assert.deepEqual(m.rumor('self', { state: 'dead', incarnation: 2, from: 'b', now: 6 }), []);
    assert.equal(m.self.incarnation, 13);
    assert.equal(m.get('self'), undefined);
    assert.equal(m.list().length, 0);
  });

  it('refutation end to end: suspicion spreads, the node refutes, everyone accepts alive at the new incarnation', () => {
    const L = mk({ selfId: 'l' }); // detects the silence
    const C = mk({ selfId: 'c' }); // only hears rumors
    const X = mk({ selfId: 'x', incarnation: 1 });
    for (const n of [L, C]) join(n, ['x', 'a'], 0, 1);
    join(L, ['c']);
    join(C, ['l']);
    // L hears nothing from x for a while; its probes fail (timeouts)
    const log = runFor(L, 0, 1500, { beating: ['a', 'c'] });
    const b = log.find((l) => l.out.type === 'broadcast')?.out;
    assert.deepEqual(b, { type: 'broadcast', about: 'x', state: 'suspect', incarnation: 1 });
    if (b?.type !== 'broadcast') throw new Error('unreachable');
    // the rumor reaches C and x itself
    assert.deepEqual(stateOuts(C.rumor('x', { state: b.state, incarnation: b.incarnation, from: 'l', now: 1510 })), [
      { type: 'state', id: 'x', from: 'alive', to: 'suspect', incarnation: 1 },
    ]);
    const refute = X.rumor('x', { state: b.state, incarnation: b.incarnation, from: 'l', now: 1510 });
    assert.deepEqual(refute, [{ type: 'refute', incarnation: 2 }]);
    // a heartbeat x sent before refuting (incarnation 1) does not clear C's rumored suspicion
    assert.deepEqual(C.heartbeat('x', { incarnation: 1, now: 1520 }), []);
    assert.equal(C.get('x')?.state, 'suspect');
    // the refutation (alive@2 from x) is accepted over suspect@1 everywhere
    for (const n of [L, C]) {
      assert.deepEqual(n.rumor('x', { state: 'alive', incarnation: X.self.incarnation, from: 'x', now: 1530 }), [
        { type: 'state', id: 'x', from: 'suspect', to: 'alive', incarnation: 2 },
      ]);
    }
    // a straggling copy of the old suspicion changes nothing
    assert.deepEqual(C.rumor('x', { state: 'suspect', incarnation: 1, from: 'a', now: 1540 }), []);
    assert.equal(L.get('x')?.state, 'alive');
    assert.equal(C.get('x')?.state, 'alive');
  });

  it('a node declared dead behind a partition hears the verdict from its own heartbeats after the heal, refutes and is alive again', () => {
    const A = mk({ selfId: 'A', incarnation: 10 });
    const X = mk({ selfId: 'X', incarnation: 20 });
    join(A, ['X', 'b'], 0, 20);
    // the cut: A hears only b; X's rumors and heartbeats are lost (it never learns its verdict)
    const log = runFor(A, 0, 6000, { beating: ['b'] });
    assert.ok(log.some((l) => l.out.type === 'state' && l.out.to === 'dead'), 'X declared dead during the cut');
    // healed: X heartbeats at the incarnation it had; A repeats the verdict, at most once a second
    assert.deepEqual(A.heartbeat('X', { incarnation: 20, now: 6010 }), [{ type: 'tell', about: 'X', state: 'dead', incarnation: 20 }]);
    assert.deepEqual(A.heartbeat('X', { incarnation: 20, now: 6500 }), []);
    assert.equal(A.get('X')?.state, 'dead');
    // X hears it and refutes; the refutation brings it back in A's view
    assert.deepEqual(X.rumor('X', { state: 'dead', incarnation: 20, from: 'A', now: 6020 }), [{ type: 'refute', incarnation: 21 }]);
    assert.deepEqual(A.rumor('X', { state: 'alive', incarnation: 21, from: 'X', now: 6030 }), [
      { type: 'state', id: 'X', from: 'dead', to: 'alive', incarnation: 21 },
    ]);
    assert.deepEqual(A.heartbeat('X', { incarnation: 21, now: 6100 }), []);
  });

  it('two nodes suspecting each other both refute and converge to alive', () => {
    const A = mk({ selfId: 'A', incarnation: 10 });
    const B = mk({ selfId: 'B', incarnation: 20 });
    join(A, ['B'], 0, 20);
    join(A, ['C']);
    join(B, ['A'], 0, 10);
    join(B, ['C']);
    // partition between A and B (both still hear C); all of A<->B probes time out
    const broadcasts: Record<string, Output[]> = { A: [], B: [] };
    for (let t = 10; t <= 1600; t += 10) {
      for (const [name, n] of [['A', A], ['B', B]] as const) {
        if (t % 250 === 0) n.heartbeat('C', { incarnation: 1, now: t });
        broadcasts[name]!.push(...n.tick(t).filter((o) => o.type === 'broadcast'));
      }
    }
    assert.deepEqual(broadcasts.A, [{ type: 'broadcast', about: 'B', state: 'suspect', incarnation: 20 }]);
    assert.deepEqual(broadcasts.B, [{ type: 'broadcast', about: 'A', state: 'suspect', incarnation: 10 }]);
    // the partition heals: the rumors cross (relayed by C) and both refute
    assert.deepEqual(B.rumor('B', { state: 'suspect', incarnation: 20, from: 'A', now: 1610 }), [
      { type: 'refute', incarnation: 21 },
    ]);
    assert.deepEqual(A.rumor('A', { state: 'suspect', incarnation: 10, from: 'B', now: 1610 }), [
      { type: 'refute', incarnation: 11 },
    ]);
    // each one's own suspicion of the other is overridden by the other's refutation
    assert.deepEqual(A.rumor('B', { state: 'alive', incarnation: 21, from: 'B', now: 1620 }), [
      { type: 'state', id: 'B', from: 'suspect', to: 'alive', incarnation: 21 },
    ]);
    assert.deepEqual(B.rumor('A', { state: 'alive', incarnation: 11, from: 'A', now: 1620 }), [
      { type: 'state', id: 'A', from: 'suspect', to: 'alive', incarnation: 11 },
    ]);
    // and then they keep heartbeating: nobody dies
    const later: Output[] = [];
    for (let t = 1630; t <= 8000; t += 10) {
      if (t % 250 === 0) {
        A.heartbeat('B', { incarnation: B.self.incarnation, now: t });
        B.heartbeat('A', { incarnation: A.self.incarnation, now: t });
        A.heartbeat('C', { incarnation: 1, now: t });
        B.heartbeat('C', { incarnation: 1, now: t });
      }
      later.push(...A.tick(t), ...B.tick(t));
    }
    assert.deepEqual(later, []);
    assert.equal(A.get('B')?.state, 'alive');
    assert.equal(B.get('A')?.state, 'alive');
  });

  it('after a partition longer than the detector, both sides hold each other dead; their first heartbeats make each refute, and both are alive again', () => {
    const a = mk({ selfId: 'a' });
    const x = mk({ selfId: 'x' });
    join(a, ['x']);
    join(x, ['a']);
    // cut off: each declares the other dead
    runFor(a, 0, 2500);
    runFor(x, 0, 2500);
    assert.equal(a.get('x')?.state, 'dead');
    assert.equal(x.get('a')?.state, 'dead');
    // healed: every output of one machine is delivered to the other (heartbeats, rumors, refutations)
    const deliver = (to: Membership<Info>, from: Membership<Info>, outs: Output[], now: number): Output[] =>
      outs.flatMap((o) => (o.type === 'broadcast' || o.type === 'tell' ? to.rumor(o.about, { state: o.state, incarnation: o.incarnation, from: from.self.id, now }) : o.type === 'refute' ? to.heartbeat(from.self.id, { incarnation: o.incarnation, now }) : []));
    let now = 2600;
    let toX = a.heartbeat('x', { incarnation: x.self.incarnation, now });
    let toA = x.heartbeat('a', { incarnation: a.self.incarnation, now });
    for (let round = 0; round < 4 && (toX.length || toA.length); round++) {
      now += 10;
      const fromX = deliver(x, a, toX, now);
      const fromA = deliver(a, x, toA, now);
      [toX, toA] = [fromA, fromX];
    }
    assert.equal(a.get('x')?.state, 'alive');
    assert.equal(x.get('a')?.state, 'alive');
    assert.ok(a.self.incarnation > 1 && x.self.incarnation > 1, 'both refuted with a higher incarnation');
  });

  it('a contradicted dead verdict repeated (a returning member tells it again) leaves a freshly heard node suspect, not dead', () => {
    const m = mk();
    join(m, ['x'], 0);
    m.heartbeat('x', { incarnation: 1, now: 100 });
    assert.deepEqual(stateOuts(m.rumor('x', { state: 'dead', incarnation: 1, from: 'y', now: 150 })), [{ type: 'state', id: 'x', from: 'alive', to: 'suspect', incarnation: 1 }]);
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 1, from: 'y', now: 300 }), []);
    assert.equal(m.get('x')?.state, 'suspect');
    // x refutes: alive again
    assert.equal(stateOuts(m.heartbeat('x', { incarnation: 2, now: 320 }))[0]?.type, 'state');
    assert.equal(m.get('x')?.state, 'alive');
  });

  it('a dead node that restarts with a higher incarnation comes back (dead -> alive); the same incarnation does not', () => {
    const m = mk();
    join(m, ['a', 'x']);
    const log = runFor(m, 0, 2500, { beating: ['a'] });
    assert.ok(log.some((l) => l.out.type === 'state' && l.out.to === 'dead'), 'x was declared dead');
    // the same incarnation stays dead; its heartbeat only makes us repeat the verdict to it
    assert.deepEqual(m.heartbeat('x', { incarnation: 1, now: 2600 }), [{ type: 'tell', about: 'x', state: 'dead', incarnation: 1 }]);
    assert.deepEqual(m.heartbeat('x', { incarnation: 1, now: 2605 }), []);
    assert.deepEqual(m.rumor('x', { state: 'alive', incarnation: 1, from: 'a', now: 2610 }), []);
    assert.deepEqual(m.probeResult('x', { ok: true, via: 'direct', now: 2620 }), []);
    assert.equal(m.get('x')?.state, 'dead');
    // the driver of the restarted node starts from e.g. Date.now(): always higher
    const restarted = mk({ selfId: 'x', incarnation: 1_700_000_000_000 });
    assert.deepEqual(m.heartbeat('x', { incarnation: restarted.self.incarnation, now: 3000, info: { name: 'v2' } }), [
      { type: 'state', id: 'x', from: 'dead', to: 'alive', incarnation: 1_700_000_000_000 },
    ]);
    assert.equal(m.get('x')?.info?.name, 'v2');
    // a fresh detection period: dies again only after a full silence
    const again = runFor(m, 3000, 6000, { beating: ['a'] });
    assert.deepEqual(
      again.filter((l) => l.out.type === 'state').map((l) => [l.t, l.out.type === 'state' && l.out.to]),
      [
        [4500, 'suspect'],
        [4850, 'dead'],
      ],
    );
  });

  it('a third-party alive rumor with a higher incarnation revives a dead node with a fresh grace period', () => {
    const m = mk();
    join(m, ['a', 'x']);
    runFor(m, 0, 2500, { beating: ['a'] });
    assert.deepEqual(m.rumor('x', { state: 'alive', incarnation: 2, from: 'a', now: 2600 }), [
      { type: 'state', id: 'x', from: 'dead', to: 'alive', incarnation: 2 },
    ]);
    assert.deepEqual(m.tick(2610), []); // not re-judged on the old silence
    assert.equal(m.get('x')?.lastHeardAt, 2600);
  });

  it('dead rumors: accepted at >= the known incarnation, tombstoned for unknown nodes', () => {
    const m = mk();
    join(m, ['x'], 0, 3);
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 2, from: 'a', now: STALE }), []);
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 3, from: 'a', now: STALE + 10 }), [
      { type: 'state', id: 'x', from: 'alive', to: 'dead', incarnation: 3 },
    ]);
    // unknown node reported dead: a late heartbeat of that incarnation is not a join
    assert.deepEqual(m.rumor('y', { state: 'dead', incarnation: 4, from: 'a', now: STALE + 20 }), []);
    assert.equal(m.get('y'), undefined);
    assert.deepEqual(m.heartbeat('y', { incarnation: 4, now: STALE + 30 }), []);
    assert.deepEqual(m.heartbeat('y', { incarnation: 3, now: STALE + 30 }), []);
    assert.deepEqual(m.heartbeat('y', { incarnation: 5, now: STALE + 40 }), [
      { type: 'state', id: 'y', from: 'unknown', to: 'alive', incarnation: 5 },
    ]);
  });

  it('a dead verdict against our own fresh evidence only raises a suspicion (a member back from a cut)', () => {
    const m = mk();
    join(m, ['a', 'x'], 0, 3);
    // heard x@3 at 0; a third party says dead@3 at 500: suspect (by rumor), not dead
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 3, from: 'a', now: 500 }), [
      { type: 'state', id: 'x', from: 'alive', to: 'suspect', incarnation: 3 },
    ]);
    assert.equal(m.get('x')?.suspicion, 'rumor');
    // its refutation clears it
    assert.deepEqual(stateOuts(m.heartbeat('x', { incarnation: 4, now: 600 })), [
      { type: 'state', id: 'x', from: 'suspect', to: 'alive', incarnation: 4 },
    ]);
    // a verdict about a NEWER incarnation than we heard is not contradicted by our evidence
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 5, from: 'a', now: 700 }), [
      { type: 'state', id: 'x', from: 'alive', to: 'dead', incarnation: 5 },
    ]);
  });

  it('stale suspicions then a stale dead verdict from a member back from a cut: suspect at most while our evidence is fresh', () => {
    const m = mk();
    join(m, ['a', 'x'], 0, 3);
    // the cut-off member's queued rumors arrive after the heal, suspicions first
    assert.deepEqual(stateOuts(m.rumor('x', { state: 'suspect', incarnation: 3, from: 'a', now: 100 })), [
      { type: 'state', id: 'x', from: 'alive', to: 'suspect', incarnation: 3 },
    ]);
    m.heartbeat('x', { incarnation: 3, now: 200 });
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 3, from: 'a', now: 300 }), []);
    assert.equal(m.get('x')?.state, 'suspect');
    // without fresh evidence the same verdict is taken
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 3, from: 'a', now: 200 + STALE }), [
      { type: 'state', id: 'x', from: 'suspect', to: 'dead', incarnation: 3 },
    ]);
  });

  it('a suspicion raised by a contradicted dead verdict still ends in dead when the node falls silent', () => {
    const m = mk();
    join(m, ['a', 'b', 'c', 'x'], 0, 3);
    m.rumor('x', { state: 'dead', incarnation: 3, from: 'a', now: 100 });
    assert.equal(m.get('x')?.state, 'suspect');
    // x is silent from now on; a, b, c keep beating; probes of x fail
    const log = runFor(m, 0, 3000, { beating: ['a', 'b', 'c'] });
    for (const { t, out } of log) {
      if (out.type !== 'probe') continue;
      m.probeResult('x', { ok: false, via: out.mode, now: t + 1, ...(out.mode === 'indirect' ? { helper: out.via[0] } : {}) });
    }
    runFor(m, 3000, 4000, { beating: ['a', 'b', 'c'] });
    assert.equal(m.get('x')?.state, 'dead');
  });

  it('leave -> left; a later heartbeat of the same incarnation is ignored, a higher one revives', () => {
    const m = mk();
    join(m, ['a', 'x'], 0, 4);
    assert.deepEqual(m.leave('x', { incarnation: 4, now: 100 }), [
      { type: 'state', id: 'x', from: 'alive', to: 'left', incarnation: 4 },
    ]);
    assert.deepEqual(m.leave('x', { incarnation: 4, now: 110 }), []); // duplicate
    assert.deepEqual(m.heartbeat('x', { incarnation: 4, now: 200 }), []);
    assert.deepEqual(m.rumor('x', { state: 'dead', incarnation: 4, from: 'a', now: 210 }), []);
    assert.deepEqual(runFor(m, 300, 5000, { beating: ['a'], inc: { a: 4 } }), []); // left: never probed
    assert.deepEqual(m.heartbeat('x', { incarnation: 5, now: 5010 }), [
      { type: 'state', id: 'x', from: 'left', to: 'alive', incarnation: 5 },
    ]);
    // a leave from a node never seen leaves a tombstone
    assert.deepEqual(m.leave('y', { incarnation: 2, now: 5020 }), []);
    assert.deepEqual(m.heartbeat('y', { incarnation: 2, now: 5030 }), []);
    assert.equal(m.get('y'), undefined);
    assert.equal(m.heartbeat('y', { incarnation: 3, now: 5040 }).length, 1);
  });

  it('remove() forgets a member; dead/left ones leave a tombstone', () => {
    const m = mk();
    join(m, ['x', 'y'], 0, 2);
    m.rumor('x', { state: 'dead', incarnation: 2, from: 'a', now: STALE });
    assert.deepEqual(m.remove('x'), []);
    assert.equal(m.get('x'), undefined);
    assert.deepEqual(
      m.list().map((e) => e.id),
      ['y'],
    );
    assert.deepEqual(m.heartbeat('x', { incarnation: 2, now: 20 }), []); // stale: tombstone
    assert.equal(m.heartbeat('x', { incarnation: 3, now: 30 }).length, 1);
    // removing an alive member forgets it completely
    m.remove('y');
    assert.deepEqual(m.heartbeat('y', { incarnation: 2, now: 40 }), [
      { type: 'state', id: 'y', from: 'unknown', to: 'alive', incarnation: 2 },
    ]);
    assert.deepEqual(m.remove('nobody'), []);
    assert.deepEqual(m.remove('self'), []);
  });
});

describe('membership: clock', () => {
  it('time going backwards a little is clamped: nothing weird happens', () => {
    const m = mk();
    join(m, ['a', 'x']);
    runFor(m, 0, 900, { beating: ['a', 'x'] });
    // the driver's clock steps back 800 ms and continues from there
    const log = runFor(m, 100, 900, { beating: ['a', 'x'] });
    assert.deepEqual(log, []);
    assert.equal(m.clock, 900);
    assert.equal(m.get('x')?.lastHeardAt, 900);
    // x goes silent: judged on the clamped clock, i.e. never earlier than 1850 ms after 900
    const after = runFor(m, 910, 4000, { beating: ['a'] });
    const dead = after.find((l) => l.out.type === 'state' && l.out.to === 'dead');
    assert.equal(dead?.t, 900 + 1850);
    assert.equal(m.get('a')?.state, 'alive');
  });

  it('a big backwards jump resets timers instead of freezing detection', () => {
    const m = mk();
    join(m, ['a', 'x'], 100_000);
    runFor(m, 100_000, 100_500, { beating: ['a', 'x'] });
    assert.deepEqual(m.tick(1000), []);
    assert.equal(m.clock, 1000);
    assert.equal(m.get('x')?.lastHeardAt, 1000);
    assert.equal(m.get('x')?.state, 'alive');
    const log = runFor(m, 1000, 5000, { beating: ['a'] });
    const dead = log.find((l) => l.out.type === 'state' && l.out.to === 'dead');
    assert.equal(dead?.t, 1000 + 1850);
    assert.ok(!log.some((l) => l.out.type === 'state' && l.out.id === 'a'), 'a was never judged');
  });

  it('a big forward jump (local suspend) does not kill everyone; a node that really died is still found', () => {
    const m = mk();
    join(m, ['a', 'b', 'c', 'x']);
    runFor(m, 0, 10_000, { beating: ['a', 'b', 'c', 'x'] });
    // the laptop sleeps for 60 s; on wake-up the tick runs before any queued message
    assert.deepEqual(m.tick(70_000), []);
    for (const e of m.list()) {
      assert.equal(e.state, 'alive');
      assert.equal(e.lastHeardAt, 70_000);
    }
    // a, b, c are still there; x died while we slept
    const log = runFor(m, 70_010, 75_000, { beating: ['a', 'b', 'c'] });
    const changes = log.filter((l) => l.out.type === 'state');
    assert.deepEqual(
      changes.map((l) => l.out.type === 'state' && [l.out.id, l.out.to]),
      [
        ['x', 'suspect'],
        ['x', 'dead'],
      ],
    );
    assert.ok(changes[1]!.t - 70_000 <= 2000, 'dead within 2 s of the wake-up');
  });

  it('a forward jump after messages of the new time already arrived still counts as a pause', () => {
    const m = mk();
    join(m, ['a', 'x']);
    runFor(m, 0, 10_000, { beating: ['a', 'x'] });
    m.heartbeat('a', { incarnation: 1, now: 70_000 });
    assert.deepEqual(m.tick(70_001), []);
    assert.equal(m.get('x')?.lastHeardAt, 70_001);
  });

  it('a local stall shorter than maxTickGapMs triggers probes but no suspicion when peers are fine', () => {
    const m = mk();
    join(m, ['a', 'b', 'x']);
    runFor(m, 0, 10_000, { beating: ['a', 'b', 'x'], step: 100 });
    const outs = m.tick(14_000); // event loop blocked for 4 s
    assert.deepEqual(
      outs.map((o) => o.type),
      ['probe', 'probe', 'probe'],
    );
    // the queued heartbeats are processed right after; nobody is judged
    const log = runFor(m, 14_000, 20_000, { beating: ['a', 'b', 'x'], step: 100 });
    assert.deepEqual(log, []);
  });
});

// ------------------------------------------------------------------------ randomized schedule


describe('membership: randomized adversarial schedule', () => {
  type Kind = 'steady' | 'flaky' | 'killed';
  interface Node {
    id: string;
    kind: Kind;
    inc: number;
    nextBeat: number;
    killAt: number;
    bumpPending: boolean;
  }

  for (const seed of [1, 2, 42, 1337]) {
    it(`seed ${seed}: invariants hold over 2,000 steps`, () => {
      const rnd = prng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
      const m = mk({ incarnation: 10 });
      const nodes: Node[] = [
        ...['s1', 's2', 's3'].map((id) => ({ id, kind: 'steady' as const })),
        ...['f1', 'f2'].map((id) => ({ id, kind: 'flaky' as const })),
        ...['k1', 'k2'].map((id) => ({ id, kind: 'killed' as const })),
      ].map((n) => ({ ...n, inc: int(1, 5), nextBeat: int(0, 500), killAt: int(2000, 200_000), bumpPending: false }));
      const byId = new Map(nodes.map((n) => [n.id, n]));
      const ids = [...nodes.map((n) => n.id), 'self', 'ghost'];
      const STATES = new Set(['alive', 'suspect', 'dead', 'left']);

      let T = 0; // true time
      let skew = 0; // driver clock = T + skew
      let selfInc = m.self.incarnation;
      const lastInc = new Map<string, number>();
      const lastDirect = new Map<string, number>(); // machine time of the last direct probe
      const resultSince = new Set<string>(); // a result for the target arrived since its last direct probe
      type Pending = { at: number; run: () => Output[]; target: string };
      let pending: Pending[] = [];
      let steps = 0;
      let sawDead = 0;
      let sawRefute = 0;

      const check = (outs: Output[], ctx: string) => {
        const now = m.clock!;
        for (const o of outs) {
          switch (o.type) {
            case 'state': {
              assert.ok(STATES.has(o.to), ctx);
              assert.notEqual(o.id, 'self', ctx);
              const n = byId.get(o.id);
              if (o.to === 'dead') {
                sawDead++;
                assert.notEqual(n?.kind, 'steady', `${ctx}: steady ${o.id} declared dead`);
              }
              break;
            }
            case 'broadcast':
              assert.notEqual(o.about, 'self', ctx);
              if (o.state === 'dead') assert.notEqual(byId.get(o.about)?.kind, 'steady', `${ctx}: dead broadcast`);
              break;
            case 'probe': {
              const e = m.get(o.target);
              assert.ok(e && (e.state === 'alive' || e.state === 'suspect'), `${ctx}: probe of ${o.target}`);
              if (o.mode === 'direct') {
                const prev = lastDirect.get(o.target);
                if (prev !== undefined && !resultSince.has(o.target)) {
                  assert.ok(now - prev >= D.probeTimeoutMs, `${ctx}: duplicate probe of ${o.target}`);
                }
                lastDirect.set(o.target, now);
                resultSince.delete(o.target);
              } else {
                assert.ok(o.via.length > 0 && o.via.length <= D.indirectProbes, ctx);
                assert.ok(!o.via.includes(o.target) && !o.via.includes('self'), ctx);
                for (const h of o.via) assert.ok(m.get(h), ctx);
              }
              scheduleAnswer(o.target, o.mode, o.mode === 'indirect' ? o.via : []);
              break;
            }
            case 'refute':
              sawRefute++;
              assert.ok(o.incarnation > selfInc, ctx);
              break;
          }
        }
        // global invariants
        assert.equal(m.get('self'), undefined, ctx);
        assert.ok(m.self.incarnation >= selfInc, ctx);
        selfInc = m.self.incarnation;
        for (const e of m.list()) {
          assert.ok(STATES.has(e.state), ctx);
          assert.ok(Number.isSafeInteger(e.incarnation) && e.incarnation >= 0, ctx);
          assert.ok((lastInc.get(e.id) ?? -1) <= e.incarnation, `${ctx}: incarnation of ${e.id} decreased`);
          lastInc.set(e.id, e.incarnation);
          assert.ok(e.lastHeardAt <= now && e.stateSince <= now, ctx);
          assert.equal(e.suspicion !== null, e.state === 'suspect', ctx);
        }
      };

      const scheduleAnswer = (target: string, mode: ProbeMode, via: string[]) => {
        const n = byId.get(target);
        const killed = n && n.kind === 'killed' && T >= n.killAt;
        const r = rnd();
        if (r < 0.2) return; // never answered
        const at = T + int(0, 400);
        const ok = !killed && rnd() < 0.5;
        if (mode === 'indirect' && !ok && rnd() < 0.5) {
          for (const h of via) {
            pending.push({ at: at + int(0, 50), target, run: () => m.probeResult(target, { ok: false, via: mode, helper: h, now: at + skew }) });
          }
          return;
        }
        pending.push({ at, target, run: () => m.probeResult(target, { ok, via: mode, now: at + skew }) });
      };

      const deliver = (upTo: number) => {
        // heartbeats and probe results due by `upTo`, in time order
        for (;;) {
          let best: { at: number; run: () => Output[]; target?: string; beat?: Node } | undefined;
          for (const p of pending) if (p.at <= upTo && (!best || p.at < best.at)) best = p;
          for (const n of nodes) {
            if (n.nextBeat <= upTo && (!best || n.nextBeat < best.at)) {
              best = { at: n.nextBeat, beat: n, run: () => [] };
            }
          }
          if (!best) return;
          if (best.beat) {
            const n = best.beat;
            const alive = !(n.kind === 'killed' && n.nextBeat >= n.killAt);
            if (alive) {
              if (n.bumpPending) {
                n.inc++;
                n.bumpPending = false;
              }
              if (n.kind === 'flaky' && rnd() < 0.01) n.inc += int(1, 3); // restart
              check(m.heartbeat(n.id, { incarnation: n.inc, now: n.nextBeat + skew, info: { name: n.id } }), `beat ${n.id}`);
              n.nextBeat += n.kind === 'steady' ? int(50, 1500) : n.kind === 'flaky' ? int(50, 4000) : int(50, 1500);
              if (n.kind === 'flaky' && rnd() < 0.02) {
                check(m.leave(n.id, { incarnation: n.inc, now: n.nextBeat + skew }), `leave ${n.id}`);
                n.inc++;
                n.nextBeat += int(0, 5000);
              }
            } else {
              n.nextBeat = Infinity;
            }
          } else {
            pending = pending.filter((p) => p !== best);
            if (best.target) resultSince.add(best.target);
            check(best.run(), 'result');
          }
        }
      };

      for (steps = 0; steps < 2000; steps++) {
        T += int(1, 150);
        deliver(T);
        const r = rnd();
        const now = T + skew;
        if (r < 0.75) {
          check(m.tick(now), `tick ${steps}`);
        } else if (r < 0.9) {
          // a rumor from some other node
          const aboutId = pick(ids);
          const n = byId.get(aboutId);
          let state = pick(['alive', 'suspect', 'dead', 'left'] as const);
          const known = aboutId === 'self' ? selfInc : (m.get(aboutId)?.incarnation ?? n?.inc ?? 1);
          let inc = Math.max(0, known + int(-2, 1));
          if (n?.kind === 'steady') {
            // the adversary may not forge the future of a steady node, nor kill its current incarnation
            inc = Math.min(inc, n.inc);
            if (state === 'dead' || state === 'left') inc = Math.min(inc, n.inc - 1);
            if (state === 'suspect' && inc >= n.inc && rnd() < 0.5) n.bumpPending = true; // it refutes
          }
          if (inc < 0) state = 'alive';
          const from = pick(['s1', 'f1', 'k1', 'ghost', aboutId]);
          const before = selfInc;
          const outs = m.rumor(aboutId, { state, incarnation: Math.max(0, inc), from, now });
          if (aboutId === 'self' && from !== 'self') {
            const harmful = state === 'alive' ? inc > before : inc >= before;
            assert.equal(outs.some((o) => o.type === 'refute'), harmful, `refute on ${state}@${inc} vs ${before}`);
            if (harmful) assert.deepEqual(outs, [{ type: 'refute', incarnation: inc + 1 }]);
          }
          check(outs, `rumor ${aboutId} ${state}@${inc}`);
        } else if (r < 0.93) {
          // a stray probe result
          const target = pick(ids);
          resultSince.add(target);
          check(m.probeResult(target, { ok: rnd() < 0.5, via: pick(['direct', 'indirect'] as const), now }), 'stray');
        } else if (r < 0.94) {
          const victim = pick(nodes.filter((n) => n.kind !== 'steady'));
          const e = m.get(victim.id);
          if (e && (e.state === 'dead' || e.state === 'left')) {
            check(m.remove(victim.id), 'remove');
            lastInc.delete(victim.id);
          }
        } else if (r < 0.95) {
          // clock trouble: small or big backwards step, or a local suspend (forward > maxTickGap)
          const kind = rnd();
          if (kind < 0.4) skew -= int(1, 3000);
          else if (kind < 0.7) skew -= int(6000, 100_000);
          else skew += int(D.maxTickGapMs + 1, 120_000);
          lastDirect.clear();
          check(m.tick(T + skew), 'clock jump');
        } else {
          check(m.tick(now), `tick ${steps}`);
        }
      }

      // a clean ending: no more adversary; steady nodes refute whatever suspicion is left; the
      // killed nodes (and silent flaky ones) must be found dead within ~2 s
      for (const n of nodes) if (n.kind === 'killed') n.killAt = Math.min(n.killAt, T);
      for (const n of nodes) if (n.kind === 'flaky') n.nextBeat = Infinity;
      for (const n of nodes) if (n.kind === 'steady' && m.get(n.id)?.state !== 'alive') n.bumpPending = true;
      pending = [];
      const endAt = T + 2100;
      while (T < endAt) {
        T += 50;
        deliver(T);
        const outs = m.tick(T + skew);
        for (const o of outs) {
          // from now on every probe of a non-steady node fails by timeout
          if (o.type === 'probe' && byId.get(o.target)?.kind === 'steady') {
            const target = o.target;
            const at = T + 1;
            pending.push({ at, target, run: () => m.probeResult(target, { ok: true, via: o.mode, now: at + skew }) });
          }
        }
        check(
          outs.filter((o) => o.type !== 'probe'),
          'final',
        );
      }
      for (const n of nodes) {
        const e = m.get(n.id);
        if (n.kind === 'steady') assert.equal(e?.state, 'alive', `${n.id} should be alive`);
        else if (e) assert.ok(e.state === 'dead' || e.state === 'left', `${n.id} is ${e.state}`);
      }
      assert.ok(steps >= 2000, 'all steps ran');
      assert.ok(sawDead > 0 && sawRefute > 0, `dead ${sawDead} refute ${sawRefute}`);
    });
  }
});
