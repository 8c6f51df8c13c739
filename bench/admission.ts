import { cli, startAgent, type AgentHandle } from '../test/helpers/agents.ts';
import { healthBody, healthy, members } from './agent-api.ts';
import { admission } from '../test/helpers/cluster.ts';
import { cleanupAllLans, createLan } from '../test/helpers/netns.ts';
import { nsJson, nsLog, startNsAgents, type NsAgent } from '../test/helpers/ns-agents.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { loadAvg1, quietMachine } from './machine.ts';
import { median, type Metric } from './results.ts';

/**
 * Admission benchmarks (real agent processes; loopback addresses 127.0.10.x-127.0.12.x, every
 * agent with --open so joiners are admitted without an operator):
 *   admission.join_ms                 a node --join'ing a running 3-voter cluster -> admitted and alive for every member
 *   admission.grow_to_3_voters_ms     1 voter + 1 client, a third node joins -> 3 healthy etcd voters
 *   admission.concurrent8_ms          founder + 8 joiners started at once -> all 8 admitted and 3 voters
 *   admission.concurrent8_failures    joiners of that run that exited, logged "cannot join the cluster" or were not in within 120 s
 *   admission.founding_clusters_n5   5 fresh agents on a netns LAN with mDNS -> number of clusters formed (max over trials)
 */

const ARGS = ['--log-level', 'info', '--open'];
const JOIN_TRIALS = 5;
const GROW_TRIALS = 3;
const CONCURRENT_TRIALS = Number(process.env.WARREN_BENCH_CONCURRENT_TRIALS ?? 2);
const CONCURRENT_JOINERS = 8;
const CONCURRENT_TIMEOUT_MS = 120_000;
const FOUNDING_TRIALS = 5;
const FOUNDING_HOSTS = 5;
const FOUNDING_TIMEOUT_MS = 120_000;
/** bounded polling interval */
const POLL_MS = 25;
/** how long to wait for other test runs to finish before measuring anyway */
const QUIET_WAIT_MS = Number(process.env.WARREN_BENCH_QUIET_WAIT_MS ?? 120_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number) => Math.round(x);
/** agents under admission load answer fast or are counted as not answering */
const API_TIMEOUT_MS = 1000;

/** The admission view's voters as "id:learner" pairs; [] when the agent does not answer. */
async function voters(a: AgentHandle): Promise<{ id: string; isLearner: boolean }[]> {
  return ((await admission(a).catch(() => ({ voters: [] }))).voters ?? []) as { id: string; isLearner: boolean }[];
}

async function threeVoters(a: AgentHandle): Promise<boolean> {
  const v = await voters(a);
  return v.length === 3 && v.every((x) => !x.isLearner);
}

function assertRunning(agents: AgentHandle[]): void {
  const dead = agents.find((a) => !a.running);
  if (dead) throw new Error(`agent ${dead.bind} exited with ${dead.exitCode}: ${dead.log().slice(-600)}`);
}

/** SIGKILL every agent (its etcd follows by pdeathsig) and wait until the etcds are gone. */
async function stopAll(agents: AgentHandle[]): Promise<void> {
  await Promise.all(agents.map((a) => a.stop('SIGKILL', 5000)));
  await waitFor('the etcd children gone', () => agents.every((a) => a.etcdPids().length === 0), 20_000, 50).catch(() => undefined);
}




/** Starts `ips[0]` (it founds the cluster), then the others one at a time with --join of it. */
async function startCluster(ips: string[]): Promise<AgentHandle[]> {
  const all = [await startAgent({ bind: ips[0]!, args: ARGS })];
  try {
    for (const ip of ips.slice(1)) {
      const a = await startAgent({ bind: ip, waitReady: false, args: ['--join', ips[0]!, ...ARGS] });
      all.push(a);
      await waitFor(`${ip} admitted (health 200)`, async () => {
        assertRunning([a]);
        return healthy(a.api, API_TIMEOUT_MS);
      }, 90_000, 50);
    }
  } catch (err) {
    await stopAll(all);
    throw err;
  }
  return all;
}

// ------------------------------------------------------------------------------------------------

