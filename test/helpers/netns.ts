/**
 * A little LAN of Linux network namespaces for tests (needs root, iproute2 and iptables).
 *
 *   root ns:   bridge <prefix><tag>b (no IPv4 address unless `rootAddress`)
 *                 ├── veth <prefix><tag>v0 ── ns <prefix>-<pid>-<seq>-h0: eth0 198.18.X.10/24
 *                 ├── veth <prefix><tag>v1 ── ns <prefix>-<pid>-<seq>-h1: eth0 198.18.X.11/24
 *                 └── ...
 *
 * Every namespace has `lo` up and a multicast route `224.0.0.0/4 dev eth0`: without it there is
 * no route for multicast at all (the namespace has only the connected /24), so joining a group
 * fails with ENODEV and sending to 224.0.0.251 fails with ENETUNREACH. The bridge keeps the
 * kernel default `multicast_snooping=1`; mDNS works with it (224.0.0.x is always flooded, and the
 * hosts' IGMP reports make snooping forward other groups too).
 *
 * dockerd sets the FORWARD policy to DROP and `bridge-nf-call-iptables=1` sends bridged frames
 * through it, so each LAN inserts `-i BR -o BR -j ACCEPT` (with a `netns-lan pid=N` comment) and
 * removes it again on cleanup.
 *
 * Names carry the owner's pid (namespace names directly, links and rules through their alias and
 * comment), so `sweepStaleLans` removes only what processes that no longer exist left behind and
 * never touches a LAN of a test file running in parallel. Nothing here touches eth0 of the root
 * namespace; all addresses are in 198.18.0.0/15.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { pidAlive } from '../../src/system/data-dir.ts';

/** A namespace of the LAN. */
export interface LanHost {
  /** namespace name (use with `ip netns exec`, `lan.exec`, `lan.spawnIn`) */
  ns: string;
  /** IPv4 address of eth0 in the namespace, 198.18.X.(10 + index) */
  ip: string;
  index: number;
  /** the root-namespace end of the veth pair, attached to the bridge */
  veth: string;
}

export interface LanOptions {
  /** short name prefix, [a-z][a-z0-9]*, at most 4 characters is safe (interface names are <= 15) */
  prefix: string;
  /** number of namespaces, 1..240 */
  hosts: number;
  /** '198.18.X' or '198.19.X'; by default a /24 not already on a root-namespace interface */
  subnet?: string;
  /**
   * Give the bridge 198.18.X.1/24 so the test process itself (root namespace) can reach the
   * hosts. Off by default: then the root namespace takes no part in the LAN at all.
   */
  rootAddress?: boolean;
  /** how long to wait for links and bridge ports to come up (default 5000 ms) */
  readyTimeoutMs?: number;
}

