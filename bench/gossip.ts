import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPids, startAgent, type AgentHandle } from '../test/helpers/agents.ts';
import { healthy, members } from './agent-api.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { loadAvg1, quietMachine } from './machine.ts';
import { median, percentile, type Metric } from './results.ts';

/**
 * Gossip benchmarks (real agent processes, each on its own loopback address; every agent runs
 * with --open so joiners are admitted without an operator):
 *   gossip.detect_dead_ms   kill -9 of one of 5 agents -> the last survivor marks it dead
 *   gossip.event_p99_ms     1,000 user events from one of 10 agents to SSE followers on the 9 others
 *   gossip.converge_ms_n50  N agents started at once -> every one sees all N alive
 */

/**
 * Every agent here stands for a machine of its own; their proxy workers (one per extra core by
 * default) would run on those machines' cores and serve no traffic here, so they are left out
 * rather than multiply the processes sharing this machine's 2 cores.
 * WARREN_BENCH_LOG_LEVEL=debug for a post-mortem of the kept logs.
 */
const LOG = ['--log-level', process.env.WARREN_BENCH_LOG_LEVEL ?? 'info', '--open', '--proxy-workers', '0'];
const DETECT_TRIALS = 7;
const EVENTS = 1000;
/** the headline rate: 50 events/s, a busy home cluster's event stream */
const EVENT_SPACING_MS = 20;
/** then the same 1,000 events at 200/s, reported beside it (the machine saturates) */
const BURST_SPACING_MS = 5;
/** the cluster size of the event benchmark (10; WARREN_BENCH_EVENT_AGENTS changes it, for diagnosis) */
const EVENT_AGENTS = Number(process.env.WARREN_BENCH_EVENT_AGENTS ?? 10);
/** largest first, down to the first that converges (WARREN_BENCH_CONVERGE_SIZES=20,10 skips the big ones, for development) */
const CONVERGE_SIZES = (process.env.WARREN_BENCH_CONVERGE_SIZES ?? '50,30,20,10').split(',').map(Number);
/** joiners are admitted one at a time, so a big cluster takes a while to form */
const convergeTimeoutMs = (n: number) => Math.max(120_000, n * 6000);
/** give an attempt up when no further agent was admitted for this long */
const ADMISSION_STALL_MS = 90_000;
/** give up an attempt (rather than push the machine into swapless OOM) below this */
const MIN_MEM_AVAILABLE_MB = 3000;
/** how long to wait for other test runs to finish before measuring anyway */
const QUIET_WAIT_MS = Number(process.env.WARREN_BENCH_QUIET_WAIT_MS ?? 900_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function aliveCount(a: AgentHandle): Promise<number> {
  return (await members(a)).filter((m) => m.state === 'alive').length;
}

async function allSeeAlive(group: AgentHandle[], count: number): Promise<boolean> {
  const counts = await Promise.all(group.map((a) => aliveCount(a).catch(() => -1)));
  return counts.every((c) => c === count);
}

/** Each agent's view in one line: `addr: name=state ...` (for error messages). */
async function describeViews(group: AgentHandle[]): Promise<string> {
  const lines = await Promise.all(group.map(async (a) => {
    const view = await members(a).catch((err: Error) => err.message);
    return `${a.bind}: ${typeof view === 'string' ? view : view.map((m) => `${m.name}=${m.state}`).join(' ')}`;
  }));
  return lines.join(' | ');
}

async function idOf(a: AgentHandle): Promise<string> {
  return (await a.health()).body.node.id as string;
}

/**
 * Starts the first agent (it founds the cluster), then the others one after the other with
 * --join of the first (each once the previous one is admitted: joiners are admitted one at a time
 * anyway, and a crowd of simultaneous joiners is the converge benchmark's business, not this one's),
 * and waits until all see each other alive.
 */
async function startCluster(ips: string[]): Promise<AgentHandle[]> {
  const all = [await startAgent({ bind: ips[0]!, args: LOG })];
  for (const ip of ips.slice(1)) {
    const a = await startAgent({ bind: ip, waitReady: false, args: ['--join', ips[0]!, ...LOG] });
    all.push(a);
    await waitFor(`${ip} admitted (health 200)`, async () => {
      if (!a.running) throw new Error(`agent ${ip} exited with ${a.exitCode}: ${a.log().slice(-500)}`);
      return healthy(a.api);
    }, 90_000, 100);
  }
  await waitFor(`${all.length} agents seeing each other alive`, () => allSeeAlive(all, all.length), 120_000, 250).catch(async (err: Error) => {
    throw new Error(`${err.message}; views: ${await describeViews(all)}`);
  });
  return all;
}

/** SIGKILL every agent (its etcd follows by pdeathsig) and wait until the etcds are gone. */
async function stopAll(agents: AgentHandle[]): Promise<void> {
  await Promise.all(agents.map((a) => a.stop('SIGKILL', 5000)));
  await waitFor('the etcd children gone', () => agents.every((a) => a.etcdPids().length === 0), 20_000, 100);
}

function procStatus(pid: number, field: string): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.replace(/\D+/g, '')) : 0;
  } catch {
    return 0;
  }
}

