/** The leader's scheduler (src/core/scheduler.ts) over random worlds: every invariant holds at every step, and it settles. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ScheduleInput, SchedulePlan, SchedNode } from '../../src/core/scheduler.ts';
import type { Constraint, ReplicaStatus, ServiceSpec, Slot } from '../../src/core/service-types.ts';
import { prng } from '../helpers/prng.ts';
import { MiB, GiB, node, health, svc, label, status, world, run, allRunning } from '../helpers/scheduler-world.ts';

// ------------------------------------------------------------------ randomized simulation

interface SimNode extends SchedNode {
  present: boolean;
}
interface SimStats {
  [k: string]: number;
}

const deviceNeeds = (spec: ServiceSpec) => (spec.options?.devices ?? []).map((d) => d.host);
/** a replica may stay: the constraints hold and the node lacks no device it has checked */
const matches = (n: SchedNode, spec: ServiceSpec) =>
  spec.constraints.every((c) => (c.kind === 'node' ? n.name === c.value || n.id === c.value : n.labels[c.key] === c.value)) && deviceNeeds(spec).every((p) => n.devices?.[p] !== false);
/** a replica may be placed: it may stay, and the node has every device */
const takes = (n: SchedNode, spec: ServiceSpec) => matches(n, spec) && deviceNeeds(spec).every((p) => n.devices?.[p] === true);
/** the nodes that may take a new replica of `spec` (memory aside) */
const eligible = (nodes: SchedNode[], spec: ServiceSpec) => nodes.filter((n) => n.state === 'alive' && !n.draining && takes(n, spec));

/** whether a replica on node `id` holds one of `spec`'s host-network ports (a node that cannot take it) */
const portHeld = (w: ScheduleInput, spec: ServiceSpec, id: string) =>
  (spec.options?.hostPorts ?? []).some((port) => w.services.some((o) => o.options?.hostPorts?.includes(port) && w.assignments[o.name]!.slots.some((q) => q.nodeId === id)));

