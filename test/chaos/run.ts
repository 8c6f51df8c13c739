/**
 * `npm run chaos -- [--seed S] [--duration SECONDS | --minutes N] [--nodes K]`: a seeded
 * fault-injection run against a real cluster (agents each in a network namespace of its own, or on
 * 127.62.x.x with `--network loopback`; real etcd, real Docker with the test image). Faults one at a time, a workload writing services meanwhile, the invariants
 * checked after every fault and at the end. Exit code 1 on any violation.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { cleanupAll, startAgent, tempDir, type AgentHandle } from '../helpers/agents.ts';
import { voterIds } from '../helpers/cluster.ts';
import { ensureHttpdImage } from '../helpers/images.ts';
import { healAll } from '../helpers/partition.ts';
import { removeLabelled } from '../helpers/stacks.ts';
import { cleanupAllLans } from '../helpers/netns.ts';
import { SkewedClock } from '../helpers/skewed-clock.ts';
import { waitFor } from '../helpers/wait.ts';
import { clusterContainers, injectFault, type ChaosNode } from './faults.ts';
import { convergedViolations, observedStates, OverReplicaWatch, runningByService, type Violation } from './invariants.ts';
import { AckModel, CORE_FAULT_KINDS, FAULT_KINDS, faultSchedule, workload } from './model.ts';
import { Workload } from './workload.ts';
import { VOLUME_SERVICE, VolumeWatch, type VolumeReading } from './volume-watch.ts';
import { STACK, STACK_SERVICES, StackWatch } from './stack-watch.ts';
import { ownDisk, unmountAll, type OwnDisk } from './own-disk.ts';
import { chaosNet, type ChaosNet, type NetworkKind } from './network.ts';

export interface ChaosOptions {
  seed: number;
  /** how long faults are injected (the cluster's start and the final check come on top) */
  durationMs: number;
  /** stop after this many faults (a fixed schedule whatever the machine's speed), within durationMs */
  count?: number;
  nodes: number;
  /** each node in a network namespace of its own (default), or all on the loopback (network.ts) */
  network?: NetworkKind;
  /** loopback: first two octets of the nodes' addresses (default 127.62) */
  net?: string;
  /** loopback: third octet of the nodes' addresses: 127.62.<subnet>.2... */
  subnet?: number;
  /** how long the cluster has to converge after a fault is healed */
  convergeMs?: number;
  /** a service may run more copies than wanted for this long (the fence grace plus sampling slack) */
  overLimitMs?: number;
  /** run the volume writer and its invariant (default true) */
  volumes?: boolean;
  /** deploy the compose stack and check it (default true) */
  stacks?: boolean;
  /** 'core': no fault that hits the whole machine (the Docker engine) or fills a disk (default 'all') */
  faults?: 'core' | 'all';
  log?: (line: string) => void;
}

export interface ChaosResult {
  seed: number;
  faults: number;
  checks: number;
  violations: (Violation & { atMs: number; after: string })[];
  ops: number;
  acked: number;
}

export function replayCommand(o: ChaosOptions): string {
  return `npm run chaos -- --seed ${o.seed} --nodes ${o.nodes} --duration ${Math.round(o.durationMs / 1000)}${o.count !== undefined ? ` --count ${o.count}` : ''}${o.network === 'loopback' ? ` --network loopback${o.net ? ` --net ${o.net}` : ''}${o.subnet ? ` --subnet ${o.subnet}` : ''}` : ''}${o.faults === 'core' ? ' --faults core' : ''}`;
}

/** the cluster of the run in progress, for the Ctrl-C handler (which cannot reach runChaos's locals) */
let runningCluster: string | undefined;

/**
 * Removes the run's containers, then its networks (the stack's, one per node): the agents die by
 * kill -9 at the end and a killed joiner never comes back, so none removes its own, and Docker's
 * default address pools hold ~30 networks: leaked runs once left none for the next ones (ci83).
 */
async function removeDockerOf(clusterId: string | undefined): Promise<void> {
  if (clusterId) await removeLabelled(`warren.cluster=${clusterId}`);
}

/**
 * Node i's agent flags: the first founds the cluster, the others join it. On its own 512 MiB disk
 * a node keeps 64 MiB free for snapshots from peers (the default 1 GiB would refuse every one).
 */
function agentArgs(ips: string[], i: number, disks: OwnDisk[]): string[] {
  return [...(i === 0 ? ['--open'] : ['--join', ips[0]!]), ...(disks[i] ? ['--volume-reserve', '64MiB'] : [])];
}

