import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, readFile, cp, readdir, stat } from 'node:fs/promises';
import { createWriteStream, existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor, pidAlive } from './wait.ts';
import { removeFaketimeState } from './skewed-clock.ts';
import { removeContainers } from './docker-rm.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
export const WARREN_BIN = join(ROOT, 'bin/warren');
const execFileP = promisify(execFile);
/** where cleanupAll keeps the agents' logs: /tmp/warren-test-logs/<test pid> */
const LOG_KEEP = join(tmpdir(), 'warren-test-logs', String(process.pid));

/** Every process and dir the helpers made, so `cleanupAll` can remove them even after a failure. */
const live = new Set<AgentHandle>();
const dirs = new Set<string>();
/** data dirs of the agents this test process started, and the clusters they were in */
const agentDataDirs = new Set<string>();
const clusterIds = new Set<string>();

/**
 * The ids of the clusters this test process's agents formed or joined (their containers carry
 * them as `warren.cluster`): cleanup removes those containers only, never another test's.
 */
export async function testClusterIds(): Promise<string[]> {
  for (const d of agentDataDirs) {
    const id = (await readJson(join(d, 'cluster.json')).catch(() => undefined))?.clusterId;
    if (typeof id === 'string') clusterIds.add(id);
  }
  return [...clusterIds];
}

/** Removes the containers of the clusters this test process's agents made (never another test's); `cleanupAll` does, between stopping the agents and removing their dirs (a writer still running into a volume's dir made its removal fail), and tests that stop agents themselves. */
export async function removeClusterContainers(): Promise<void> {
  for (const cluster of await testClusterIds()) {
    const { stdout } = await execFileP('docker', ['ps', '-aq', '--filter', `label=warren.cluster=${cluster}`]).catch(() => ({ stdout: '' }));
    const ids = stdout.split('\n').filter(Boolean);
    await removeContainers(ids);
  }
}

export async function tempDir(prefix = 'warren-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export interface AgentOptions {
  bind: string;
  dataDir?: string;
  name?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** mDNS stays off unless asked for: on the host namespace it would multicast on the real LAN */
  mdns?: boolean;
  /** wait for /v1/health 200 (default true) */
  waitReady?: boolean;
  /**
   * Do not pass --bind: the agent picks its address itself (e.g. its tailnet address with
   * --tailscale on). `bind` is still where the handle (and `api`) expects it to end up.
   */
  noBindFlag?: boolean;
  /** another build's bin/warren (upgrade tests); default this checkout's */
  bin?: string;
  /** a command the agent runs under, which ends by exec-ing its arguments (e.g. unshare); the agent keeps its pid */
  wrap?: string[];
}

export class AgentHandle {
  readonly logFile: string;
  exitCode: number | null = null;
  exited: Promise<number | null>;

