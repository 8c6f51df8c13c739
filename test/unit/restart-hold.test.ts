import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Membership, type Output } from '../../src/core/membership.ts';
import { acceptsNotice, MAX_RESTART_GRACE_MS, RestartHolds, restartVerdict, type MemberFact, type RestartNotice } from '../../src/core/membership/restart-hold.ts';
import { prng } from '../helpers/prng.ts';

const GRACE = 30_000;

/**
 * One observer's membership machine and restart holds, driven like the gossip driver drives them:
 * a tick every 100 ms, every probe it asks for fails (the node is down) unless `answering`.
 */
class Observer {
  readonly m = new Membership({ selfId: 'obs', incarnation: 1 });
  readonly holds = new RestartHolds();
  t = 0;
  answering = false;
  /** 'restarting' while held, else the membership state */
  view(id = 'b'): string {
    const member = this.m.get(id);
    return this.holds.verdict(id, member, this.t).verdict === 'holding' ? 'restarting' : (member?.state ?? 'unknown');
  }
  heartbeat(incarnation: number, id = 'b'): void {
    this.perform(this.m.heartbeat(id, { incarnation, now: this.t }));
  }
  /** a last heartbeat carrying a restart notice: the heartbeat counts first, as in the gossip driver */
  notice(incarnation: number, graceMs = GRACE, id = 'b'): boolean {
    this.heartbeat(incarnation, id);
    return this.holds.notice(id, { incarnation, graceMs, now: this.t }, this.m.get(id));
  }
  /** time passes to `until`; `beat`: the node heartbeats every 250 ms meanwhile at that incarnation */
  runTo(until: number, beat?: number): { expired: string[]; ended: string[] } {
    const swept = { expired: [] as string[], ended: [] as string[] };
    while (this.t < until) {
      this.t = Math.min(until, this.t + 50);
      if (beat !== undefined && this.t % 250 === 0) this.heartbeat(beat);
      if (this.t % 100 === 0) {
        this.perform(this.m.tick(this.t));
        const s = this.holds.sweep(this.t, (id) => this.m.get(id));
        swept.expired.push(...s.expired);
        swept.ended.push(...s.ended);
      }
    }
    return swept;
  }
  private perform(outs: Output[]): void {
    for (const o of outs) {
      if (o.type !== 'probe') continue;
      const ok = this.answering;
      if (o.mode === 'direct') this.perform(this.m.probeResult(o.target, { ok, via: 'direct', now: this.t }));
      else this.perform(this.m.probeResult(o.target, { ok, via: 'indirect', now: this.t }));
    }
  }
}

/** an observer that has known b (and c, a helper for indirect probes) alive at incarnation 1 for 1 s */
function cluster(): Observer {
  const o = new Observer();
  o.heartbeat(1, 'c');
  o.heartbeat(1);
  o.runTo(1000, 1);
  assert.equal(o.view(), 'alive');
  return o;
}

describe('restartVerdict (the pure decision)', () => {
  const notice: RestartNotice = { incarnation: 5, at: 1000, until: 1000 + GRACE };
  const cases: [string, RestartNotice | undefined, MemberFact | undefined, number, string][] = [
    ['no notice', undefined, { state: 'dead', incarnation: 5 }, 2000, 'none'],
    ['member unknown (removed)', notice, undefined, 2000, 'none'],
    ['alive, same incarnation (still stopping)', notice, { state: 'alive', incarnation: 5 }, 2000, 'holding'],
    ['suspect, same incarnation', notice, { state: 'suspect', incarnation: 5 }, 2000, 'holding'],
    ['dead, same incarnation', notice, { state: 'dead', incarnation: 5 }, 2000, 'holding'],
    ['left, same incarnation (a leave moves at once)', notice, { state: 'left', incarnation: 5 }, 2000, 'none'],
    ['back with a higher incarnation', notice, { state: 'alive', incarnation: 6 }, 2000, 'none'],
    ['dead at a higher incarnation (the restarted agent died)', notice, { state: 'dead', incarnation: 6 }, 2000, 'none'],
    ['the first instant of the hold', notice, { state: 'dead', incarnation: 5 }, 1000, 'holding'],
    ['one ms before the grace ends', notice, { state: 'dead', incarnation: 5 }, 1000 + GRACE - 1, 'holding'],
    ['the grace ends exactly now', notice, { state: 'dead', incarnation: 5 }, 1000 + GRACE, 'expired'],
    ['long after the grace', notice, { state: 'dead', incarnation: 5 }, 1e9, 'expired'],
    ['left after the grace', notice, { state: 'left', incarnation: 5 }, 1e9, 'none'],
  ];
  for (const [name, n, member, now, want] of cases) {
    it(name, () => assert.equal(restartVerdict(n, member, now), want));
  }
});