export interface ExecResult {
  /** exit code, null when killed by a signal (e.g. the timeout) */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** default 15000 ms; the process gets SIGKILL after it */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

export interface SpawnInOptions extends SpawnOptions {
  /** run the command under `setpriv --pdeathsig SIGKILL` so it dies with the test process (default true) */
  pdeathsig?: boolean;
}

export interface Lan {
  /** the unique part of all names of this LAN */
  readonly tag: string;
  readonly bridge: string;
  /** '198.18.X' */
  readonly subnet: string;
  readonly hosts: readonly LanHost[];
  /** '198.18.X.1' when created with `rootAddress`, else undefined */
  readonly rootIp: string | undefined;
  /** Runs `ip netns exec NS cmd ...args` to completion. Never rejects for a non-zero exit; see `code`. */
  exec(ns: string, cmd: string, args?: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Spawns `ip netns exec NS cmd ...args` (ip execs the command, so `child.pid` is the command's pid). */
  spawnIn(ns: string, cmd: string, args?: readonly string[], opts?: SpawnInOptions): ChildProcess;
  /** Kills every process in the namespaces, removes the iptables rule, veths, namespaces and bridge. Idempotent. */
  cleanup(): Promise<void>;
  readonly cleanedUp: boolean;
}

const ALIAS = 'netns-lan';
const IFNAMSIZ = 15;
const SETPRIV = '/usr/bin/setpriv';

const lans = new Set<LanImpl>();
let seq = 0;
let hooksInstalled = false;

function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
}

/** Like `run` but returns null instead of throwing. */
function tryRun(cmd: string, args: readonly string[]): string | null {
  try {
    return run(cmd, args);
  } catch {
    return null;
  }
}

function runAsync(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'utf8', timeout: opts.timeoutMs ?? 15_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env: opts.env },
      (err, stdout, stderr) => {
        if (err && typeof err.code === 'string') {
          reject(err); // could not run at all (ENOENT ...)
          return;
        }
        resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Runs a setup command, throwing with its stderr when it fails. */
async function must(cmd: string, args: readonly string[]): Promise<string> {
  const res = await runAsync(cmd, args);
  if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.code ?? res.signal}): ${res.stderr.trim()}`);
  return res.stdout;
}


function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function listNamespaces(): string[] {
  // `ip netns list` prints "name (id: N)"; /run/netns is the same list without parsing
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

interface LinkInfo {
  ifname: string;
  ifalias?: string;
}

function listLinks(): LinkInfo[] {
  const out = tryRun('ip', ['-j', 'link', 'show']);
  return out ? (JSON.parse(out) as LinkInfo[]) : [];
}

function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

function ruleArgs(bridge: string, pid: number): string[] {
  return ['FORWARD', '-i', bridge, '-o', bridge, '-m', 'comment', '--comment', `${ALIAS} pid=${pid}`, '-j', 'ACCEPT'];
}

/** Deletes every copy of the rule (a rule inserted twice needs two deletes). */
function deleteRule(bridge: string, pid: number): void {
  for (let i = 0; i < 10; i++) {
    if (tryRun('iptables', ['-w', '5', '-C', ...ruleArgs(bridge, pid)]) === null) return;
    tryRun('iptables', ['-w', '5', '-D', ...ruleArgs(bridge, pid)]);
  }
}

/** Kills (SIGKILL) every process whose network namespace is `ns`. */
function killNamespacePids(ns: string): void {
  const out = tryRun('ip', ['netns', 'pids', ns]);
  for (const pid of (out ?? '').split(/\s+/).filter(Boolean).map(Number)) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function checkPrefix(prefix: string): void {
  if (!/^[a-z][a-z0-9]*$/.test(prefix)) throw new Error(`netns prefix must match [a-z][a-z0-9]*, got ${JSON.stringify(prefix)}`);
}

/**
 * Removes namespaces, links (bridges, veths) and FORWARD rules that LANs with this prefix left
 * behind in processes that are gone (crashed or killed test runs). LANs of live processes stay.
 */
export function sweepStaleLans(prefix: string): { namespaces: string[]; links: string[]; rules: string[] } {
  checkPrefix(prefix);
  const removed = { namespaces: [] as string[], links: [] as string[], rules: [] as string[] };

  const nsRe = new RegExp(`^${escapeRe(prefix)}-(\\d+)-\\d+-h\\d+$`);
  for (const ns of listNamespaces()) {
    const m = nsRe.exec(ns);
    if (!m || pidAlive(Number(m[1]))) continue;
    killNamespacePids(ns);
    tryRun('ip', ['netns', 'del', ns]);
    removed.namespaces.push(ns);
  }

  const aliasRe = new RegExp(`^${ALIAS} pid=(\\d+)`);
  const links = listLinks();
  const stale = links.filter((l) => {
    const m = l.ifname.startsWith(prefix) ? aliasRe.exec(l.ifalias ?? '') : null;
    return m !== null && !pidAlive(Number(m[1]));
  });

  // rules first (a rule may only exist while its bridge does), then veths, then bridges
  const rules = (tryRun('iptables', ['-w', '5', '-S', 'FORWARD']) ?? '').split('\n');
  const ruleRe = new RegExp(`^-A FORWARD -i (${escapeRe(prefix)}\\S*) -o \\1 -m comment --comment "?${ALIAS} pid=(\\d+)"? -j ACCEPT$`);
  const staleNames = new Set(stale.map((l) => l.ifname));
  for (const line of rules) {
    const m = ruleRe.exec(line.trim());
    if (!m) continue;
    const [, bridge = '', pid = '0'] = m;
    if (pidAlive(Number(pid)) && !staleNames.has(bridge) && linkExists(bridge)) continue;
    deleteRule(bridge, Number(pid));
    removed.rules.push(line.trim());
  }
  for (const l of stale.sort((a, b) => Number(a.ifname.endsWith('b')) - Number(b.ifname.endsWith('b')))) {
    if (!linkExists(l.ifname)) continue; // the peer of a veth deleted just before
    tryRun('ip', ['link', 'del', l.ifname]);
    removed.links.push(l.ifname);
  }
  return removed;
}

function pickSubnet(wantRoot: boolean, requested: string | undefined): string {
  const used = new Set<string>();
  for (const m of (tryRun('ip', ['-4', '-o', 'addr', 'show']) ?? '').matchAll(/inet (198\.1[89]\.\d+)\.\d+/g)) used.add(m[1]!);
  if (requested !== undefined) {
    const m = /^198\.(18|19)\.(\d{1,3})$/.exec(requested);
    if (!m || Number(m[2]) > 255) throw new Error(`subnet must be '198.18.X' or '198.19.X' (inside 198.18.0.0/15), got ${JSON.stringify(requested)}`);
    if (wantRoot && used.has(requested)) throw new Error(`subnet ${requested}.0/24 is already on a root-namespace interface`);
    return requested;
  }
  for (let tries = 0; tries < 1000; tries++) {
    const candidate = `198.18.${1 + Math.floor(Math.random() * 254)}`;
    if (!used.has(candidate)) return candidate;
  }
  throw new Error('no free 198.18.X.0/24 subnet');
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // best effort: a test process that exits (or crashes) with LANs still up tears them down synchronously
  const cleanupAllSync = (): void => {
    for (const lan of lans) {
      try {
        lan.cleanupSync();
      } catch {
        // best effort; sweepStaleLans catches the rest next run
      }
    }
  };
  process.on('exit', cleanupAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupAllSync();
      process.removeListener(sig, onSignal);
      // keep the default behaviour (die by the signal) unless someone else handles it
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

class LanImpl implements Lan {
  readonly hosts: LanHost[] = [];
  readonly rootIp: string | undefined;
  private readonly namespaces: string[] = [];
  private count = 0;
  private readonly children = new Set<ChildProcess>();
  private ruleAdded = false;
  private bridgeCreated = false;
  private closing: Promise<void> | undefined;
  cleanedUp = false;

  constructor(
    readonly tag: string,
    readonly bridge: string,
    readonly subnet: string,
    private readonly nsBase: string,
    private readonly ifBase: string,
    rootAddress: boolean,
  ) {
    this.rootIp = rootAddress ? `${subnet}.1` : undefined;
  }

  nsName(i: number): string {
    return `${this.nsBase}-h${i}`;
  }

  vethName(i: number): string {
    return `${this.ifBase}v${i}`;
  }

  peerName(i: number): string {
    return `${this.ifBase}p${i}`;
  }

  async setup(count: number, readyTimeoutMs: number): Promise<void> {
    const alias = `${ALIAS} pid=${process.pid}`;
    const br = this.bridge;
    this.count = count;
    await must('ip', ['link', 'add', br, 'type', 'bridge']);
    this.bridgeCreated = true;
    await must('ip', ['link', 'set', br, 'alias', alias, 'multicast', 'on']);
    disableIpv6(br);
    if (this.rootIp) await must('ip', ['addr', 'add', `${this.rootIp}/24`, 'dev', br]);
    await must('ip', ['link', 'set', br, 'up']);
    await must('iptables', ['-w', '5', '-I', ...ruleArgs(br, process.pid)]);
    this.ruleAdded = true;

    // `ip netns add` one at a time: the first one may have to set up the /run/netns mount
    for (let i = 0; i < count; i++) {
      this.namespaces.push(this.nsName(i));
      await must('ip', ['netns', 'add', this.nsName(i)]);
    }
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const ns = this.nsName(i);
        const veth = this.vethName(i);
        const peer = this.peerName(i);
        const ip = `${this.subnet}.${10 + i}`;
        await must('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
        await must('ip', ['link', 'set', veth, 'alias', alias, 'multicast', 'on', 'master', br]);
        disableIpv6(veth);
        await must('ip', ['link', 'set', peer, 'alias', alias, 'netns', ns]);
        await must('ip', ['-n', ns, 'link', 'set', peer, 'name', 'eth0']);
        await must('ip', ['-n', ns, 'link', 'set', 'eth0', 'multicast', 'on', 'up']);
        await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        await must('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
        await must('ip', ['-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
        await must('ip', ['link', 'set', veth, 'up']);
        this.hosts[i] = { ns, ip, index: i, veth };
      }),
    );
    await this.waitReady(readyTimeoutMs);
  }

  /** Bounded polling until every bridge port forwards and every eth0 is up. */
  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let why = '';
    for (;;) {
      why = await this.notReady();
      if (!why) return;
      if (Date.now() > deadline) throw new Error(`netns LAN ${this.tag} not ready after ${timeoutMs} ms: ${why}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async notReady(): Promise<string> {
    type Port = { ifname: string; operstate: string; linkinfo?: { info_slave_data?: { state?: string } } };
    const ports = JSON.parse(await must('ip', ['-j', '-d', 'link', 'show', 'master', this.bridge])) as Port[];
    for (const h of this.hosts) {
      const port = ports.find((p) => p.ifname === h.veth);
      if (!port) return `${h.veth} not on ${this.bridge}`;
      if (port.operstate !== 'UP') return `${h.veth} is ${port.operstate}`;
      const state = port.linkinfo?.info_slave_data?.state;
      if (state !== undefined && state !== 'forwarding') return `bridge port ${h.veth} is ${state}`;
      const [eth0] = JSON.parse(await must('ip', ['-n', h.ns, '-j', 'link', 'show', 'eth0'])) as Port[];
      if (eth0?.operstate !== 'UP') return `eth0 in ${h.ns} is ${eth0?.operstate}`;
    }
    return '';
  }

