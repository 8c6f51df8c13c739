/**
 * Injecting one fault of the schedule into a real cluster, and healing it. Every fault touches
 * only this run's agents, their etcd children and the containers of this run's cluster.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { runFile } from '../../src/runtime/fence-watchdog.ts';
import { startAgent, type AgentHandle } from '../helpers/agents.ts';
import { startDockerd, stopDockerd } from '../helpers/dockerd.ts';
import { waitFor } from '../helpers/wait.ts';
import { docker } from '../helpers/images.ts';
import type { SkewedClock } from '../helpers/skewed-clock.ts';
import type { Violation } from './invariants.ts';
import type { ChaosNet } from './network.ts';
import { clockStep, diskIops, linkPeer, type Fault } from './model.ts';
import { fsyncMs, throttle, unthrottle, type OwnDisk } from './own-disk.ts';

/** One node of the run: its handle changes when it is restarted after a kill. */
export interface ChaosNode {
  ip: string;
  args: string[];
  agent: AgentHandle;
  /** its wall clock, when the run steps clocks (its agent runs under libfaketime: `clock.env()`) */
  clock?: SkewedClock;
  /** its data dir's own disk, when the run fills or slows disks (own-disk.ts) */
  disk?: OwnDisk;
  /** where this process's output starts in the (appended) log file */
  logFrom: number;
}

export interface FaultContext {
  nodes: ChaosNode[];
  clusterId: string;
  say: (line: string) => void;
  /** the nodes' network: its spare address is where kill-joiner's new machine runs */
  net: ChaosNet;
  /** what a fault itself sees go wrong while it holds */
  violation: (v: Violation) => void;
}

/** The nodes whose agent logged that it fenced itself since `from` (log offsets per node). */
function fencedSince(nodes: ChaosNode[], from: number[]): number[] {
  return nodes.flatMap((n, i) => (n.agent.log().slice(from[i]).includes('"msg":"fenced: no etcd quorum') ? [i] : []));
}

const NOT_QUEUED = 'before its join request was queued';

/** How far a joiner got, from its log. */
function admissionStage(log: string): string {
  if (log.includes('"msg":"admitted"')) return 'after it was admitted';
  if (log.includes('"msg":"join request queued"')) return 'with its join request queued';
  return NOT_QUEUED;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone meanwhile (e.g. etcd restarted by its agent): nothing to pause or resume
  }
}

/**
 * The watchdog that fences a killed agent's containers (src/runtime/fence-watchdog.ts), from the
 * run file in its data dir: undefined when the agent died before it started one.
 */