/**
 * The cluster: the first node founds it (--open), the others join it one by one. Like
 * startCluster in test/helpers/services.ts, with more patience: 5 agents on a loaded 2-core
 * machine may need more than its 30 s each.
 */
async function startNodes(net: ChaosNet, disks: OwnDisk[], clocks: SkewedClock[]): Promise<{ agents: AgentHandle[]; ids: string[] }> {
  const ips = net.ips;
  const agents: AgentHandle[] = [];
  const ids: string[] = [];
  for (const [i, ip] of ips.entries()) {
    const a = await startAgent({ bind: ip, args: agentArgs(ips, i, disks), waitReady: false, wrap: net.wrap(ip), ...(disks[i] ? { dataDir: disks[i].dir } : {}), ...(clocks[i] ? { env: clocks[i].env() } : {}) });
    agents.push(a);
    await waitFor(`agent on ${ip} healthy`, async () => {
      if (!a.running) throw new Error(`agent exited with ${a.exitCode}: ${a.log().slice(-600)}`);
      // its id from the answer that says it is healthy: one more call could time out on a loaded machine
      const h = await a.health();
      if (h.status === 200) ids[i] = h.body.node.id as string;
      return h.status === 200;
    }, 120_000, 200);
  }
  const want = ips.length >= 3 ? 3 : 1;
  await waitFor(`${want} voter(s)`, async () => (await voterIds(agents[0]!)).length === want, 120_000, 250);
  await waitFor('every node serving /v1/services', async () => {
    const res = await Promise.all(agents.map((a) => fetch(`${a.api}/v1/services`).then((r) => r.status).catch(() => 0)));
    return res.every((s) => s === 200);
  }, 60_000, 200);
  return { agents, ids };
}

