import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRecoveryReport, planRecovery, type ReceivedReport, type RecoveryInput, type RecoveryReport } from '../../src/core/quorum-recovery.ts';
import type { MemberState } from '../../src/core/views.ts';
import { prng } from '../helpers/prng.ts';

const NOW = 1_000_000;
const GRACE = 4000;
const FRESH = 3500;

function input(o: Partial<RecoveryInput> & { dead?: string[]; alive?: string[] }): RecoveryInput {
  const { dead = [], alive = [], ...rest } = o;
  const liveness: RecoveryInput['liveness'] = {};
  for (const id of alive) liveness[id] = { state: 'alive', since: NOW - 60_000 };
  for (const id of dead) liveness[id] = { state: 'dead', since: NOW - 10_000 };
  return {
    now: NOW,
    selfId: 'a',
    clusterId: 'c1',
    registry: ['a', 'b', 'c'],
    voters: ['a', 'b'],
    selfIndex: 40,
    selfMemberStopped: false,
    quorumLostSince: NOW - 10_000,
    liveness,
    reports: [],
    graceMs: GRACE,
    freshMs: FRESH,
    ...rest,
  };
}

function report(from: string, r: Partial<RecoveryReport>, age = 500): ReceivedReport {
  return { from, receivedAt: NOW - age, report: { type: 'recovery', clusterId: 'c1', voters: ['a', 'b'], lost: ['b'], registrySize: 3, candidate: 'a', ...r } };
}

describe('quorum recovery: the decision', () => {
  it('waits while the quorum is healthy or lost only moments ago', () => {
    assert.equal(planRecovery(input({ quorumLostSince: null, dead: ['b'], alive: ['c'] })).type, 'wait');
    const recent = planRecovery(input({ quorumLostSince: NOW - 1000, dead: ['b'], alive: ['c'], reports: [report('c', {})] }));
    assert.equal(recent.type, 'wait');
  });

  it('2 voters, 1 dead, the client endorses: the survivor rebuilds', () => {
    const d = planRecovery(input({ dead: ['b'], alive: ['c'], reports: [report('c', {})] }));
    assert.deepEqual(d, { type: 'recover', lost: ['b'], endorsedBy: ['a', 'c'] });
  });

  it('alone it is no majority of the admitted nodes', () => {
    const d = planRecovery(input({ dead: ['b'], alive: ['c'] }));
    assert.equal(d.type, 'wait');
    assert.match(d.type === 'wait' ? d.why : '', /1 of 3/);
    assert.equal(d.type === 'wait' && d.report?.candidate, 'a', 'it still says whom it endorses');
  });

  it('a voter dead for less than the grace, or only suspect, is not lost yet', () => {
    const young = input({ alive: ['c'], reports: [report('c', {})] });
    young.liveness.b = { state: 'dead', since: NOW - 1000 };
    assert.equal(planRecovery(young).type, 'wait');
    const suspect = input({ alive: ['c'], reports: [report('c', {})] });
    suspect.liveness.b = { state: 'suspect', since: NOW - 60_000 };
    assert.equal(planRecovery(suspect).type, 'wait');
  });

  it('never when the lost voters could hold a quorum elsewhere (2 of 3 lost): that is a person\'s call', () => {
    const d = planRecovery(input({ voters: ['a', 'b', 'x'], registry: ['a', 'b', 'x', 'c', 'e'], dead: ['b', 'x'], alive: ['c', 'e'], reports: [report('c', { voters: ['a', 'b', 'x'], lost: ['b', 'x'] }), report('e', { voters: ['a', 'b', 'x'], lost: ['b', 'x'] })] }));
    assert.equal(d.type, 'wait');
    assert.match(d.type === 'wait' ? d.why : '', /warren recover/);
    // and 1 of 3 lost is etcd's own business (it still has a quorum)
    const one = planRecovery(input({ voters: ['a', 'b', 'x'], dead: ['b'], alive: ['x', 'c'] }));
    assert.equal(one.type, 'wait');
  });

  it('ignores reports of other clusters, of other voter sets, of non-members and stale ones', () => {
    for (const r of [report('c', { clusterId: 'other' }), report('c', { voters: ['a', 'x'] }), report('z', {}), report('c', {}, FRESH + 1), report('c', { lost: ['a'] })]) {
      assert.equal(planRecovery(input({ dead: ['b'], alive: ['c'], reports: [r] })).type, 'wait', JSON.stringify(r));
    }
  });

  it('counts a majority of the largest registry anyone reports', () => {
    const d = planRecovery(input({ dead: ['b'], alive: ['c'], reports: [report('c', { registrySize: 5 })] }));
    assert.equal(d.type, 'wait');
  });

  it('4 voters split 2/2: the survivor with the higher raft index is the candidate; the other stands down first', () => {
    const base = { voters: ['a', 'b', 'x', 'y'], registry: ['a', 'b', 'x', 'y', 'c'], dead: ['x', 'y'], alive: ['b', 'c'] };
    const bReport = (r: Partial<RecoveryReport>) => report('b', { voters: base.voters, lost: ['x', 'y'], registrySize: 5, ...r });
    // b (index 50) is ahead of a (40): a endorses b and stops its member
    const a = planRecovery(input({ ...base, reports: [bReport({ index: 50, candidate: null })] }));
    assert.equal(a.type, 'stop-member');
    assert.equal(a.type === 'stop-member' && a.candidate, 'b');
    assert.equal(a.type === 'stop-member' && a.report.memberStopped, true);
    // before a's index is known nobody is chosen
    const bEarly = planRecovery(input({ ...base, selfId: 'b', selfIndex: 50, alive: ['a', 'c'] }));
    assert.equal(bEarly.type, 'wait');
    assert.equal(bEarly.type === 'wait' && bEarly.report?.candidate, null);
    // b waits until a has stopped its member, then needs a majority (3 of 5)
    const cReport = report('c', { voters: base.voters, lost: ['x', 'y'], registrySize: 5, candidate: 'b' });
    const notStopped = planRecovery(input({ ...base, selfId: 'b', selfIndex: 50, alive: ['a', 'c'], reports: [report('a', { voters: base.voters, lost: ['x', 'y'], registrySize: 5, index: 40, candidate: 'b' }), cReport] }));
    assert.equal(notStopped.type, 'wait');
    const go = planRecovery(input({ ...base, selfId: 'b', selfIndex: 50, alive: ['a', 'c'], reports: [report('a', { voters: base.voters, lost: ['x', 'y'], registrySize: 5, index: 40, candidate: 'b', memberStopped: true }), cReport] }));
    assert.deepEqual(go, { type: 'recover', lost: ['x', 'y'], endorsedBy: ['a', 'b', 'c'] });
  });

  it('an endorsement is for good: a node never endorses another candidate for the same voters', () => {
    const d = planRecovery(input({ selfId: 'c', selfIndex: undefined, dead: ['b'], alive: ['a'], endorsed: { voters: ['a', 'b'], candidate: 'zz' } }));
    assert.equal(d.type === 'wait' && d.report?.candidate, 'zz');
  });

  it('reads gossiped reports field by field', () => {
    const good = { type: 'recovery', clusterId: 'c', voters: ['a'], lost: [], registrySize: 2, candidate: null, index: 3 };
    assert.deepEqual(parseRecoveryReport(good), { ...good });
    for (const bad of [{ ...good, voters: 'a' }, { ...good, registrySize: -1 }, { ...good, candidate: 5 }, { ...good, index: 1.5 }, { ...good, memberStopped: 'yes' }, { ...good, type: 'x' }, { ...good, voters: Array(65).fill('a') }]) {
      assert.equal(parseRecoveryReport(bad as Record<string, unknown>), undefined, JSON.stringify(bad));
    }
  });
});