function fenceWatchdogOf(dataDir: string): number | undefined {
  let line = '';
  try {
    line = readFileSync(runFile(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(line.trim().split(' ')[2]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** What a dead agent's fence watchdog logged (its two looks: "... killed N of them"). */
function fenceLooks(log: string): string[] {
  return log.split('\n').filter((l) => l.includes('"component":"fence"') && l.includes('killed')).map((l) => {
    try {
      return String((JSON.parse(l) as { msg: string }).msg);
    } catch {
      return l;
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Fills the node's own disk to the last byte (big pieces, then small ones, until ENOSPC) with one
 * file, returned for the heal to delete (never the machine's disk: only a disk of own-disk.ts).
 */
function fillDisk(disk: OwnDisk): { file: string; bytes: number } {
  const dir = disk.dir;
  const file = join(dir, 'chaos-fill');
  const fd = openSync(file, 'w');
  let bytes = 0;
  try {
    for (const piece of [Buffer.alloc(1 << 20), Buffer.alloc(4096), Buffer.alloc(64)]) {
      for (;;) {
        try {
          bytes += writeSync(fd, piece);
        } catch {
          break; // ENOSPC: on to the smaller pieces
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return { file, bytes };
}

/** The run's service containers, sorted by name so a seed picks the same one when the set is the same. */
export async function clusterContainers(clusterId: string, all = false): Promise<{ id: string; name: string; service: string; node: string }[]> {
  const out = await docker('ps', ...(all ? ['-a'] : []), '--filter', `label=warren.cluster=${clusterId}`, '--filter', 'label=warren.service', '--format', '{{.ID}} {{.Names}} {{.Label "warren.service"}} {{.Label "warren.node"}}');
  return out.split('\n').filter(Boolean).map((l) => {
    const [id, name, service, node] = l.split(' ');
    return { id: id!, name: name!, service: service!, node: node ?? '' };
  }).sort((a, b) => a.name.localeCompare(b.name));
}

/** Injects `f`, holds it, heals it. Resolves once the fault is healed (not once the cluster converged). */
export async function injectFault(f: Fault, ctx: FaultContext): Promise<void> {
  const node = ctx.nodes[f.node]!;
  const a = node.agent;
  const where = `node ${f.node} (${node.ip})`;
  switch (f.kind) {
    case 'kill-agent': {
      ctx.say(`kill -9 of the agent on ${where}; restarting it on its data dir after ${f.holdMs} ms`);
      await a.stop('SIGKILL');
      await sleep(f.holdMs);
      const logFrom = a.log().length;
      node.agent = await startAgent({ bind: node.ip, dataDir: a.dataDir, args: node.args, waitReady: false, wrap: ctx.net.wrap(node.ip), ...(node.clock ? { env: node.clock.env() } : {}) });
      node.logFrom = logFrom;
      return;
    }
    case 'pause-agent':
    case 'pause-etcd': {
      const etcd = f.kind === 'pause-etcd' ? a.etcdPids() : [];
      const pids = etcd.length ? etcd : [a.pid];
      const what = etcd.length ? 'its etcd' : f.kind === 'pause-etcd' ? 'the agent (client-only: no etcd child)' : 'the agent';
      ctx.say(`SIGSTOP of ${what} on ${where} for ${f.holdMs} ms`);
      for (const pid of pids) signal(pid, 'SIGSTOP');
      await sleep(f.holdMs);
      for (const pid of pids) signal(pid, 'SIGCONT');
      return;
    }
    case 'kill-etcd': {
      const etcd = a.etcdPids();
      ctx.say(etcd.length ? `kill -9 of the etcd child on ${where}` : `kill -9 of etcd on ${where}: none runs there (client-only), nothing done`);
      for (const pid of etcd) signal(pid, 'SIGKILL');
      return;
    }
    case 'partition': {
      const others = ctx.nodes.filter((n) => n !== node).map((n) => n.ip);
      ctx.say(`partition: ${where} cut off from the others for ${f.holdMs} ms`);
      const heal = await ctx.net.isolate({ ip: node.ip, pids: [a.pid, ...a.etcdPids()] }, others);
      try {
        await sleep(f.holdMs);
      } finally {
        await heal();
      }
      return;
    }
    case 'cut-link': {
      // both ends still reach every other node: the majority, so neither may fence
      const peer = ctx.nodes[linkPeer(f, ctx.nodes.length)]!;
      const ends = `node ${f.node} (${node.ip}) to node ${ctx.nodes.indexOf(peer)} (${peer.ip})`;
      ctx.say(`one-way link cut: every packet from ${ends} dropped (the other way flows) for ${f.holdMs} ms`);
      const logs = ctx.nodes.map((n) => n.agent.log().length);
      const heal = await ctx.net.cutOneWay({ pids: [a.pid, ...a.etcdPids()], ip: node.ip }, { pids: [peer.agent.pid, ...peer.agent.etcdPids()], ip: peer.ip });
      try {
        await sleep(f.holdMs);
      } finally {
        await heal();
      }
      for (const i of fencedSince(ctx.nodes, logs)) ctx.violation({ check: 'fence', message: `node ${i} (${ctx.nodes[i]!.ip}) fenced itself during a one-way cut of the link from ${ends}, though every node still reached a majority` });
      return;
    }
    case 'kill-joiner': {
      // a machine that dies for good while it is being admitted: the cluster must end as healthy as before
      ctx.say(`a new machine on ${ctx.net.spareIp} joins via ${ctx.nodes[0]!.ip}; kill -9 of it ${f.holdMs} ms after its join request is queued, for good`);
      const joiner = await startAgent({ bind: ctx.net.spareIp, args: ['--join', ctx.nodes[0]!.ip], waitReady: false, wrap: ctx.net.wrap(ctx.net.spareIp) });
      // its start takes seconds on a loaded machine: the admission begins with the queued request
      await waitFor('the joiner\'s request queued', () => admissionStage(joiner.log()) !== NOT_QUEUED || !joiner.running, 60_000, 50).catch(() => undefined);
      await sleep(f.holdMs);
      const stage = admissionStage(joiner.log());
      const watchdog = fenceWatchdogOf(joiner.dataDir);
      await joiner.stop('SIGKILL');
      ctx.say(`  the joiner died ${stage}`);
      // healed once its fence has finished, as a dead machine's containers die with it: a start the
      // joiner had sent lands after the watchdog's first look, and runs until its second one, 3 s
      // later (ci83: the check after the fault, converged within that window, counted one)
      if (watchdog) {
        await waitFor("the dead joiner's fence watchdog's second look", () => fenceLooks(joiner.log()).length >= 2, 30_000, 100)
          .catch(() => ctx.say('  its fence watchdog did not finish its looks within 30 s'));
        for (const look of fenceLooks(joiner.log())) ctx.say(`  its fence: ${look}`);
      }
      return;
    }
    case 'restart-docker': {
      // every node shares this machine's engine: all their containers stop and come back
      ctx.say(`the Docker engine stopped (SIGTERM: it stops every container) and started again after ${f.holdMs} ms`);
      try {
        await stopDockerd();
        await sleep(f.holdMs);
      } finally {
        await startDockerd();
      }
      return;
    }
    case 'fill-disk': {
      if (!node.disk) {
        ctx.say(`fill-disk: the data dir of ${where} is not on a disk of its own, nothing done`);
        return;
      }
      const filled = fillDisk(node.disk);
      ctx.say(`the data disk of ${where} filled (${(filled.bytes / 2 ** 20).toFixed(0)} MiB written, not a byte left) for ${f.holdMs} ms`);
      try {
        await sleep(f.holdMs);
      } finally {
        unlinkSync(filled.file);
      }
      return;
    }
    case 'slow-disk': {
      const disk = node.disk;
      const iops = diskIops(f);
      const why = disk ? throttle(disk, a.pid, iops) : 'the data dir is not on a disk of its own';
      if (why || !disk) {
        ctx.say(`slow-disk: ${where}: ${why}, nothing done`);
        return;
      }
      try {
        ctx.say(`the data disk of ${where} slowed to ${iops} reads and writes a second (three 4 KiB writes with fsync there: ${await fsyncMs(disk)} ms) for ${f.holdMs} ms`);
        await sleep(f.holdMs);
      } finally {
        unthrottle(disk);
      }
      return;
    }
    case 'clock-jump': {
      if (!node.clock) {
        ctx.say(`clock-jump: the agent on ${where} runs on the true clock (no libfaketime), nothing done`);
        return;
      }
      const step = clockStep(f);
      ctx.say(`the wall clock of ${where} stepped ${step > 0 ? 'ahead' : 'back'} by ${Math.abs(step)} s for ${f.holdMs} ms, then set right`);
      node.clock.set(step);
      try {
        await sleep(f.holdMs);
      } finally {
        node.clock.set(0);
      }
      return;
    }
    case 'remove-container':
    case 'restart-container': {
      const list = await clusterContainers(ctx.clusterId);
      if (!list.length) {
        ctx.say(`${f.kind}: no service container runs, nothing done`);
        return;
      }
      const c = list[Math.floor(f.pick * list.length)]!;
      ctx.say(`${f.kind === 'remove-container' ? 'docker rm -f' : 'docker restart'} of ${c.name} (${c.service}) behind Warren's back`);
      await (f.kind === 'remove-container' ? docker('rm', '-f', c.id) : docker('restart', '-t', '1', c.id)).catch((err) => ctx.say(`  (docker said: ${(err as Error).message.split('\n')[0]})`));
      return;
    }
  }
}