describe('acceptsNotice', () => {
  it('takes a notice of the present life of an alive or suspect member only', () => {
    assert.equal(acceptsNotice({ state: 'alive', incarnation: 5 }, 5, GRACE), true);
    assert.equal(acceptsNotice({ state: 'suspect', incarnation: 5 }, 5, GRACE), true);
    assert.equal(acceptsNotice({ state: 'alive', incarnation: 5 }, 6, GRACE), true, 'a newer incarnation than we heard');
    assert.equal(acceptsNotice(undefined, 5, GRACE), false, 'unknown member');
    assert.equal(acceptsNotice({ state: 'alive', incarnation: 5 }, 4, GRACE), false, 'an earlier life');
    assert.equal(acceptsNotice({ state: 'dead', incarnation: 5 }, 5, GRACE), false, 'already found dead: its replicas may have moved');
    assert.equal(acceptsNotice({ state: 'left', incarnation: 5 }, 5, GRACE), false, 'left');
    for (const g of [0, -1, NaN, Infinity]) assert.equal(acceptsNotice({ state: 'alive', incarnation: 5 }, 5, g), false, `grace ${g}`);
    assert.equal(acceptsNotice({ state: 'alive', incarnation: 5 }, 5.5, GRACE), false, 'not an incarnation');
  });
});

