import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDLE_READ_MAX_AGE_MS, reuseRead, settled } from '../../src/core/leader-reads.ts';
import { planLeaderStep, type PlanInput } from '../../src/core/admission-plan.ts';

const member = (name: string, isLearner = false) => ({ memberId: `m-${name || 'new'}`, name, peerUrl: `https://${name || 'new'}:7373`, isLearner });

test('leader reads: only a settled cluster (no queue, nothing in flight, no learner, every member started) may be planned from an old read', () => {
  const base = { queue: [], inflight: undefined, members: [member('a'), member('b'), member('c')] };
  assert.equal(settled(base), true);
  assert.equal(settled({ ...base, members: [...base.members, member('d', true)] }), false, 'a learner');
  assert.equal(settled({ ...base, members: [...base.members, member('')] }), false, 'a member not started yet');
  assert.equal(settled({ ...base, queue: [{} as never] }), false, 'a joiner queued');
  assert.equal(settled({ ...base, inflight: {} as never }), false, 'an admission in flight');
});

test('leader reads: reused while idle, settled and younger than the limit; read again otherwise', () => {
  const s = { readAt: 10_000, settled: true, busy: false, now: 12_000 };
  assert.equal(reuseRead(s), true);
  assert.equal(reuseRead({ ...s, now: 10_000 + IDLE_READ_MAX_AGE_MS - 1 }), true);
  assert.equal(reuseRead({ ...s, now: 10_000 + IDLE_READ_MAX_AGE_MS }), false, 'too old');
  assert.equal(reuseRead({ ...s, now: 9_000 }), false, 'the clock went back');
  assert.equal(reuseRead({ ...s, readAt: undefined }), false, 'no read yet');
  assert.equal(reuseRead({ ...s, busy: true }), false, 'busy: every step reads');
  assert.equal(reuseRead({ ...s, settled: false }), false, 'something under way');
});

test('leader reads: a dead voter is still seen from an old read, because liveness and the clock are fresh', () => {
  // the cached etcd half says: 3 voters, a spare client; gossip says voter c died 11 s ago
  const nodes = ['a', 'b', 'c', 'd'].map((id) => ({ id, name: id, api: `http://${id}`, addr: id, role: id === 'd' ? 'client' : 'voter', peerUrl: `https://${id}:7373`, clientUrl: `https://${id}:7372`, admittedAt: 0 }));
  const cached: PlanInput = {
    now: 0, selfId: 'a', voterTarget: 3, members: [member('a'), member('b'), member('c')], nodes: nodes as never, queue: [], inflight: undefined,
    liveness: Object.fromEntries(nodes.map((n) => [n.id, { state: 'alive' as const, since: 0 }])),
    deadVoterGraceMs: 10_000, learnerTimeoutMs: 60_000, queueStaleMs: 15_000,
  };
  assert.equal(settled(cached), true);
  assert.equal(planLeaderStep({ ...cached, now: 1000 }).type, 'idle');
  const now = 30_000;
  const fresh = { ...cached, now, liveness: { ...cached.liveness, c: { state: 'dead' as const, since: now - 11_000 } } };
  assert.notEqual(planLeaderStep(fresh).type, 'idle', 'the plan acts (and the driver reads etcd afresh before it does)');
});