// ---------------------------------------------------------------- adversarial simulation

interface SimNode {
  id: string;
  skew: number;
  dead: boolean;
  /** runs an etcd member of the old voter set */
  member: boolean;
  index: number;
  endorsed?: { voters: string[]; candidate: string; memberStopped?: boolean };
  reports: Map<string, ReceivedReport>;
  lostSince: number | null;
  pausedUntil: number;
}

const STEP = 250;
const DETECT_SUSPECT = 1000;
const DETECT_DEAD = 1850;

/**
 * One seeded run: k admitted nodes, n voters (2..5) of them with random raft indexes; kills,
 * partitions (and heals) and pauses at random; every node runs the real decision every second
 * with its own skewed clock and its own view (liveness from connectivity, reports delivered only
 * inside a partition, some lost). Checks: at most one rebuild; when it happens the old voter set
 * can never again reach a quorum; the rebuilt log holds every committed entry.
 */
function runSim(seed: number): { recovered: boolean } {
  const rnd = prng(seed);
  const n = 2 + Math.floor(rnd() * 4);
  const k = n + Math.floor(rnd() * 4);
  const ids = Array.from({ length: k }, (_, i) => `n${i}`);
  const voters = ids.slice(0, n);
  const q = Math.floor(n / 2) + 1;
  const nodes = new Map<string, SimNode>(ids.map((id, i) => [id, { id, skew: Math.floor(rnd() * 20_000) - 10_000, dead: false, member: i < n, index: i < n ? 100 + Math.floor(rnd() * 5) : 0, reports: new Map(), lostSince: null, pausedUntil: 0 }]));
  // raft logs are prefixes of each other: committed = the highest index a quorum holds
  const committed = voters.map((v) => nodes.get(v)!.index).sort((a, b) => b - a)[q - 1]!;
  let group = new Map<string, number>(ids.map((id) => [id, 0]));
  const apart = new Map<string, number>(); // pair -> time they lost contact
  const rebuilt: string[] = [];
  const connected = (a: string, b: string) => group.get(a) === group.get(b) && !nodes.get(a)!.dead && !nodes.get(b)!.dead;
  const pair = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);

  for (let t = 0; t < 90_000; t += STEP) {
    // faults
    const r = rnd();
    if (r < 0.004) {
      const victim = ids[Math.floor(rnd() * k)]!;
      nodes.get(victim)!.dead = true;
    } else if (r < 0.01) {
      group = new Map(ids.map((id) => [id, rnd() < 0.5 ? 0 : 1]));
    } else if (r < 0.014) {
      group = new Map(ids.map((id) => [id, 0]));
    } else if (r < 0.016) {
      nodes.get(ids[Math.floor(rnd() * k)]!)!.pausedUntil = t + 1500;
    }
    for (const a of ids) for (const b of ids) if (a < b) {
      if (connected(a, b)) apart.delete(pair(a, b));
      else if (!apart.has(pair(a, b))) apart.set(pair(a, b), t);
    }
    // does each node reach a quorum of the old voter set? (members not stopped, connected)
    for (const node of nodes.values()) {
      if (node.dead) continue;
      const reach = voters.filter((v) => nodes.get(v)!.member && !rebuilt.includes(v) && (v === node.id || connected(node.id, v))).length;
      const inNew = rebuilt.length > 0 && (node.id === rebuilt[0] || connected(node.id, rebuilt[0]!));
      const ok = reach >= q || inNew;
      if (ok) node.lostSince = null;
      else node.lostSince ??= t;
    }
    if (t % 1000 !== 0) continue;
    for (const node of nodes.values()) {
      if (node.dead || t < node.pausedUntil || node.lostSince === null) continue;
      if (rebuilt.includes(node.id)) continue;
      const clock = t + node.skew;
      const liveness: Record<string, { state: MemberState; since: number }> = {};
      for (const other of ids) {
        if (other === node.id) continue;
        const since = apart.get(pair(node.id, other));
        if (since === undefined) liveness[other] = { state: 'alive', since: node.skew };
        else if (t - since >= DETECT_DEAD) liveness[other] = { state: 'dead', since: since + DETECT_DEAD + node.skew };
        else if (t - since >= DETECT_SUSPECT) liveness[other] = { state: 'suspect', since: since + DETECT_SUSPECT + node.skew };
        else liveness[other] = { state: 'alive', since: node.skew };
      }
      const action = planRecovery({
        now: clock, selfId: node.id, clusterId: 'c', registry: ids, voters,
        ...(node.member ? { selfIndex: node.index } : {}),
        selfMemberStopped: node.endorsed?.memberStopped === true,
        quorumLostSince: node.lostSince + node.skew,
        liveness, reports: [...node.reports.values()],
        ...(node.endorsed ? { endorsed: node.endorsed } : {}),
        graceMs: GRACE, freshMs: FRESH,
      });
      let out: RecoveryReport | undefined;
      if (action.type === 'recover') {
        rebuilt.push(node.id);
        assert.equal(rebuilt.length, 1, `seed ${seed}: a second rebuild by ${node.id} after ${rebuilt[0]}`);
        assert.ok(node.index >= committed, `seed ${seed}: ${node.id} rebuilt from index ${node.index} < committed ${committed}`);
        const oldMembers = voters.filter((v) => v !== node.id && nodes.get(v)!.member).length;
        assert.ok(oldMembers < q, `seed ${seed}: the old voters keep ${oldMembers} members (quorum ${q}) beside ${node.id}'s rebuilt cluster`);
        node.member = false; // its member now belongs to the new cluster
        continue;
      }
      if (action.type === 'stop-member') {
        node.endorsed = { voters, candidate: action.candidate, memberStopped: true };
        node.member = false;
        out = action.report;
      } else {
        out = action.report;
        if (out?.candidate && !node.endorsed) node.endorsed = { voters, candidate: out.candidate };
      }
      if (!out) continue;
      for (const other of nodes.values()) {
        if (other.id !== node.id && connected(node.id, other.id) && rnd() > 0.1) other.reports.set(node.id, { from: node.id, report: out, receivedAt: t + other.skew });
      }
    }
  }
  return { recovered: rebuilt.length > 0 };
}

describe('quorum recovery: adversarial simulation', () => {
  it('never two clusters, never a committed entry lost (kills, partitions, pauses, clock skew)', () => {
    const seeds = Number(process.env.RECOVERY_SIM_SEEDS ?? 300);
    let recovered = 0;
    for (let seed = 1; seed <= seeds; seed++) if (runSim(seed).recovered) recovered++;
    console.log(`# ${seeds} seeds, ${recovered} rebuilt a cluster`);
    assert.ok(recovered > 0, 'some schedules must lead to a rebuild, or the simulation tests nothing');
  });
});