describe('RestartHolds with the membership machine', () => {
  it('announcement, then no return: held through the death, fails over exactly when the grace ends', () => {
    const o = cluster();
    assert.equal(o.notice(1), true);
    const heardAt = o.t;
    assert.equal(o.view(), 'restarting');
    o.runTo(heardAt + 5000);
    assert.equal(o.m.get('b')!.state, 'dead', 'membership finds it dead as for any silent node');
    assert.equal(o.view(), 'restarting', 'but it is held');
    let s = o.runTo(heardAt + GRACE - 100);
    assert.deepEqual(s, { expired: [], ended: [] });
    assert.equal(o.view(), 'restarting');
    s = o.runTo(heardAt + GRACE);
    assert.deepEqual(s.expired, ['b'], 'swept on the tick the grace ends');
    assert.equal(o.view(), 'dead');
    assert.deepEqual(o.holds.ids(), []);
  });

  it('announcement, then back within the grace: the hold ends when the new incarnation is heard', () => {
    const o = cluster();
    o.notice(1);
    o.runTo(6000);
    assert.equal(o.view(), 'restarting');
    o.heartbeat(2);
    assert.equal(o.view(), 'alive', 'back at a higher incarnation');
    const s = o.runTo(6100, 2);
    assert.deepEqual(s, { expired: [], ended: ['b'] });
  });

  it('announcement, back, then kill -9 of the restarted agent: it fails over as on a death, without waiting for the grace', () => {
    const o = cluster();
    o.notice(1);
    o.runTo(4000);
    o.heartbeat(2);
    o.runTo(5000, 2);
    const lastBeat = o.t;
    o.runTo(lastBeat + 2100); // silent: kill -9
    assert.equal(o.view(), 'dead', 'dead within the detector\'s ~2 s');
  });

  it('the restarted agent dies before any of its heartbeats is heard: failover when the grace ends', () => {
    const o = cluster();
    o.notice(1);
    o.runTo(1000 + GRACE - 50);
    assert.equal(o.view(), 'restarting');
    o.runTo(1000 + GRACE);
    assert.equal(o.view(), 'dead');
  });

  it('a stale announcement from an earlier incarnation starts no hold, and does not shorten a death', () => {
    const o = cluster();
    o.heartbeat(2); // b restarted (or refuted) since
    assert.equal(o.notice(1), false, 'an earlier life');
    assert.equal(o.view(), 'alive');
    o.runTo(5000);
    assert.equal(o.view(), 'dead', 'a silent node with no notice of its present life dies as always');
    // a notice held for an older incarnation is ended by a newer life even if it arrived first
    const p = cluster();
    p.notice(1);
    p.heartbeat(3);
    assert.equal(p.notice(2), false, 'older than the member we know');
    assert.equal(p.view(), 'alive');
  });

  it('a notice from a node already found dead does not bring a hold (its replicas may have moved)', () => {
    const o = cluster();
    o.runTo(4000);
    assert.equal(o.view(), 'dead');
    assert.equal(o.notice(1), false);
    assert.equal(o.view(), 'dead');
  });

  it('a leave after the notice moves at once', () => {
    const o = cluster();
    o.notice(1);
    o.m.leave('b', { incarnation: 1, now: o.t });
    assert.equal(o.view(), 'left');
    assert.deepEqual(o.runTo(o.t + 100).ended, ['b']);
  });

  it('a grace is capped, and a renewed notice of the same life restarts it; an older one never replaces a newer', () => {
    const o = cluster();
    o.notice(1, MAX_RESTART_GRACE_MS * 10);
    assert.equal(o.holds.verdict('b', o.m.get('b'), o.t + MAX_RESTART_GRACE_MS - 1).verdict, 'holding');
    assert.equal(o.holds.verdict('b', o.m.get('b'), o.t + MAX_RESTART_GRACE_MS).verdict, 'expired');
    const h = new RestartHolds();
    const alive7: MemberFact = { state: 'alive', incarnation: 7 };
    assert.equal(h.notice('x', { incarnation: 8, graceMs: 1000, now: 0 }, alive7), true);
    assert.equal(h.notice('x', { incarnation: 7, graceMs: 99_000, now: 10 }, alive7), false);
    assert.equal(h.verdict('x', { state: 'dead', incarnation: 8 }, 999).verdict, 'holding');
    assert.equal(h.verdict('x', { state: 'dead', incarnation: 8 }, 1000).verdict, 'expired');
    assert.equal(h.notice('x', { incarnation: 8, graceMs: 1000, now: 500 }, { state: 'alive', incarnation: 8 }), true);
    assert.equal(h.verdict('x', { state: 'dead', incarnation: 8 }, 1499).verdict, 'holding');
    assert.throws(() => h.notice('x', { incarnation: 8, graceMs: 1000, now: NaN }, alive7), RangeError);
  });

  it('sweep drops notices of removed members and reports in id order', () => {
    const h = new RestartHolds();
    const m: MemberFact = { state: 'alive', incarnation: 1 };
    for (const id of ['c', 'a', 'b']) h.notice(id, { incarnation: 1, graceMs: 100, now: 0 }, m);
    const facts: Record<string, MemberFact | undefined> = { a: { state: 'dead', incarnation: 1 }, b: { state: 'dead', incarnation: 1 }, c: undefined };
    assert.deepEqual(h.sweep(50, (id) => facts[id]), { expired: [], ended: ['c'] });
    assert.deepEqual(h.sweep(100, (id) => facts[id]), { expired: ['a', 'b'], ended: [] });
    assert.deepEqual(h.ids(), []);
  });

  it('randomized schedules: a node reads restarting only within the grace of a notice of its present, not left, life', () => {
    const seen = { restarting: 0, expiredDead: 0 };
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = prng(seed);
      const o = cluster();
      let inc = 1;
      let notice: { inc: number; at: number; grace: number } | undefined;
      let alive = true;
      for (let step = 0; step < 60; step++) {
        const r = rnd();
        if (r < 0.15 && alive) {
          const grace = 500 + Math.floor(rnd() * 5000);
          if (o.notice(inc, grace)) notice = { inc, at: o.t, grace };
          alive = false;
        } else if (r < 0.3 && !alive) {
          inc += 1 + Math.floor(rnd() * 2);
          alive = true;
        } else if (r < 0.35) {
          o.m.leave('b', { incarnation: inc, now: o.t });
        } else if (r < 0.45) {
          alive = !alive; // kill -9 / an old incarnation's stray beat
        }
        o.runTo(o.t + Math.floor(rnd() * 1500) + 50, alive ? inc : undefined);
        const member = o.m.get('b')!;
        const v = o.view();
        if (v === 'restarting') seen.restarting++;
        if (v === 'dead' && notice && member.incarnation === notice.inc && o.t >= notice.at + notice.grace) seen.expiredDead++;
        if (v === 'restarting') {
          assert.ok(notice, `seed ${seed}: restarting without a notice`);
          assert.equal(member.incarnation, notice.inc, `seed ${seed}: held past a newer life`);
          assert.notEqual(member.state, 'left', `seed ${seed}: held after a leave`);
          assert.ok(o.t < notice.at + notice.grace, `seed ${seed}: held past the grace`);
        } else if (notice && member.incarnation === notice.inc && member.state !== 'left' && o.t < notice.at + notice.grace) {
          assert.fail(`seed ${seed}: a notice of the present life within its grace must hold (state ${v})`);
        }
      }
    }
    // the schedules reach both outcomes, many times
    assert.ok(seen.restarting > 100 && seen.expiredDead > 10, JSON.stringify(seen));
  });
});