  constructor(
    readonly child: ChildProcess,
    readonly bind: string,
    readonly dataDir: string,
    /** started under libfaketime (skewed-clock.ts) */
    faked = false,
  ) {
    this.logFile = join(dataDir, '..', `${bind}.agent.log`);
    const log = createWriteStream(this.logFile, { flags: 'a' });
    // the log ends when both streams have: a process the agent left behind (its fence watchdog)
    // may still write after the agent's own end
    let open = 2;
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.pipe(log, { end: false });
      stream.on('end', () => --open === 0 && log.end());
    }
    this.exited = new Promise((resolve) => child.on('exit', (code) => {
      this.exitCode = code;
      if (faked && child.pid) removeFaketimeState(child.pid);
      live.delete(this);
      resolve(code);
    }));
  }

  get api(): string {
    return `http://${this.bind}:7370`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** etcd processes whose command line names this agent's data dir. */
  etcdPids(): number[] {
    return findPids((cmd) => cmd.includes('etcd') && cmd.includes(`--data-dir\0${join(this.dataDir, 'etcd')}`));
  }

  async health(): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.api}/v1/health`, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.json() };
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (!this.running) return this.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** PIDs whose NUL-separated command line matches. */
export function findPids(match: (cmdline: string) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (match(cmd)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * Starts a real agent process. It runs under `setpriv --pdeathsig SIGKILL`, so even a test
 * runner that dies leaves no agent behind (and the agent's own etcd follows it).
 */
export async function startAgent(opts: AgentOptions): Promise<AgentHandle> {
  const dataDir = opts.dataDir ?? join(await tempDir(), 'data');
  const args = ['agent', ...(opts.noBindFlag ? [] : ['--bind', opts.bind]), '--data-dir', dataDir, '--name', opts.name ?? `n${opts.bind.split('.').pop()}`, '--log-level', 'debug', ...(opts.mdns ? [] : ['--no-mdns']), ...(opts.args?.includes('--tailscale') ? [] : ['--tailscale', 'off']), ...(opts.args ?? [])];
  const child = spawn('/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', ...(opts.wrap ?? []), opts.bin ?? WARREN_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  const handle = new AgentHandle(child, opts.bind, dataDir, opts.env?.FAKETIME_TIMESTAMP_FILE !== undefined);
  live.add(handle);
  agentDataDirs.add(dataDir);
  if (opts.waitReady ?? true) {
    await waitFor(`agent on ${opts.bind} healthy`, async () => {
      if (!handle.running) throw new Error(`agent exited with ${handle.exitCode}: ${handle.log().slice(-600)}`);
      return (await handle.health()).status === 200;
    }, 30_000);
  }
  return handle;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI. */
export async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileP(WARREN_BIN, args, { env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Kills every agent the helpers started and removes their dirs; call from `after`. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...live].map((a) => a.stop('SIGKILL', 5000)));
  // their containers next (the clusters are read from the data dirs, which go last)
  await removeClusterContainers();
  for (const d of agentDataDirs) if ([...dirs].some((dir) => d.startsWith(dir))) agentDataDirs.delete(d);
  for (const dir of dirs) {
    // a killed agent's etcd dies by pdeathsig; wait for it before removing its files
    await waitFor(`etcd of ${dir} gone`, () => findPids((c) => c.includes('etcd') && c.includes(dir)).length === 0, 10_000).catch(() => {
      for (const pid of findPids((c) => c.includes(dir))) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    // keep the agents' logs for post-mortems (CI prints nothing else of them): logs only, since a
    // dir may also hold built packages or disk images (~0.5 GB each run filled the disk in time)
    await cp(dir, join(LOG_KEEP, dir.split('/').pop()!), { recursive: true, filter: (src) => src.endsWith('.log') || isDir(src) }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  dirs.clear();
  await pruneKeptLogs();
}

/** Kept logs of test processes older than a week go (each run adds a few MB). */
async function pruneKeptLogs(): Promise<void> {
  const root = dirname(LOG_KEEP);
  const old = Date.now() - 7 * 86_400_000;
  for (const e of await readdir(root).catch(() => [])) {
    const path = join(root, e);
    const mtime = (await stat(path).catch(() => undefined))?.mtimeMs ?? Infinity;
    if (mtime < old) await rm(path, { recursive: true, force: true });
  }
}

function isDir(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

export async function readJson(path: string): Promise<any> {
  return JSON.parse(await readFile(path, 'utf8'));
}

/** An etcd client holding the agent's own certificate (etcd requires one from the cluster CA). */
export async function etcdClientOf(agent: { dataDir: string }, endpoints: string[]) {
  const { readTlsFiles } = await import('../../src/system/pki.ts');
  const { createEtcdClient } = await import('../../src/consensus/etcd-client.ts');
  const tls = await readTlsFiles(join(agent.dataDir, 'tls'));
  if (!tls) throw new Error(`no TLS files in ${agent.dataDir}`);
  return createEtcdClient({ endpoints, tls });
}