  private checkNs(ns: string): void {
    if (this.cleanedUp || this.closing) throw new Error(`netns LAN ${this.tag} is cleaned up`);
    if (!this.hosts.some((h) => h.ns === ns)) throw new Error(`${ns} is not a namespace of LAN ${this.tag}`);
  }

  exec(ns: string, cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    this.checkNs(ns);
    return runAsync('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  spawnIn(ns: string, cmd: string, args: readonly string[] = [], opts: SpawnInOptions = {}): ChildProcess {
    this.checkNs(ns);
    const { pdeathsig = true, ...spawnOpts } = opts;
    const guard = pdeathsig && existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'SIGKILL', '--'] : [];
    const child = spawn('ip', ['netns', 'exec', ns, ...guard, cmd, ...args], spawnOpts);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.once('error', () => this.children.delete(child));
    return child;
  }

  private killAll(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const ns of this.namespaces) killNamespacePids(ns);
  }

  cleanup(): Promise<void> {
    this.closing ??= (async () => {
      this.killAll();
      // let node reap the children it spawned (bounded), so their 'exit' handlers run
      const deadline = Date.now() + 3000;
      while (this.children.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      this.cleanupSync();
    })();
    return this.closing;
  }

  /** Synchronous teardown (also used from the process 'exit' hook). Idempotent. */
  cleanupSync(): void {
    if (this.cleanedUp) return;
    this.killAll();
    if (this.ruleAdded) deleteRule(this.bridge, process.pid);
    // delete the veths explicitly: deleting a namespace tears down its devices asynchronously,
    // so the root-side veth ends would otherwise linger for a moment after `ip netns del`
    for (let i = 0; i < this.count; i++) {
      if (linkExists(this.vethName(i))) tryRun('ip', ['link', 'del', this.vethName(i)]);
      if (linkExists(this.peerName(i))) tryRun('ip', ['link', 'del', this.peerName(i)]);
    }
    for (const ns of this.namespaces) {
      if (existsSync(`/run/netns/${ns}`)) tryRun('ip', ['netns', 'del', ns]);
    }
    if (this.bridgeCreated && linkExists(this.bridge)) tryRun('ip', ['link', 'del', this.bridge]);
    this.cleanedUp = true;
    lans.delete(this);

    const left = [
      ...this.namespaces.filter((ns) => existsSync(`/run/netns/${ns}`)),
      ...[this.bridge, ...Array.from({ length: this.count }, (_, i) => this.vethName(i))].filter(linkExists),
    ];
    if (left.length > 0) throw new Error(`netns LAN ${this.tag}: could not remove ${left.join(', ')}`);
  }
}

function disableIpv6(ifname: string): void {
  // keep the root namespace silent on the LAN (no IPv6 link-local, MLD, router solicitations)
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, '1');
  } catch {
    // IPv6 disabled or unavailable: nothing to do
  }
}

