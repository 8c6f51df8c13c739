import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckModel, clockStep, CORE_FAULT_KINDS, diskIops, faultSchedule, FAULT_KINDS, linkPeer, PAIRED_KINDS, workload, SERVICE_NAMES, type Op } from '../chaos/model.ts';
import { prng } from '../helpers/prng.ts';

test('the fault schedule is a function of the seed, covers every kind and stays within the nodes', () => {
  assert.deepEqual(faultSchedule(7, 5, 50), faultSchedule(7, 5, 50));
  assert.notDeepEqual(faultSchedule(7, 5, 50), faultSchedule(8, 5, 50));
  const many = faultSchedule(1, 5, 500);
  assert.deepEqual(new Set(many.map((f) => f.kind)), new Set(FAULT_KINDS));
  assert.ok(many.every((f) => f.node >= 0 && f.node < 5 && f.holdMs >= 0 && f.holdMs <= 14_000 && f.pick >= 0 && f.pick < 1));
  assert.deepEqual(new Set(many.map((f) => f.node)), new Set([0, 1, 2, 3, 4]));
});

test('the core kinds keep the in-suite seed\'s schedule (test/integration/chaos.test.ts describes it) and never touch the whole machine', () => {
  const first = faultSchedule(1, 3, 5, CORE_FAULT_KINDS).map((f) => `${f.kind}@${f.node}/${Math.round(f.holdMs / 100) / 10}`);
  assert.deepEqual(first.slice(0, 5).map((x) => x.split('@')[0]), ['remove-container', 'kill-joiner', 'kill-etcd', 'pause-agent', 'partition']);
  assert.match(first[3]!, /\/3\.2$/);
  assert.equal(first[4], 'partition@0/6.7');
  assert.ok(faultSchedule(1, 5, 500, CORE_FAULT_KINDS).every((f) => f.kind !== 'restart-docker' && f.kind !== 'fill-disk'));
});

test('paired faults: two single-node faults on two different nodes, about 3 in 10 of those that can pair; without pairing the schedule is as before', () => {
  const plain = faultSchedule(11, 5, 2000);
  const paired = faultSchedule(11, 5, 2000, FAULT_KINDS, true);
  assert.ok(plain.every((f) => f.also === undefined));
  assert.deepEqual(faultSchedule(11, 5, 2000), plain, 'a function of the seed');
  assert.deepEqual(faultSchedule(11, 5, 2000, FAULT_KINDS, true), paired, 'a function of the seed, paired too');
  const withPair = paired.filter((f) => f.also);
  const pairable = paired.filter((f) => PAIRED_KINDS.includes(f.kind));
  assert.ok(withPair.length > 0.2 * pairable.length && withPair.length < 0.4 * pairable.length, `${withPair.length} of ${pairable.length}`);
  const nodePairs = new Set<string>();
  for (const f of withPair) {
    const b = f.also!;
    assert.ok(PAIRED_KINDS.includes(f.kind) && PAIRED_KINDS.includes(b.kind), `${f.kind} + ${b.kind}`);
    assert.ok(b.node !== f.node && b.node >= 0 && b.node < 5 && b.n === f.n && b.also === undefined);
    nodePairs.add(`${f.node}+${b.node}`);
  }
  assert.equal(nodePairs.size, 20, 'every ordered pair of nodes comes up');
  assert.deepEqual(new Set(withPair.map((f) => f.also!.kind)), new Set(PAIRED_KINDS));
  // kinds left out of the run are never paired in
  assert.ok(faultSchedule(11, 5, 2000, ['kill-agent', 'partition'], true).every((f) => !f.also || ['kill-agent', 'partition'].includes(f.also.kind)));
});

test('a clock step is 1-30 min back or 1-60 min ahead, both ways come up', () => {
  assert.equal(clockStep({ pick: 0 }), -60);
  assert.equal(clockStep({ pick: 0.4999999 }), -1800);
  assert.equal(clockStep({ pick: 0.5 }), 60);
  assert.equal(clockStep({ pick: 0.9999999 }), 3600);
  const steps = faultSchedule(5, 5, 3000).filter((f) => f.kind === 'clock-jump').map(clockStep);
  assert.ok(steps.every((s) => (s >= -1800 && s <= -60) || (s >= 60 && s <= 3600)));
  assert.ok(steps.some((s) => s < 0) && steps.some((s) => s > 0));
});

test('a slow disk is throttled to 3-40 I/O operations a second; the core run never slows one', () => {
  assert.equal(diskIops({ pick: 0 }), 3);
  assert.equal(diskIops({ pick: 0.9999999 }), 40);
  const limits = faultSchedule(5, 5, 3000).filter((f) => f.kind === 'slow-disk').map(diskIops);
  assert.ok(limits.length > 0 && limits.every((n) => Number.isInteger(n) && n >= 3 && n <= 40));
  assert.ok(faultSchedule(5, 5, 3000, CORE_FAULT_KINDS).every((f) => f.kind !== 'slow-disk' && f.also === undefined));
});

test('the workload is a function of the seed', () => {
  const a = workload(3);
  const b = workload(3);
  for (let i = 0; i < 100; i++) assert.deepEqual(a(), b());
});