/** A running 3-voter cluster; a new node --join's it: time until admitted and alive for every member. */
async function benchJoin(): Promise<Metric> {
  const quiet = await quietMachine('admission.join', QUIET_WAIT_MS);
  const ips = ['127.0.10.2', '127.0.10.3', '127.0.10.4'];
  const cluster = await startCluster(ips);
  const joins: number[] = [];
  const admitted: number[] = [];
  try {
    await waitFor('3 voters', () => threeVoters(cluster[0]!), 60_000, 50);
    const ids = await Promise.all(cluster.map(async (a) => (await a.health()).body.node.id as string));
    await waitFor('the 3 members seeing each other alive', async () => {
      const views = await Promise.all(cluster.map((a) => members(a, API_TIMEOUT_MS).catch(() => [])));
      return views.every((v) => ids.every((id) => v.some((m) => m.id === id && m.state === 'alive')));
    }, 30_000, 50);
    console.log('bench: admission.join: 3-voter cluster up');

    for (let trial = 0; trial < JOIN_TRIALS; trial++) {
      await sleep(1000); // a steady cluster
      const ip = `127.0.10.${10 + trial}`;
      const t0 = performance.now();
      // a fresh data dir (startAgent makes one) for every trial: a new identity
      const node = await startAgent({ bind: ip, waitReady: false, args: ['--join', ips[0]!, ...ARGS] });
      try {
        let id: string | undefined;
        let admittedMs = -1;
        const everyone = [...cluster, node];
        await waitFor(`${ip} admitted and alive for every member`, async () => {
          assertRunning(everyone);
          if (!id) {
            const body = await healthBody(node, API_TIMEOUT_MS);
            if (!body) return false;
            id = body.node.id as string;
            admittedMs = performance.now() - t0;
          }
          const views = await Promise.all(everyone.map((a) => members(a, API_TIMEOUT_MS).catch(() => [])));
          return views.every((v) => v.some((m) => m.id === id && m.state === 'alive'));
        }, 30_000, POLL_MS);
        const ms = performance.now() - t0;
        joins.push(ms);
        admitted.push(admittedMs);
        console.log(`bench: admission.join trial ${trial + 1}: admitted (health 200) at ${round(admittedMs)} ms, alive for all 4 members at ${round(ms)} ms`);
        // a graceful stop announces a leave; wait (bounded) until the members have it as left
        await node.stop('SIGTERM', 15_000);
        const gone = id;
        await waitFor('the stopped node no longer alive for the members', async () => {
          const views = await Promise.all(cluster.map((a) => members(a, API_TIMEOUT_MS).catch(() => [])));
          return views.every((v) => !v.some((m) => m.id === gone && m.state === 'alive'));
        }, 10_000, 50).catch(() => console.log('bench: admission.join: the stopped node is still listed alive after 10 s'));
      } finally {
        await node.stop('SIGKILL', 5000);
      }
    }
  } finally {
    await stopAll(cluster);
  }
  return { value: median(joins), unit: 'ms', goal: '<= 2000', runs: joins.map(round), admittedRuns: admitted.map(round), atStart: quiet, loadAvg1AtEnd: loadAvg1() };
}

// ------------------------------------------------------------------------------------------------

/** 1 voter + 1 client; a third node joins: time until 3 healthy voters (admission view and every node's health). */
async function benchGrow(): Promise<Metric> {
  const quiet = await quietMachine('admission.grow_to_3_voters', QUIET_WAIT_MS);
  const times: number[] = [];
  const admittedRuns: number[] = [];
  for (let trial = 0; trial < GROW_TRIALS; trial++) {
    const ips = [2, 3, 4].map((k) => `127.0.11.${10 * trial + k}`);
    const agents = await startCluster(ips.slice(0, 2));
    try {
      // the second node is a client (the voter count is never 2): wait until that is settled
      await waitFor('1 voter + 1 client, queue empty', async () => {
        const view = await admission(agents[0]!);
        const roles = await Promise.all(agents.map(async (a) => (await healthBody(a, API_TIMEOUT_MS))?.etcd.role));
        return view.voters.length === 1 && !view.voters[0].isLearner && view.queue.length === 0 && roles[0] === 'voter' && roles[1] === 'client';
      }, 30_000, 50);
      await sleep(1000);
      const t0 = performance.now();
      const third = await startAgent({ bind: ips[2]!, waitReady: false, args: ['--join', ips[0]!, ...ARGS] });
      agents.push(third);
      let admittedMs = -1;
      await waitFor('3 healthy etcd voters', async () => {
        assertRunning(agents);
        const bodies = await Promise.all(agents.map((a) => healthBody(a, API_TIMEOUT_MS)));
        if (admittedMs < 0 && bodies[2]) admittedMs = performance.now() - t0;
        if (!bodies.every((b) => b?.etcd.role === 'voter' && b.etcd.healthy)) return false;
        const v = await voters(agents[0]!);
        const ids = bodies.map((b) => b.node.id as string).sort();
        return v.length === 3 && v.every((x) => !x.isLearner) && v.map((x) => x.id).sort().join() === ids.join();
      }, 60_000, POLL_MS);
      const ms = performance.now() - t0;
      times.push(ms);
      admittedRuns.push(admittedMs);
      console.log(`bench: admission.grow_to_3_voters trial ${trial + 1}: third node admitted at ${round(admittedMs)} ms, 3 healthy voters at ${round(ms)} ms`);
    } finally {
      await stopAll(agents);
    }
  }
  return { value: median(times), unit: 'ms', goal: '<= 8000', runs: times.map(round), thirdAdmittedRuns: admittedRuns.map(round), atStart: quiet, loadAvg1AtEnd: loadAvg1() };
}