/**
 * Creates a bridge in the root namespace and `hosts` namespaces attached to it, hosts[i] with
 * eth0 = `${subnet}.${10 + i}/24`. Sweeps stale LANs with the same prefix first. Throws (after
 * removing what it made) when any step fails.
 */
export async function createLan(opts: LanOptions): Promise<Lan> {
  const { prefix, hosts: count } = opts;
  checkPrefix(prefix);
  if (!Number.isInteger(count) || count < 1 || count > 240) throw new Error(`hosts must be 1..240, got ${count}`);
  sweepStaleLans(prefix);
  installHooks();

  const subnet = pickSubnet(opts.rootAddress ?? false, opts.subnet);
  const existingNs = new Set(listNamespaces());
  let lan: LanImpl | undefined;
  for (let tries = 0; tries < 100 && !lan; tries++) {
    const n = seq++;
    const tag = `${process.pid.toString(36)}${n.toString(36)}`;
    const ifBase = `${prefix}${tag}`;
    const longest = `${ifBase}v${count - 1}`;
    if (longest.length > IFNAMSIZ) throw new Error(`netns prefix ${JSON.stringify(prefix)} too long: interface ${longest} exceeds ${IFNAMSIZ} characters`);
    const nsBase = `${prefix}-${process.pid}-${n}`;
    const candidate = new LanImpl(tag, `${ifBase}b`, subnet, nsBase, ifBase, opts.rootAddress ?? false);
    // a crashed run whose pid we reuse may have left the same names behind
    const clash =
      linkExists(candidate.bridge) ||
      Array.from({ length: count }, (_, i) => i).some((i) => existingNs.has(candidate.nsName(i)) || linkExists(candidate.vethName(i)) || linkExists(candidate.peerName(i)));
    if (!clash) lan = candidate;
  }
  if (!lan) throw new Error('could not find free names for a netns LAN');

  lans.add(lan);
  try {
    await lan.setup(count, opts.readyTimeoutMs ?? 5000);
  } catch (err) {
    await lan.cleanup().catch(() => undefined);
    throw err;
  }
  return lan;
}

/** Cleans up every LAN this process created and has not cleaned up yet (for `after()` hooks). */
export async function cleanupAllLans(): Promise<void> {
  const errors: unknown[] = [];
  await Promise.all(
    [...lans].map((lan) => lan.cleanup().catch((err: unknown) => { errors.push(err); })),
  );
  if (errors.length > 0) throw new AggregateError(errors, 'netns LAN cleanup failed');
}