test('a cut link joins two different nodes, and every ordered pair comes up', () => {
  for (const nodes of [3, 5, 9]) {
    const pairs = new Set<string>();
    for (const f of faultSchedule(3, nodes, 2000)) {
      const peer = linkPeer(f, nodes);
      assert.ok(peer !== f.node && peer >= 0 && peer < nodes, `${f.node} -> ${peer} of ${nodes}`);
      pairs.add(`${f.node}>${peer}`);
    }
    assert.equal(pairs.size, nodes * (nodes - 1));
  }
});

const create = (name: string, replicas: number, v: number): Op => ({ kind: 'create', name, replicas, v });

test('acknowledged writes pin the state; a contradicting answer or observation is a violation', () => {
  const m = new AckModel();
  assert.equal(m.check('chaos-a', undefined), undefined);
  assert.equal(m.record(create('chaos-a', 2, 1), 'ok'), undefined);
  assert.deepEqual(m.states('chaos-a'), [{ replicas: 2, v: 1 }]);
  assert.equal(m.record({ kind: 'update', name: 'chaos-a', v: 5 }, 'ok'), undefined);
  assert.equal(m.check('chaos-a', { replicas: 2, v: 5 }), undefined);
  assert.match(m.check('chaos-a', { replicas: 2, v: 1 })!, /acknowledged writes allow only replicas=2 CHAOS_V=5/);
  assert.match(m.check('chaos-a', undefined)!, /is absent/);
  // a create refused with 409 is explained (it exists); a 404 on update is not: its create was acknowledged
  assert.equal(m.record(create('chaos-a', 1, 9), 'refused'), undefined);
  assert.match(m.record({ kind: 'update', name: 'chaos-a', replicas: 1 }, 'refused')!, /answered refused/);
  // reported once: the next observation settles it
  assert.equal(m.record({ kind: 'remove', name: 'chaos-a' }, 'ok'), undefined);
  m.settle('chaos-a', undefined);
  assert.deepEqual(m.states('chaos-a'), [undefined]);
});

test('an unanswered write leaves both outcomes possible, and a later answer narrows them', () => {
  const m = new AckModel();
  m.record(create('chaos-b', 1, 1), 'unknown');
  assert.equal(m.check('chaos-b', undefined), undefined);
  assert.equal(m.check('chaos-b', { replicas: 1, v: 1 }), undefined);
  assert.equal(m.maxReplicas('chaos-b'), 1);
  assert.ok(m.inDoubt('chaos-b'), 'an unanswered write leaves the service in doubt');
  // a 409 on the next create says the first was applied
  m.record(create('chaos-b', 2, 2), 'refused');
  assert.deepEqual(m.states('chaos-b'), [{ replicas: 1, v: 1 }]);
  assert.ok(!m.inDoubt('chaos-b'));
  // an invalid request changes nothing
  m.record({ kind: 'update', name: 'chaos-b', replicas: 2 }, 'invalid');
  assert.deepEqual(m.states('chaos-b'), [{ replicas: 1, v: 1 }]);
});

test('random histories of a correct cluster never raise a violation; dropping an acknowledged write does', () => {
  let detected = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = prng(seed);
    const next = workload(seed);
    const m = new AckModel();
    // a reference cluster that applies every write it is sent, answering some of them with silence
    const truth = new Map<string, { replicas: number; v: number } | undefined>();
    let lostOne = false;
    // after a forgotten write is checked, the run settles on what the cluster says (as run.ts does)
    for (let i = 0; i < 60; i++) {
      const op = next();
      const s = truth.get(op.name);
      const applicable = op.kind === 'create' ? s === undefined : s !== undefined;
      // at most once per history the cluster "forgets" an acknowledged write
      const forget = seed % 2 === 0 && !lostOne && applicable && op.kind !== 'remove' && rnd() < 0.1;
      const result = op.kind === 'create' ? { replicas: op.replicas, v: op.v } : op.kind === 'remove' || !s ? undefined : { replicas: op.replicas ?? s.replicas, v: op.v ?? s.v };
      if (applicable && !forget) truth.set(op.name, result);
      if (forget) lostOne = true;
      const outcome = rnd() < 0.2 ? 'unknown' : applicable ? 'ok' : 'refused';
      const problem = m.record(op, outcome);
      if (!lostOne) assert.equal(problem, undefined, `seed ${seed} step ${i}`);
      // a forgotten acknowledged write that changed something is seen at the next check
      if (forget && outcome === 'ok' && JSON.stringify(result) !== JSON.stringify(s)) {
        assert.match(m.check(op.name, truth.get(op.name)) ?? '', /acknowledged writes allow only/, `seed ${seed} step ${i}`);
        detected++;
      }
      if (forget) m.settle(op.name, truth.get(op.name));
    }
    const complaints = SERVICE_NAMES.map((n) => m.check(n, truth.get(n))).filter(Boolean);
    if (!lostOne) assert.deepEqual(complaints, [], `seed ${seed}`);
  }
  assert.ok(detected >= 10, `only ${detected} lost writes were made`);
});