/** Which nodes a service's containers belong to, for a violation's message. */
async function whereRunning(clusterId: string, service: string, ids: string[]): Promise<string> {
  const list = await clusterContainers(clusterId).catch(() => []);
  const on = list.filter((c) => c.service === service).map((c) => (ids.includes(c.node) ? `node ${ids.indexOf(c.node)}` : `node ${c.node.slice(0, 8) || '?'}, not one of the run's`));
  return `on ${on.join(', ') || 'none now'}`;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const print = o.log ?? ((line: string) => console.log(line));
  const t0 = Date.now();
  const say = (line: string) => print(`[chaos seed=${o.seed} t=${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);
  const convergeMs = o.convergeMs ?? 60_000;
  const result: ChaosResult = { seed: o.seed, faults: 0, checks: 0, violations: [], ops: 0, acked: 0 };
  let current = 'the start';
  const violation = (v: Violation) => {
    result.violations.push({ ...v, atMs: Date.now() - t0, after: current });
    say(`VIOLATION [${v.check}] after ${current}: ${v.message} (replay: ${replayCommand(o)})`);
  };
  let net: ChaosNet | undefined;
  let clusterId: string | undefined;
  let work: Workload | undefined;
  let watch: OverReplicaWatch | undefined;
  const kinds = o.faults === 'core' ? CORE_FAULT_KINDS : FAULT_KINDS;
  const disks: OwnDisk[] = [];
  try {
    await ensureHttpdImage();
    net = await chaosNet({ kind: o.network ?? 'netns', nodes: o.nodes, ...(o.net ? { net: o.net } : {}), ...(o.subnet !== undefined ? { subnet: o.subnet } : {}) });
    const ips = net.ips;
    if (kinds.includes('fill-disk') || kinds.includes('slow-disk')) for (let i = 0; i < o.nodes; i++) disks.push(await ownDisk());
    // each agent's wall clock under libfaketime, stepped by the clock-jump fault
    const clockDir = kinds.includes('clock-jump') ? await tempDir('warren-chaos-clock-') : undefined;
    const clocks = clockDir ? ips.map((_, i) => new SkewedClock(join(clockDir, `clock-${i}`))) : [];
    say(`starting ${o.nodes} agents on ${ips.join(', ')}${net.kind === 'netns' ? ' (each in a network namespace of its own)' : ''}${disks.length ? ' (each data dir on its own 512 MiB ext4 disk)' : ''}${clocks.length ? ' (each wall clock under libfaketime)' : ''}`);
    const { agents, ids } = await startNodes(net, disks, clocks);
    const nodes: ChaosNode[] = agents.map((agent, i) => ({ ip: ips[i]!, args: agentArgs(ips, i, disks), agent, logFrom: 0, ...(clocks[i] ? { clock: clocks[i] } : {}), ...(disks[i] ? { disk: disks[i] } : {}) }));
    clusterId = (await (await fetch(`${agents[0]!.api}/v1/admission`)).json()).clusterId as string;
    runningCluster = clusterId;
    const voterTarget = o.nodes >= 3 ? 3 : 1;
    const model = new AckModel();
    work = new Workload(nodes, workload(o.seed), model, (message) => violation({ check: 'acked-writes', message }), undefined, t0);
    const volume = o.volumes === false ? undefined : new VolumeWatch(nodes, ids);
    const stack = o.stacks === false ? undefined : new StackWatch(nodes, ids);
    const others = [...(volume ? [VOLUME_SERVICE] : []), ...(stack ? STACK_SERVICES : [])];
    watch = new OverReplicaWatch(clusterId, model, work.lastWriteAt, o.overLimitMs ?? 11_000, violation, undefined, new Map(others.map((name) => [name, 1])));
    if (volume) {
      await volume.create(agents[0]!);
      say(`${VOLUME_SERVICE}: a writer appending a counter to its replicated volume`);
    }
    if (stack) {
      await stack.deploy(agents[0]!);
      say(`${STACK}: a compose stack of two services, front reaching back by name`);
    }

    /** Waits until every invariant holds (or the bound passes: then each failing one is a violation), then checks that no service runs more copies than wanted. */
    const checkpoint = async () => {
      await work!.pause();
      result.checks++;
      const start = Date.now();
      let last: Violation[] = [];
      let reading: VolumeReading | undefined;
      while (Date.now() - start < convergeMs) {
        last = await convergedViolations(nodes, ids, voterTarget, clusterId!, model, (name) => work!.historyOf(name), others);
        if (volume && !last.length) ({ violations: last, reading } = await volume.check());
        if (stack && !last.length) last = await stack.check();
        if (!last.length) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      for (const v of last) violation({ ...v, message: `${v.message} (still, ${convergeMs} ms after the fault healed)` });
      if (!last.length) {
        say(`converged ${Date.now() - start} ms after the fault healed; every invariant holds${reading ? ` (${VOLUME_SERVICE}'s counter at ${reading.last} on node ${reading.node})` : ''}`);
        if (reading) volume!.settle(reading);
        const states = await observedStates(nodes[0]!).catch(() => undefined);
        if (!states) say('node 0 gave no service list within 10 s after converging: the over-replica check and the model wait for the next check');
        // converged: for 2 s no service may run more copies than it wants
        for (let i = 0; states && i < 4; i++) {
          const running = await runningByService(clusterId!);
          for (const name of [...model.names(), ...others]) {
            const want = states.get(name)?.replicas ?? 0;
            if ((running.get(name) ?? 0) > want) violation({ check: 'over-replicas', message: `${name} runs ${running.get(name)} copies once converged, wants ${want} (${await whereRunning(clusterId!, name, ids)})` });
          }
          await new Promise((r) => setTimeout(r, 500));
        }
        if (states) for (const name of model.names()) model.settle(name, states.get(name));
      } else {
        // carry on from what the cluster says, so one failure is not reported again and again
        const states = await observedStates(nodes[0]!).catch(() => undefined);
        if (states) for (const name of model.names()) model.settle(name, states.get(name));
      }
    };

    watch.start();
    const faultsFrom = Date.now();
    // every fault: some on two nodes at once (the core run keeps its seed's schedule of one at a time)
    for (const fault of faultSchedule(o.seed, o.nodes, 10_000, kinds, o.faults !== 'core')) {
      if (Date.now() - faultsFrom > o.durationMs || (o.count !== undefined && result.faults >= o.count)) break;
      // a few writes on a healthy cluster, then more while the fault holds
      work.resume();
      await new Promise((r) => setTimeout(r, 3000));
      const both = fault.also ? ` + ${fault.also.kind} on node ${fault.also.node}, at once` : '';
      current = `fault ${fault.n} (${fault.kind} on node ${fault.node}${both})`;
      say(`fault ${fault.n}: ${fault.kind}${fault.also ? ` + ${fault.also.kind} (two nodes at once)` : ''}`);
      const ctx = { nodes, clusterId, say, net, violation };
      await Promise.all([injectFault(fault, ctx), ...(fault.also ? [injectFault(fault.also, ctx)] : [])]);
      result.faults++;
      await checkpoint();
    }
    await work.stop();
    watch.stop();
    current = 'the end';
    await checkpoint();
    result.ops = work.stats.ops;
    result.acked = work.stats.acked;
    say(`done: ${result.faults} faults, ${result.checks} checks, ${work.stats.ops} writes (${work.stats.acked} acknowledged, ${work.stats.unknown} unanswered), ${result.violations.length} violation(s)`);
    return result;
  } finally {
    watch?.stop();
    await work?.stop();
    // a failing step must not skip the others (the disks stayed mounted once)
    await net?.close().catch((err: Error) => print(`chaos: removing the network: ${err.message}`));
    await unmountAll(print);
    await cleanupAll();
    await removeDockerOf(clusterId);
    runningCluster = undefined;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: String(Date.now() % 100_000) },
      duration: { type: 'string' },
      count: { type: 'string' },
      minutes: { type: 'string' },
      nodes: { type: 'string', default: '5' },
      network: { type: 'string', default: 'netns' },
      net: { type: 'string' },
      subnet: { type: 'string' },
      faults: { type: 'string', default: 'all' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: npm run chaos -- [--seed S] [--duration SECONDS | --minutes N] [--count FAULTS] [--nodes K] [--network netns|loopback [--net A.B] [--subnet C]] [--faults all|core]\n(default: a new seed, 10 minutes, 5 nodes, each in a network namespace of its own on one bridge (198.18.X.10...); --network loopback puts them on 127.62.0.2... of this machine\'s own stack instead, and --net/--subnet move them to A.B.C.2...; --faults core leaves out the Docker engine restart, the full or slow disk and the clock step, and never injects two faults at once; exit code 1 on any violation)');
    return;
  }
  const seconds = values.duration ? Number(values.duration) : Number(values.minutes ?? '10') * 60;
  const opts: ChaosOptions = { seed: Number(values.seed) >>> 0, durationMs: seconds * 1000, ...(values.count !== undefined ? { count: Number(values.count) } : {}), nodes: Number(values.nodes), network: values.network as NetworkKind, ...(values.net ? { net: values.net } : {}), ...(values.subnet ? { subnet: Number(values.subnet) } : {}), faults: values.faults as 'core' | 'all' };
  if (!Number.isFinite(seconds) || seconds <= 0 || !(opts.count === undefined || (Number.isInteger(opts.count) && opts.count > 0)) || !Number.isInteger(opts.nodes) || opts.nodes < 3 || opts.nodes > 9 || (opts.net !== undefined && !/^127\.\d{1,3}$/.test(opts.net)) || !(Number.isInteger(opts.subnet ?? 0) && (opts.subnet ?? 0) <= 255) || !['core', 'all'].includes(values.faults!) || !['netns', 'loopback'].includes(values.network!) || (opts.network === 'netns' && (opts.net !== undefined || opts.subnet !== undefined))) {
    console.error('chaos: --duration must be a positive number of seconds, --count a positive whole number, --nodes between 3 and 9, --network netns or loopback, --net 127.B and --subnet 0-255 (with --network loopback only) and --faults all or core');
    process.exitCode = 2;
    return;
  }
  const result = await runChaos(opts);
  const { recordMetrics } = await import('../../bench/results.ts');
  await recordMetrics({
    'resilience.chaos_violations': { value: result.violations.length, unit: 'count', goal: '0', seed: opts.seed, nodes: opts.nodes, seconds, faultKinds: opts.faults, faults: result.faults, checks: result.checks, writes: result.ops, acked: result.acked },
  });
  if (result.violations.length) {
    console.log(`\n${result.violations.length} violation(s); replay with: ${replayCommand(opts)}`);
    for (const v of result.violations) console.log(`  [${v.check}] after ${v.after}: ${v.message}`);
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  // Ctrl-C: lift the partition rules, remove the namespaces, unmount the disks, stop the agents
  // and remove their containers. A listener that stays (not `once`): netns.ts's own signal hook
  // re-raises the signal, killing the process before this cleanup ends, when it finds no other
  // listener left (the disks stayed mounted and the stack's containers ran on). A second Ctrl-C quits.
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('chaos: interrupted; cleaning up (Ctrl-C again to quit at once)');
    const step = (p: Promise<unknown>) => p.catch((err: Error) => console.error(`chaos: ${err.message}`));
    void step(healAll())
      .then(() => step(cleanupAllLans()))
      .then(() => step(unmountAll(console.error)))
      .then(() => step(cleanupAll()))
      .then(() => step(removeDockerOf(runningCluster)))
      .finally(() => process.exit(130));
  });
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