// ------------------------------------------------------------------------------------------------

interface ConcurrentResult {
  /** ms until all joiners admitted and 3 voters; NaN when not all got in */
  ms: number;
  failures: number;
  failed: string[];
  /** per joiner: ms until its health was 200 (-1: never) */
  admittedMs: number[];
  threeVotersMs: number;
}

/** Founder + 8 joiners started at the same instant. */
async function concurrentTrial(trial: number): Promise<ConcurrentResult> {
  const base = 2 + 20 * trial;
  const founderIp = `127.0.12.${base}`;
  const ips = Array.from({ length: CONCURRENT_JOINERS }, (_, i) => `127.0.12.${base + 1 + i}`);
  const t0 = performance.now();
  const all = await Promise.all([
    startAgent({ bind: founderIp, waitReady: false, args: ARGS }),
    ...ips.map((ip) => startAgent({ bind: ip, waitReady: false, args: ['--join', founderIp, ...ARGS] })),
  ]);
  const founder = all[0]!;
  const joiners = all.slice(1);
  const admittedMs = joiners.map(() => -1);
  let threeVotersMs = -1;
  let lastReport = performance.now();
  try {
    while (performance.now() - t0 < CONCURRENT_TIMEOUT_MS) {
      if (!founder.running) throw new Error(`the founder exited with ${founder.exitCode}: ${founder.log().slice(-600)}`);
      const pending = joiners.map((j, i) => i).filter((i) => admittedMs[i]! < 0 && joiners[i]!.running);
      const ok = await Promise.all(pending.map((i) => healthy(joiners[i]!.api, API_TIMEOUT_MS)));
      const now = performance.now() - t0;
      pending.forEach((i, k) => {
        if (ok[k]) admittedMs[i] = now;
      });
      if (threeVotersMs < 0 && (await threeVoters(founder))) threeVotersMs = performance.now() - t0;
      const settled = joiners.every((j, i) => admittedMs[i]! >= 0 || !j.running);
      if (settled && threeVotersMs >= 0) break;
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        console.log(`bench: admission.concurrent8 trial ${trial + 1} at ${round(now / 1000)} s: ${admittedMs.filter((x) => x >= 0).length}/8 admitted, ${await admission(founder).then((v: any) => String(v.voters.filter((x: any) => !x.isLearner).length), () => '?')} voters`);
      }
      await sleep(50);
    }
    const failed: string[] = [];
    joiners.forEach((j, i) => {
      const why = !j.running ? `exited with ${j.exitCode}${admittedMs[i]! >= 0 ? ' after admission' : ''}` : /cannot join the cluster/.test(j.log()) ? 'logged "cannot join the cluster"' : admittedMs[i]! < 0 ? `not admitted within ${CONCURRENT_TIMEOUT_MS / 1000} s` : '';
      if (why) failed.push(`${j.bind}: ${why}`);
    });
    const allIn = admittedMs.every((x) => x >= 0);
    const ms = allIn && threeVotersMs >= 0 ? Math.max(threeVotersMs, ...admittedMs) : NaN;
    return { ms, failures: failed.length, failed, admittedMs: admittedMs.map(round), threeVotersMs: round(threeVotersMs) };
  } finally {
    await stopAll(all);
  }
}

async function benchConcurrent(): Promise<Record<string, Metric>> {
  const quiet = await quietMachine('admission.concurrent8', QUIET_WAIT_MS);
  const results: ConcurrentResult[] = [];
  for (let trial = 0; trial < CONCURRENT_TRIALS; trial++) {
    const r = await concurrentTrial(trial);
    results.push(r);
    console.log(`bench: admission.concurrent8 trial ${trial + 1}: ${Number.isNaN(r.ms) ? 'NOT all in' : `all 8 in and 3 voters at ${round(r.ms)} ms`} (3 voters at ${r.threeVotersMs} ms), ${r.failures} failures${r.failed.length ? `: ${r.failed.join('; ')}` : ''}`);
    if (trial === 0 && !Number.isNaN(r.ms) && r.ms > 60_000) break; // a second trial would take too long
  }
  const times = results.map((r) => r.ms);
  return {
    'admission.concurrent8_ms': {
      value: times.some(Number.isNaN) ? NaN : round(median(times)),
      unit: 'ms',
      goal: '<= 40000',
      trials: results.length,
      runs: times.map((t) => (Number.isNaN(t) ? null : round(t))),
      threeVotersRuns: results.map((r) => r.threeVotersMs),
      admittedMsPerTrial: results.map((r) => r.admittedMs),
      atStart: quiet,
      loadAvg1AtEnd: loadAvg1(),
    },
    'admission.concurrent8_failures': {
      value: results.reduce((s, r) => s + r.failures, 0),
      unit: 'count',
      goal: '0',
      trials: results.length,
      perTrial: results.map((r) => r.failures),
      failed: results.flatMap((r) => r.failed),
    },
  };
}

