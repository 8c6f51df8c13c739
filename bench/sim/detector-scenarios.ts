import { median, percentile } from '../results.ts';
import { DetectorSim } from './detector-sim.ts';

/** 5% loss per message and receiver, 1-20 ms one way (a home LAN or a tailnet). */
const NET = { loss: 0.05, latencyMs: [1, 20] as [number, number] };

export interface DeathFigures {
  nodes: number;
  /** from the kill until the last live node marked it dead */
  allMarkedMs: number;
  medianMarkedMs: number;
  /** live nodes that never marked it dead within the run */
  missed: number;
  /** 'dead' verdicts about nodes that were alive all along */
  falseDead: number;
  /** 'suspect' verdicts about nodes that were alive all along (refuted) */
  falseSuspect: number;
  receivedPerNodeS: number;
  publishedPerNodeS: number;
  simMs: number;
}

/**
 * A formed cluster of `nodes` under 5% loss; one node is killed 1 s in; the run goes on 10 s
 * more. Every 'dead' verdict about another node is a false one.
 */
export function deathUnderLoss(nodes: number, seed: number): DeathFigures {
  const killAt = 1000;
  const end = killAt + 10_000;
  const sim = new DetectorSim(nodes, { ...NET, seed });
  const victim = nodes - 1;
  sim.run(killAt);
  sim.startCounting();
  sim.kill(victim);
  sim.run(end);
  const first = new Map<number, number>();
  for (const v of sim.deadVerdicts) if (v.about === victim && !first.has(v.observer)) first.set(v.observer, v.at - killAt);
  const times = [...first.values()];
  return {
    nodes,
    allMarkedMs: times.length ? Math.max(...times) : NaN,
    medianMarkedMs: times.length ? median(times) : NaN,
    missed: nodes - 1 - first.size,
    falseDead: sim.deadVerdicts.filter((v) => v.about !== victim).length,
    falseSuspect: sim.suspectVerdicts.filter((v) => v.about !== victim).length,
    receivedPerNodeS: sim.rates().received,
    publishedPerNodeS: sim.rates().published,
    simMs: end,
  };
}

export interface PartitionFigures {
  nodes: number;
  cut: number;
  /** from the cut until every majority node marked every cut-off node dead */
  majorityMarkedMs: number;
  /** p50 of the same, per (observer, cut-off node) pair */
  medianMarkedMs: number;
  /** after the heal: pairs (observer, other) where the observer still holds the other dead */
  splitPairsAfterHeal: number;
  /** time after the heal until no pair was split any more (NaN: not within the run) */
  healedMs: number;
}

/**
 * 10% of the nodes cut off for `cutMs`, then the network heals; the run goes on `afterMs`.
 * Under 5% loss, as above.
 */
export function partition(nodes: number, seed: number, cutMs = 12_000, afterMs = 10_000): PartitionFigures {
  const cutAt = 2000;
  const sim = new DetectorSim(nodes, { ...NET, seed });
  const cut = Array.from({ length: Math.max(1, Math.round(nodes / 10)) }, (_, i) => i);
  const cutSet = new Set(cut);
  sim.run(cutAt);
  sim.net.partition(cut);
  sim.run(cutAt + cutMs);
  const seen = new Map<string, number>();
  for (const v of sim.deadVerdicts) {
    if (cutSet.has(v.observer) || !cutSet.has(v.about)) continue;
    const key = `${v.observer}|${v.about}`;
    if (!seen.has(key)) seen.set(key, v.at - cutAt);
  }
  const pairs = (nodes - cut.length) * cut.length;
  const marked = [...seen.values()];
  sim.net.heal();
  const healAt = cutAt + cutMs;
  const split = () => {
    let n = 0;
    for (const node of sim.nodes) for (const m of node.m.list()) if (m.state === 'dead') n++;
    return n;
  };
  let healedMs = NaN;
  for (let t = healAt + 500; t <= healAt + afterMs; t += 500) {
    sim.run(t);
    if (split() === 0) {
      healedMs = t - healAt;
      break;
    }
  }
  return {
    nodes,
    cut: cut.length,
    majorityMarkedMs: marked.length === pairs ? Math.max(...marked) : NaN,
    medianMarkedMs: marked.length ? percentile(marked, 50) : NaN,
    splitPairsAfterHeal: split(),
    healedMs,
  };
}
