/**
 * The heartbeat relay's decisions (src/core/heartbeat-relay.ts): what a node says it hears, and
 * whether a heartbeat goes on to its mesh. Exhaustive over small meshes and report states, then
 * randomized sequences checked against the rule stated plainly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HEARD_WITHIN, HeartbeatRelay, MAX_HEARS, REPORT_FRESH } from '../../src/core/heartbeat-relay.ts';

const I = 250;

test('a heartbeat counts as heard only when it came straight from its author, and only for the window', () => {
  const r = new HeartbeatRelay();
  r.heard('a', 'b', 0); // relayed by b
  assert.deepEqual(r.hears(0, I), []);
  r.heard('a', 'a', 100);
  assert.deepEqual(r.hears(100, I), ['a']);
  assert.deepEqual(r.hears(100 + HEARD_WITHIN * I, I), ['a'], 'still inside the window');
  assert.deepEqual(r.hears(101 + HEARD_WITHIN * I, I), [], 'past it');
  r.heard('a', 'a', 1000);
  assert.deepEqual(r.hears(1000, 2 * I), ['a'], 'a stretched interval stretches the window');
  assert.deepEqual(r.hears(1000 + HEARD_WITHIN * I + 1, 2 * I), ['a']);
  r.forget('a');
  assert.deepEqual(r.hears(1000, I), []);
});

test('what a node says it hears is bounded, and stale entries never fill the bound', () => {
  const r = new HeartbeatRelay();
  for (let i = 0; i < MAX_HEARS + 50; i++) r.heard(`old${i}`, `old${i}`, 0);
  for (let i = 0; i < MAX_HEARS + 50; i++) r.heard(`new${i}`, `new${i}`, 10_000);
  const heard = r.hears(10_000, I);
  assert.equal(heard.length, MAX_HEARS);
  assert.ok(heard.every((id) => id.startsWith('new')));
});

/** Every combination of a mesh of up to three peers (besides author and source) and each peer's report. */
test('relayed unless every other mesh peer said lately that it hears the author (exhaustive)', () => {
  type Report = 'none' | 'silent' | 'fresh-hears' | 'fresh-not' | 'stale-hears' | 'cleared';
  const kinds: Report[] = ['none', 'silent', 'fresh-hears', 'fresh-not', 'stale-hears', 'cleared'];
  const now = 10_000;
  const combos = (n: number): Report[][] => (n === 0 ? [[]] : combos(n - 1).flatMap((c) => kinds.map((k) => [...c, k])));
  for (let size = 0; size <= 3; size++) {
    for (const reports of combos(size)) {
      for (const withAuthor of [false, true]) {
        for (const withSource of [false, true]) {
          const r = new HeartbeatRelay();
          const peers = reports.map((_, i) => `p${i}`);
          reports.forEach((k, i) => {
            const at = k.startsWith('stale') ? now - REPORT_FRESH * I - 1 : now - REPORT_FRESH * I;
            if (k === 'silent') r.report(peers[i]!, ['someone-else'], at);
            if (k === 'fresh-hears' || k === 'stale-hears') r.report(peers[i]!, ['a'], at);
            if (k === 'fresh-not') r.report(peers[i]!, [], at);
            if (k === 'cleared') {
              r.report(peers[i]!, ['a'], at);
              r.report(peers[i]!, undefined, at); // then a heartbeat that does not say (an older agent)
            }
          });
          const mesh = [...peers, ...(withAuthor ? ['a'] : []), ...(withSource ? ['s'] : [])];
          // the author and the source say nothing: they never count
          const expected = reports.some((k) => k !== 'fresh-hears');
          assert.equal(r.shouldRelay('a', 's', mesh, now, I), expected, JSON.stringify({ reports, withAuthor, withSource }));
        }
      }
    }
  }
});

test('a cut link: the peer behind it stops listing the author, and the relay starts again with its next report', () => {
  const a = new HeartbeatRelay(); // what peer x says
  const b = new HeartbeatRelay(); // the node that decides whether to relay the author's heartbeat to x
  let t = 0;
  const step = () => {
    t += I;
    a.heard('author', 'author', t);
    b.report('x', a.hears(t, I), t);
  };
  for (let i = 0; i < 8; i++) step();
  assert.equal(b.shouldRelay('author', 'author', ['x'], t, I), false, 'x hears the author itself');
  const cutAt = t;
  let relayedAt: number | undefined;
  for (let i = 0; i < 12 && relayedAt === undefined; i++) {
    t += I; // the author's heartbeats no longer reach x
    b.report('x', a.hears(t, I), t);
    if (b.shouldRelay('author', 'author', ['x'], t, I)) relayedAt = t;
  }
  assert.ok(relayedAt !== undefined);
  assert.ok(relayedAt - cutAt <= (HEARD_WITHIN + 1) * I, `relayed again ${relayedAt - cutAt} ms after the cut`);
});

test('randomized: never kept while a mesh peer lacks a fresh report that it hears the author', () => {
  const id = fc.constantFrom('a', 'b', 'c', 'd', 'e');
  const op = fc.oneof(
    fc.record({ kind: fc.constant('heard' as const), author: id, source: id, dt: fc.nat({ max: 600 }) }),
    fc.record({ kind: fc.constant('report' as const), member: id, hears: fc.option(fc.uniqueArray(id, { maxLength: 5 }), { nil: undefined }), dt: fc.nat({ max: 600 }) }),
    fc.record({ kind: fc.constant('forget' as const), member: id, dt: fc.constant(0) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), id, id, fc.uniqueArray(id, { maxLength: 5 }), (ops, author, source, mesh) => {
      const r = new HeartbeatRelay();
      const model = new Map<string, { hears: string[]; at: number }>();
      let now = 0;
      for (const o of ops) {
        now += o.dt;
        if (o.kind === 'heard') r.heard(o.author, o.source, now);
        if (o.kind === 'report') {
          r.report(o.member, o.hears, now);
          if (o.hears) model.set(o.member, { hears: o.hears, at: now });
          else model.delete(o.member);
        }
        if (o.kind === 'forget') {
          r.forget(o.member);
          model.delete(o.member);
        }
      }
      const needy = mesh.some((p) => {
        if (p === author || p === source) return false;
        const m = model.get(p);
        return !m || now - m.at > REPORT_FRESH * I || !m.hears.includes(author);
      });
      assert.equal(r.shouldRelay(author, source, mesh, now, I), needy);
    }),
    { seed: Number(process.env.FUZZ_SEED ?? 1), numRuns: 2000 },
  );
});