/** invariants of one step: `w` was planned into `plan`, `next` is the result (run() checked idempotence) */
function check(w: ScheduleInput, plan: SchedulePlan, next: ScheduleInput, at: string, stats: SimStats): void {
  const byId = new Map(w.nodes.map((n) => [n.id, n]));
  assert.deepEqual(Object.keys(next.assignments).sort(), w.services.map((s) => s.name).sort(), `${at}: one record per service`);
  const running = (service: string, s: Slot) => w.statuses.some((r) => r.service === service && r.slot === s.index && r.nodeId === s.nodeId && r.generation === s.generation && r.state === 'running');
  for (const spec of w.services) {
    const rec = next.assignments[spec.name]!;
    const prev = new Map((w.assignments[spec.name]?.slots ?? []).map((s) => [s.index, s]));
    const ok = eligible(w.nodes, spec);
    const why = `${at} ${spec.name}`;
    assert.deepEqual(rec.slots.map((s) => s.index), [...Array(spec.replicas).keys()], `${why}: slots 0..replicas-1`);
    assert.deepEqual(Object.keys(rec.specs).map(Number).sort(), [...new Set([spec.generation, ...rec.slots.map((s) => s.generation)])].sort(), `${why}: specs`);
    assert.equal(rec.specs[spec.generation]!.image, spec.image);
    let drained = 0;
    let updated = 0;
    const moving: number[] = [];
    for (const s of rec.slots) {
      const n = s.nodeId === null ? undefined : byId.get(s.nodeId);
      const p = prev.get(s.index);
      if (s.nodeId !== null) {
        assert.ok(n && n.state !== 'dead' && n.state !== 'left', `${why}/${s.index}: on a gone node ${s.nodeId}`);
        assert.ok(matches(n, spec), `${why}/${s.index}: ${n.name} breaks the constraints`);
      } else if (!spec.memoryBytes) {
        const free = ok.filter((o) => !portHeld(next, spec, o.id));
        assert.equal(free.length, 0, `${why}/${s.index}: unplaced although ${free.map((o) => o.name)} could take it`);
      }
      const failedHere = w.statuses.some((r) => r.service === spec.name && r.slot === s.index && r.nodeId === p?.nodeId && r.generation === p?.generation && r.failure === 'image' && r.state === 'failed');
      const movedHere = s.nodeId !== null && s.nodeId !== (p?.nodeId ?? null);
      if (movedHere) {
        assert.ok(n!.state === 'alive' && !n!.draining, `${why}/${s.index}: placed on ${n!.state}${n!.draining ? ' draining' : ''} ${n!.name}`);
        assert.ok(takes(n!, spec), `${why}/${s.index}: placed on ${n!.name}, which lacks a device`);
        for (const port of spec.options?.hostPorts ?? []) {
          const holders = next.services.flatMap((o) => (o.options?.hostPorts?.includes(port) ? next.assignments[o.name]!.slots.filter((q) => q.nodeId === s.nodeId).map((q) => `${o.name}/${q.index}`) : []));
          assert.deepEqual(holders, [`${spec.name}/${s.index}`], `${why}/${s.index}: placed on ${n!.name} where ${port} is held`);
          stats.hostPortPlaced = (stats.hostPortPlaced ?? 0) + 1;
        }
        const shared = rec.slots.some((o) => o !== s && o.nodeId === s.nodeId);
        // a slot kept off nodes that could not pull its image may have to share
        if (!failedHere && !rec.slots.some((o) => o.avoid?.length) && !spec.memoryBytes && ok.length >= spec.replicas) assert.ok(!shared, `${why}/${s.index}: shares ${n!.name} with enough nodes`);
        stats.placed = (stats.placed ?? 0) + 1;
      }
      const pn = p?.nodeId ? byId.get(p.nodeId) : undefined;
      if (pn?.draining && pn.state !== 'dead' && pn.state !== 'left' && s.nodeId !== p!.nodeId && !failedHere && matches(pn, spec)) {
        drained++;
        moving.push(s.index);
      }
      if (p && p.nodeId !== null && s.nodeId === p.nodeId && s.generation !== p.generation) {
        updated++;
        moving.push(s.index);
      }
    }
    // drains and updates go one at a time: each waits for every other replica (drain) or every
    // placed one of the current generation (update) to run, so only the last one may not run yet
    if (drained || updated) {
      const waiting = rec.slots.filter((s) => (drained || (s.nodeId !== null && s.generation === spec.generation)) && !running(spec.name, s));
      assert.ok(waiting.length <= 1 && waiting.every((s) => moving.includes(s.index)), `${why}: ${drained} drained, ${updated} updated, ${waiting.length} replicas not running`);
      if (drained) stats.drained = (stats.drained ?? 0) + 1;
      if (updated) stats.updated = (stats.updated ?? 0) + 1;
    }
  }
  for (const e of plan.events) {
    const p = w.assignments[e.payload.service]?.slots.find((s) => s.index === e.payload.slot);
    assert.ok(!p || p.nodeId !== e.payload.node, `${at}: event for a slot that did not change: ${JSON.stringify(e)}`);
    const k = `${e.name}${e.payload.node === null ? ':null' : ''}`;
    stats[k] = (stats[k] ?? 0) + 1;
    if (e.payload.reason?.startsWith('image')) stats.imageMoves = (stats.imageMoves ?? 0) + 1;
    if (e.payload.reason?.includes('has no device')) stats.deviceMoves = (stats.deviceMoves ?? 0) + 1;
    if (e.payload.reason?.includes('has device')) stats.deviceWaits = (stats.deviceWaits ?? 0) + 1;
    if (e.payload.reason?.includes('free (network_mode: host')) stats.hostPortWaits = (stats.hostPortWaits ?? 0) + 1;
  }
}