/** MB of resident memory of a process. */
function rssMb(pid: number): number {
  return procStatus(pid, 'VmRSS') / 1024;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}




function memAvailableMb(): number {
  const line = readFileSync('/proc/meminfo', 'utf8').split('\n').find((l) => l.startsWith('MemAvailable:'))!;
  return Number(line.replace(/\D+/g, '')) / 1024;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

// ------------------------------------------------------------------------------------------------

/** kill -9 one of 5 agents; time until the LAST survivor lists it dead (each polled every ~20 ms). */
async function benchDetectDead(): Promise<Metric> {
  const quiet = await quietMachine('gossip.detect_dead', QUIET_WAIT_MS);
  const ips = ['127.0.3.2', '127.0.3.3', '127.0.3.4', '127.0.3.5', '127.0.3.6'];
  const agents = await startCluster(ips);
  const times: number[] = [];
  const firsts: number[] = [];
  try {
    for (let trial = 0; trial < DETECT_TRIALS; trial++) {
      const victim = agents[4]!;
      const victimId = await idOf(victim);
      const survivors = agents.slice(0, 4);
      await sleep(1000); // a steady cluster: every survivor has heard the victim's recent heartbeats
      const t0 = performance.now();
      process.kill(victim.pid, 'SIGKILL');
      const seen = await Promise.all(
        survivors.map(async (a) => {
          const deadline = t0 + 15_000;
          while (performance.now() < deadline) {
            const m = (await members(a, 1000).catch(() => [])).find((x) => x.id === victimId);
            if (m?.state === 'dead') return performance.now() - t0;
            await sleep(20);
          }
          throw new Error(`${a.bind} did not mark the killed agent dead within 15 s`);
        }),
      );
      times.push(Math.max(...seen));
      firsts.push(Math.min(...seen));
      console.log(`bench: gossip.detect_dead trial ${trial + 1}: first ${Math.round(Math.min(...seen))} ms, last ${Math.round(Math.max(...seen))} ms`);

      // bring it back (same data dir, same identity) and wait until everyone sees it alive
      await victim.exited;
      await waitFor('the killed agent\'s etcd gone', () => victim.etcdPids().length === 0, 10_000, 50);
      agents[4] = await startAgent({ bind: victim.bind, dataDir: victim.dataDir, waitReady: false, args: ['--join', ips[0]!, ...LOG] });
      await waitFor('the restarted agent healthy and alive for all', async () => (await healthy(agents[4]!.api)) && (await allSeeAlive(agents, 5)), 60_000, 100);
    }
  } finally {
    await stopAll(agents);
  }
  return { value: median(times), unit: 'ms', goal: '<= 2000', runs: times.map(Math.round), firstObserverRuns: firsts.map(Math.round), atStart: quiet, loadAvg1AtEnd: loadAvg1() };
}

// ------------------------------------------------------------------------------------------------

interface Delivery {
  seq: number;
  phase: string;
  latencyMs: number;
}

/** Follows `GET /v1/events?topic=...` as Server-Sent Events, timing every event on arrival. */
class SseFollower {
  readonly deliveries: Delivery[] = [];
  subscribed = false;
  private readonly abort = new AbortController();
  readonly done: Promise<void>;

  constructor(readonly api: string, topic: string) {
    this.done = this.run(topic).catch((err: unknown) => {
      if (!this.abort.signal.aborted) console.error(`bench: SSE stream of ${api} failed: ${(err as Error).message}`);
    });
  }

  private async run(topic: string): Promise<void> {
    const res = await fetch(`${this.api}/v1/events?topic=${encodeURIComponent(topic)}`, { signal: this.abort.signal, headers: { accept: 'text/event-stream' } });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const now = Date.now(); // arrival time of everything in this chunk
      buf += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trimStart();
        }
        if (event === 'subscribed') this.subscribed = true;
        else if (data) {
          const e = JSON.parse(data) as { time: number; payload: { seq: number; phase: string } };
          this.deliveries.push({ seq: e.payload.seq, phase: e.payload.phase, latencyMs: now - e.time });
        }
      }
    }
  }

  close(): void {
    this.abort.abort();
  }
}