// ------------------------------------------------------------------------------------------------

interface FoundingTrial {
  clusters: number;
  allMembers: boolean;
  allMembersMs: number;
  founders: number;
  exited: number;
}

/** 5 fresh agents in network namespaces with mDNS, no --join: how many clusters form. */
async function foundingTrial(trial: number): Promise<FoundingTrial> {
  const lan = await createLan({ prefix: 'wba', hosts: FOUNDING_HOSTS, rootAddress: true });
  try {
    const t0 = performance.now();
    const agents = await startNsAgents(lan, ['--open']);
    const views = new Map<NsAgent, any>();
    let allMembersMs = -1;
    while (performance.now() - t0 < FOUNDING_TIMEOUT_MS) {
      await Promise.all(agents.filter((a) => !views.has(a) && a.child.exitCode === null).map(async (a) => {
        const v = await nsJson(a, '/v1/admission').catch(() => undefined);
        if (v?.phase === 'member') views.set(a, v);
      }));
      if (views.size === agents.length) {
        allMembersMs = performance.now() - t0;
        break;
      }
      if (agents.every((a) => views.has(a) || a.child.exitCode !== null)) break;
      await sleep(50);
    }
    // the cluster ids as every agent sees them now (a member's id is final)
    const final = await Promise.all(agents.map((a) => nsJson(a, '/v1/admission').then((v) => v.clusterId as string | undefined, () => views.get(a)?.clusterId as string | undefined)));
    const clusters = new Set(final.filter(Boolean)).size;
    const result: FoundingTrial = {
      clusters,
      allMembers: allMembersMs >= 0,
      allMembersMs: round(allMembersMs),
      founders: agents.filter((a) => nsLog(a).includes('founding a new cluster')).length,
      exited: agents.filter((a) => a.child.exitCode !== null).length,
    };
    console.log(`bench: admission.founding_clusters_n5 trial ${trial + 1}: ${result.allMembers ? `all 5 members at ${result.allMembersMs} ms` : `NOT all members within ${FOUNDING_TIMEOUT_MS / 1000} s`}, ${clusters} cluster(s), ${result.founders} founder(s)${result.exited ? `, ${result.exited} exited` : ''}`);
    return result;
  } finally {
    await lan.cleanup();
  }
}

async function benchFounding(): Promise<Metric> {
  const quiet = await quietMachine('admission.founding_clusters_n5', QUIET_WAIT_MS);
  const trials: FoundingTrial[] = [];
  for (let trial = 0; trial < FOUNDING_TRIALS; trial++) trials.push(await foundingTrial(trial));
  const done = trials.filter((t) => t.allMembers).map((t) => t.allMembersMs);
  return {
    value: Math.max(...trials.map((t) => t.clusters)),
    unit: 'count',
    goal: '1',
    perTrial: trials.map((t) => t.clusters),
    allMembersMsPerTrial: trials.map((t) => (t.allMembers ? t.allMembersMs : null)),
    allMembersMsMedian: done.length ? round(median(done)) : null,
    foundersPerTrial: trials.map((t) => t.founders),
    trialsNotAllMembers: trials.filter((t) => !t.allMembers).length,
    atStart: quiet,
    loadAvg1AtEnd: loadAvg1(),
  };
}

// ------------------------------------------------------------------------------------------------

/** All four by default; WARREN_BENCH_ADMISSION=join,grow,concurrent,founding picks some (for development). */
export async function benchAdmission(): Promise<Record<string, Metric>> {
  const only = new Set((process.env.WARREN_BENCH_ADMISSION ?? 'join,grow,concurrent,founding').split(',').map((s) => s.trim()));
  await cli(['--version']); // (re)build the bundle now, not inside the first measurement
  const out: Record<string, Metric> = {};
  try {
    if (only.has('join')) out['admission.join_ms'] = await benchJoin();
    if (only.has('grow')) out['admission.grow_to_3_voters_ms'] = await benchGrow();
    if (only.has('concurrent')) Object.assign(out, await benchConcurrent());
    if (only.has('founding')) out['admission.founding_clusters_n5'] = await benchFounding();
  } finally {
    await cleanupAllLans().catch((err: unknown) => console.error('bench: netns cleanup:', err));
  }
  return out;
}