function simulate(seed: number, stats: SimStats): void {
  const rnd = prng(seed);
  const pick = <T>(xs: T[]): T | undefined => xs[Math.floor(rnd() * xs.length)];
  const chance = (p: number) => rnd() < p;
  const pool: SimNode[] = [...Array(3 + Math.floor(rnd() * 4)).keys()].map((i) => ({
    ...node(`n${i}`, { labels: { zone: i % 2 ? 'a' : 'b' }, ...(i % 3 === 0 ? { devices: { '/dev/zb': i === 0 } } : {}) }),
    present: true,
    health: chance(0.5) ? health(Math.floor(rnd() * 3) * GiB) : undefined,
  }));
  const constraintsFor = (): Constraint[] => pick([[], [], [label('zone', 'a')], [{ kind: 'node', value: pick(pool)!.name }], [label('gpu', 'yes')]])!;
  let w = world({});
  let counter = 0;
  const mutate = () => {
    const n = pick(pool)!;
    const s = pick(w.services);
    const replace = (spec: ServiceSpec, extra: Partial<ServiceSpec>) => (w = { ...w, services: w.services.map((x) => (x === spec ? { ...x, ...extra } : x)) });
    switch (Math.floor(rnd() * 14)) {
      case 0: n.state = 'dead'; break;
      case 1: n.state = 'alive'; break;
      case 2: n.state = n.state === 'alive' ? 'suspect' : 'alive'; break;
      case 3: n.state = chance(0.5) ? 'left' : 'alive'; break;
      case 4: if (n.present) n.present = false; else Object.assign(n, { present: true, state: 'unknown' }); break;
      case 5: n.draining = !n.draining; break;
      case 6: n.labels = { zone: n.labels.zone === 'a' ? 'b' : 'a', ...(chance(0.3) ? { gpu: 'yes' } : {}) }; break;
      // a device plugged in or out (or not checked yet) where device services are likely to run
      case 12:
      case 13: Object.assign(chance(0.3) ? n : pool[0]!, { devices: pick([undefined, { '/dev/zb': true }, { '/dev/zb': false }]) }); break;
      case 7:
        if (w.services.length < 4) {
          const memoryBytes = chance(0.25) ? 512 * MiB : undefined;
          const roll = rnd();
          const options = roll < 0.3 ? { devices: [{ host: '/dev/zb', container: '/dev/zb', permissions: 'rwm' }] } : roll < 0.55 ? { hostNetwork: true, hostPorts: [pick(['80/tcp', '53/udp'])!] } : undefined;
          w = { ...w, services: [...w.services, svc(`s${counter++}`, { replicas: Math.floor(rnd() * 5), constraints: constraintsFor(), memoryBytes, options })] };
        }
        break;
      case 8: if (s) replace(s, { replicas: Math.floor(rnd() * 6) }); break;
      case 9: if (s) replace(s, { generation: s.generation + 1, image: `${s.name}:${s.generation + 1}` }); break;
      case 10: if (s) replace(s, { constraints: constraintsFor() }); break;
      case 11: if (s && chance(0.5)) w = { ...w, services: w.services.filter((x) => x !== s) }; break;
    }
  };
  /** nodes report what they were told, some late, some with an image they cannot pull */
  const follow = (p: number): ReplicaStatus[] => {
    const old = new Map(w.statuses.map((r) => [`${r.service}/${r.slot}`, r]));
    const out: ReplicaStatus[] = [];
    for (const spec of w.services) {
      for (const s of w.assignments[spec.name]?.slots ?? []) {
        const was = old.get(`${spec.name}/${s.index}`);
        const n = s.nodeId ? pool.find((x) => x.id === s.nodeId) : undefined;
        if (n && n.present && n.state !== 'dead' && n.state !== 'left' && chance(p)) {
          const r = rnd();
          out.push(r < 0.04 ? status(spec.name, s.index, n.id, s.generation, 'failed', { failure: 'image' }) : status(spec.name, s.index, n.id, s.generation, r < 0.1 ? 'starting' : 'running'));
        } else if (was) out.push(was);
      }
    }
    return out;
  };
  const nodesNow = (): SchedNode[] => pool.filter((n) => n.present).map(({ present: _, ...n }) => ({ ...n, labels: { ...n.labels }, ...(n.devices ? { devices: { ...n.devices } } : {}) }));

  for (let step = 0; step < 50; step++) {
    for (let k = Math.floor(rnd() * 3); k > 0; k--) mutate();
    w = { ...w, nodes: nodesNow(), statuses: follow(0.5) };
    const { plan, w: next } = run(w, `seed ${seed} step ${step}`);
    check(w, plan, next, `seed ${seed} step ${step}`, stats);
    w = next;
  }

  // churn stops and every replica starts: the plan settles
  for (let i = 0; ; i++) {
    w = { ...allRunning(w), nodes: nodesNow() };
    const { plan, w: next } = run(w, `seed ${seed} settling ${i}`);
    if (plan.writes.length === 0) break;
    assert.ok(i < 30, `seed ${seed}: does not settle`);
    check(w, plan, next, `seed ${seed} settling ${i}`, stats);
    w = next;
  }
  for (const spec of w.services) {
    const ok = eligible(w.nodes, spec);
    for (const s of w.assignments[spec.name]!.slots) {
      assert.equal(s.generation, spec.generation, `seed ${seed} settled: ${spec.name}/${s.index} is on the current generation`);
      const n = w.nodes.find((x) => x.id === s.nodeId);
      const elsewhere = ok.filter((o) => !s.avoid?.includes(o.id) && !portHeld(w, spec, o.id));
      if (n?.draining && !spec.memoryBytes) assert.equal(elsewhere.length, 0, `seed ${seed} settled: ${spec.name}/${s.index} stays on draining ${n.name}`);
    }
  }
}

describe('planSchedule: randomized schedules', () => {
  it('keeps every invariant and settles, over many seeds', (t) => {
    const stats: SimStats = {};
    // SCHEDULER_SIM_SEEDS=first:count runs other seeds (a longer search)
    const [first, count] = (process.env.SCHEDULER_SIM_SEEDS ?? '1:60').split(':').map(Number) as [number, number];
    for (let seed = first; seed < first + count; seed++) simulate(seed, stats);
    for (const k of ['service.scheduled', 'service.scheduled:null', 'service.moved', 'service.moved:null', 'drained', 'updated', 'imageMoves', 'deviceWaits', 'hostPortPlaced', 'hostPortWaits']) {
      assert.ok((stats[k] ?? 0) > 0, `the schedules never reached ${k}: ${JSON.stringify(stats)}`);
    }
    t.diagnostic(JSON.stringify(stats));
  });
});
