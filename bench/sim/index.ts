import type { Metric } from '../results.ts';
import { admitSimultaneous, coldStart } from './admission-sim.ts';
import { deathUnderLoss, partition } from './detector-scenarios.ts';

/**
 * `npm run bench -- sim`: the protocol at 50, 200 and 1,000 nodes, by discrete-event simulation
 * of the real machines (src/core membership, founding, admission-plan). Seeded: SIM_SEED=N.
 */
export async function benchSim(): Promise<Record<string, Metric>> {
  const seed = Number(process.env.SIM_SEED ?? 1);
  const out: Record<string, Metric> = {};
  const put = (name: string, value: number, unit: string, extra: Record<string, unknown> = {}) => (out[`sim.${name}`] = { value, unit, ...extra });
  for (const n of [50, 200, 1000]) {
    const t0 = performance.now();
    const d = deathUnderLoss(n, seed);
    put(`n${n}.death_all_marked_ms`, d.allMarkedMs, 'ms', { median: Math.round(d.medianMarkedMs), missed: d.missed, loss: 0.05, goal: 'memberlist/Serf 4-24 s, Swarm ~15 s' });
    put(`n${n}.false_dead_5pct_loss`, d.falseDead, 'count', { falseSuspect: d.falseSuspect, nodeSeconds: (n * d.simMs) / 1000, goal: '0' });
    put(`n${n}.msgs_received_per_node_s`, d.receivedPerNodeS, 'msg/s', { published: Math.round(d.publishedPerNodeS * 100) / 100 });
    console.log(`  sim: ${n} nodes, death under 5% loss simulated in ${Math.round(performance.now() - t0)} ms`);
  }
  const p = partition(200, seed);
  put('n200.partition_marked_ms', p.majorityMarkedMs, 'ms', { cut: p.cut, median: Math.round(p.medianMarkedMs) });
  put('n200.partition_split_pairs_after_heal', p.splitPairsAfterHeal, 'pairs', { healedMs: p.healedMs, note: '10% cut off for 12 s, then healed; pairs still holding each other dead 10 s later' });
  const short = partition(200, seed, 3000);
  put('n200.partition_3s_false_dead', short.splitPairsAfterHeal, 'pairs', { note: '10% cut off for 3 s: nobody may be declared dead', goal: '0' });
  for (const [existing, target] of [[3, 3], [100, 5], [900, 5]] as const) {
    const a = admitSimultaneous(existing, 100, target, seed);
    put(`n${existing + 100}.admit_100_joiners_ms`, a.allAdmittedMs, 'ms', { existing, voterTarget: target, median: Math.round(a.medianAdmittedMs), broadcasts: a.broadcasts, refusedFollowUps: a.refusedFollowUps, voters: a.voters });
  }
  // 1,000 machines switched on within one second is not a case worth minutes of simulation
  for (const n of [50, 200]) {
    const f = coldStart(n, seed);
    put(`n${n}.cold_start_founders`, f.founders, 'count', { allDecidedMs: Math.round(f.allDecidedMs), goal: '1' });
  }
  return out;
}