/**
 * Publishes EVENTS events on schedule (one every `spacingMs`; at most 8 POSTs in flight, so a slow
 * publisher delays the schedule instead of piling up connections; failed POSTs are counted, not
 * retried) and collects each follower's first delivery of each.
 */
async function publishPhase(publish: (payload: object) => Promise<void>, publisherPid: number, followers: SseFollower[], phase: string, spacingMs: number) {
  const t0 = performance.now();
  const cpu0 = cpuSeconds(publisherPid);
  const benchCpu0 = process.cpuUsage();
  const inFlight = new Set<Promise<void>>();
  let failed = 0;
  let maxLagMs = 0;
  for (let seq = 0; seq < EVENTS; seq++) {
    const due = t0 + seq * spacingMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    while (inFlight.size >= 8) await Promise.race(inFlight);
    maxLagMs = Math.max(maxLagMs, performance.now() - due);
    const p: Promise<void> = publish({ phase, seq })
      .catch((err: unknown) => {
        failed++;
        if (failed <= 3) console.error(`bench: publish ${seq} failed: ${(err as Error).message}`);
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  const publishMs = performance.now() - t0;
  const publisherCpuPct = (100 * (cpuSeconds(publisherPid) - cpu0)) / (publishMs / 1000);
  const benchUsage = process.cpuUsage(benchCpu0);
  // the followers' arrival times are taken in this process: a busy benchmark inflates them
  const benchProcessCpuPct = (100 * (benchUsage.user + benchUsage.system)) / 1000 / publishMs;
  const delivered = () => followers.reduce((n, f) => n + f.deliveries.filter((d) => d.phase === phase).length, 0);
  await waitFor(`${EVENTS * followers.length} deliveries`, () => delivered() >= EVENTS * followers.length, 10_000, 50).catch(() => undefined);

  const latencies: number[] = [];
  let duplicates = 0;
  for (const f of followers) {
    const seen = new Set<number>();
    for (const d of f.deliveries) {
      if (d.phase !== phase) continue;
      if (seen.has(d.seq)) {
        duplicates++;
        continue;
      }
      seen.add(d.seq);
      latencies.push(d.latencyMs);
    }
  }
  return {
    latencies,
    delivered: latencies.length,
    expected: EVENTS * followers.length,
    duplicates,
    publishSeconds: round1(publishMs / 1000),
    publishFailed: failed,
    maxScheduleLagMs: Math.round(maxLagMs),
    publisherCpuPct: round1(publisherCpuPct),
    benchProcessCpuPct: round1(benchProcessCpuPct),
  };
}

/** 1,000 user events from one of 10 agents, followed over SSE on the 9 others. */
async function benchEvents(): Promise<Metric> {
  const quiet = await quietMachine('gossip.event_p99', QUIET_WAIT_MS);
  const ips = Array.from({ length: EVENT_AGENTS }, (_, i) => `127.0.3.${20 + i}`);
  const agents = await startCluster(ips);
  const followers: SseFollower[] = [];
  try {
    const publisher = agents[0]!;
    const token = readFileSync(join(publisher.dataDir, 'admin-token'), 'utf8').trim();
    for (const a of agents.slice(1)) followers.push(new SseFollower(a.api, 'bench'));
    await waitFor(`${followers.length} SSE streams subscribed`, () => followers.every((f) => f.subscribed), 10_000, 20);

    const publish = async (payload: object): Promise<void> => {
      const res = await fetch(`${publisher.api}/v1/events/bench`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(payload),
      });
      if (res.status !== 202) throw new Error(`publish: HTTP ${res.status} ${await res.text()}`);
    };
    // the followers' subscriptions reach the publisher by gossip: warm up until all have one
    let w = 0;
    await waitFor(`warm-up event reaches all ${followers.length} followers`, async () => {
      await publish({ phase: 'warmup', seq: w++ });
      await sleep(100);
      return followers.every((f) => f.deliveries.some((d) => d.phase === 'warmup'));
    }, 30_000, 200);
    await sleep(1000); // let the gossipsub mesh settle (heartbeat 1 s)

    const steady = await publishPhase(publish, publisher.pid, followers, 'measure', EVENT_SPACING_MS);
    const burst = await publishPhase(publish, publisher.pid, followers, 'burst', BURST_SPACING_MS);
    const { latencies, ...steadyFigures } = steady;
    const { latencies: burstLatencies, ...burstFigures } = burst;
    return {
      value: percentile(latencies, 99),
      unit: 'ms',
      goal: '<= 50',
      rate: `one event every ${EVENT_SPACING_MS} ms (${1000 / EVENT_SPACING_MS}/s), at most 8 POSTs in flight`,
      p50Ms: percentile(latencies, 50),
      p90Ms: percentile(latencies, 90),
      maxMs: Math.max(...latencies),
      ...steadyFigures,
      burst: {
        rate: `one event every ${BURST_SPACING_MS} ms (${1000 / BURST_SPACING_MS}/s): saturates this 2-core machine running 10 agents`,
        p99Ms: percentile(burstLatencies, 99),
        p50Ms: percentile(burstLatencies, 50),
        ...burstFigures,
      },
      atStart: quiet,
      loadAvg1AtEnd: loadAvg1(),
    };
  } finally {
    for (const f of followers) f.close();
    await Promise.all(followers.map((f) => f.done));
    await stopAll(agents);
  }
}

// ------------------------------------------------------------------------------------------------

interface ConvergeResult {
  ok: boolean;
  n: number;
  ms: number;
  /** when every agent answered /v1/health 200 (all admitted), ms after the spawn; -1 if never */
  allHealthyMs: number;
  /** why an attempt was given up */
  abandoned?: string;
  /** the lowest alive count any agent reported in the last round (for a failed attempt) */
  lowestAlive: number;
  agentRssMb: number;
  etcdRssMb: number;
  /** etcd processes running for these agents at convergence */
  etcdProcesses: number;
  /** CPU seconds used by all agents (and by all etcds) from spawn to convergence */
  agentCpuSeconds: number;
  etcdCpuSeconds: number;
  /** steady state after convergence: mean CPU % of one agent and of one etcd over 10 s */
  agentCpuPctSteady: number;
  etcdCpuPctSteady: number;
  /** member views that listed anyone non-alive during the 10 s after convergence */
  flapsAfterConverge: number;
  memAvailableMbBefore: number;
  memAvailableMbAfter: number;
}

function etcdPidsOf(agents: AgentHandle[]): number[] {
  const dirs = agents.map((a) => `--data-dir\0${join(a.dataDir, 'etcd')}`);
  return findPids((cmd) => cmd.includes('etcd') && dirs.some((d) => cmd.includes(d)));
}

/**
 * N agents started at once -> every one sees all N alive. The first has no --join (a node given
 * --join never founds a cluster, so it is the one that founds it); all others --join the first two.
 */
async function converge(n: number): Promise<ConvergeResult> {
  const ips = Array.from({ length: n }, (_, i) => `127.0.4.${2 + i}`);
  const join2 = `${ips[0]},${ips[1]}`;
  const memBefore = memAvailableMb();
  const t0 = performance.now();
  const agents = await Promise.all(ips.map((ip, i) => startAgent({ bind: ip, waitReady: false, args: [...(i === 0 ? [] : ['--join', join2]), ...LOG] })));
  let lowest = 0;
  let ms = -1;
  let allHealthyMs = -1;
  let abandoned: string | undefined;
  let lastReport = 0;
  let admitted = 0;
  let admittedAt = performance.now();
  try {
    while (performance.now() - t0 < convergeTimeoutMs(n)) {
      const dead = agents.find((a) => !a.running);
      if (dead) throw new Error(`agent ${dead.bind} exited with ${dead.exitCode}: ${dead.log().slice(-500)}`);
      if (memAvailableMb() < MIN_MEM_AVAILABLE_MB) {
        abandoned = `memory: ${Math.round(memAvailableMb())} MB available, agent RSS median ${round1(median(agents.map((a) => rssMb(a.pid))))} MB`;
        break;
      }
      const [counts, health] = await Promise.all([
        Promise.all(agents.map((a) => aliveCount(a).catch(() => 0))),
        allHealthyMs < 0 ? Promise.all(agents.map((a) => healthy(a.api))) : Promise.resolve([] as boolean[]),
      ]);
      if (allHealthyMs < 0 && health.every(Boolean)) allHealthyMs = performance.now() - t0;
      const nowAdmitted = allHealthyMs < 0 ? health.filter(Boolean).length : n;
      if (nowAdmitted > admitted) {
        admitted = nowAdmitted;
        admittedAt = performance.now();
      } else if (admitted < n && performance.now() - admittedAt > ADMISSION_STALL_MS) {
        abandoned = `admission stalled at ${admitted}/${n} for ${ADMISSION_STALL_MS / 1000} s`;
        break;
      }
      lowest = Math.min(...counts);
      if (performance.now() - lastReport > 15_000) {
        lastReport = performance.now();
        console.log(`bench: gossip.converge N=${n} at ${Math.round((performance.now() - t0) / 1000)} s: ${allHealthyMs < 0 ? health.filter(Boolean).length : n} admitted, alive counts min ${lowest} median ${median(counts)}, agent RSS median ${round1(median(agents.map((a) => rssMb(a.pid))))} MB, ${Math.round(memAvailableMb())} MB available`);
      }
      if (counts.every((c) => c === n)) {
        ms = performance.now() - t0;
        break;
      }
      await sleep(500); // 50 agents x 2 requests per round: do not add much load of our own
    }
    const agentPids = agents.map((a) => a.pid);
    const etcdPids = etcdPidsOf(agents);
    const result: ConvergeResult = {
      ok: ms >= 0,
      n,
      ms,
      allHealthyMs: Math.round(allHealthyMs),
      ...(abandoned ? { abandoned } : {}),
      lowestAlive: lowest,
      agentRssMb: round1(median(agentPids.map(rssMb))),
      etcdRssMb: etcdPids.length ? round1(median(etcdPids.map(rssMb))) : 0,
      etcdProcesses: etcdPids.length,
      agentCpuSeconds: round1(agentPids.reduce((s, p) => s + cpuSeconds(p), 0)),
      etcdCpuSeconds: round1(etcdPids.reduce((s, p) => s + cpuSeconds(p), 0)),
      agentCpuPctSteady: 0,
      etcdCpuPctSteady: 0,
      flapsAfterConverge: 0,
      memAvailableMbBefore: Math.round(memBefore),
      memAvailableMbAfter: Math.round(memAvailableMb()),
    };
    if (result.ok) {
      // steady state: CPU over 10 s, and whether the views stay all-alive meanwhile
      const cpu0 = { a: agentPids.reduce((s, p) => s + cpuSeconds(p), 0), e: etcdPids.reduce((s, p) => s + cpuSeconds(p), 0), t: performance.now() };
      const until = performance.now() + 10_000;
      while (performance.now() < until) {
        const views = await Promise.all(agents.map((a) => members(a).catch(() => [] as any[])));
        result.flapsAfterConverge += views.filter((v) => v.length !== n || v.some((m) => m.state !== 'alive')).length;
        await sleep(1000);
      }
      const secs = (performance.now() - cpu0.t) / 1000;
      result.agentCpuPctSteady = round1((100 * (agentPids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0.a)) / secs / n);
      result.etcdCpuPctSteady = etcdPids.length ? round1((100 * (etcdPids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0.e)) / secs / etcdPids.length) : 0;
    }
    keepLogs(agents, n);
    return result;
  } catch (err) {
    keepLogs(agents, n);
    throw err;
  } finally {
    await stopAll(agents);
  }
}

/** The agents' logs of the last run at each N stay behind for a post-mortem (the data dirs go). */
function keepLogs(agents: AgentHandle[], n: number): void {
  const dir = join(tmpdir(), `warren-bench-converge-n${n}-logs`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const a of agents) writeFileSync(join(dir, `${a.bind}.log`), a.log());
  console.log(`bench: gossip.converge N=${n}: agent logs kept in ${dir}`);
}

async function benchConverge(): Promise<Metric> {
  let last: (ConvergeResult & { atStart: { foreignAgents: number; loadAvg1: number } }) | undefined;
  for (const n of CONVERGE_SIZES) {
    // each agent + its etcd needs ~150 MB; leave 4 GB for the rest of the machine
    const need = n * 150 + 4096;
    if (memAvailableMb() < need) {
      console.log(`bench: gossip.converge: skipping N=${n} (needs ~${need} MB, ${Math.round(memAvailableMb())} MB available)`);
      continue;
    }
    const quiet = await quietMachine(`gossip.converge N=${n}`, QUIET_WAIT_MS);
    console.log(`bench: gossip.converge: starting ${n} agents at once...`);
    const r = { ...(await converge(n)), atStart: quiet };
    console.log(`bench: gossip.converge: N=${n} ${r.ok ? `converged in ${Math.round(r.ms)} ms (all admitted at ${r.allHealthyMs} ms)` : `did NOT converge (${r.abandoned ?? `timeout ${convergeTimeoutMs(n)} ms`}; lowest alive count ${r.lowestAlive})`}; ` +
      `agent RSS ${r.agentRssMb} MB, ${r.etcdProcesses} etcd processes (RSS ${r.etcdRssMb} MB each), CPU to converge: agents ${r.agentCpuSeconds} s, etcds ${r.etcdCpuSeconds} s`);
    last = r;
    if (r.ok) break;
  }
  if (!last) throw new Error('gossip.converge: not enough memory for any N');
  const { ok, ms, ...extra } = last;
  return { value: ok ? Math.round(ms) : NaN, unit: 'ms', goal: '<= 10000', converged: ok, etcdPerAgent: last.etcdProcesses >= last.n, ...extra, loadAvg1AtEnd: loadAvg1() };
}

/** All three by default; WARREN_BENCH_GOSSIP=detect,events,converge picks some (for development). */
export async function benchGossip(): Promise<Record<string, Metric>> {
  const only = new Set((process.env.WARREN_BENCH_GOSSIP ?? 'detect,events,converge').split(',').map((s) => s.trim()));
  const out: Record<string, Metric> = {};
  // a failed benchmark is recorded as such (value NaN, `error`) and the others still run
  const run = async (name: string, goal: string, bench: () => Promise<Metric>): Promise<void> => {
    try {
      out[name] = await bench();
    } catch (err) {
      console.error(`bench: ${name} failed: ${(err as Error).message}`);
      out[name] = { value: NaN, unit: 'ms', goal, error: (err as Error).message.slice(0, 2000) };
    }
  };
  if (only.has('detect')) await run('gossip.detect_dead_ms', '<= 2000', benchDetectDead);
  if (only.has('events')) await run('gossip.event_p99_ms', '<= 50', benchEvents);
  if (only.has('converge')) await run('gossip.converge_ms_n50', '<= 10000', benchConverge);
  return out;
}
