import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rmdir, writeFile, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { cleanupAll, removeClusterContainers } from './agents.ts';

const execFileP = promisify(execFile);
const iptables = (...args: string[]) => execFileP('iptables', ['-w', ...args]);
const NET_CLS = '/sys/fs/cgroup/net_cls';

interface Cut {
  chain: string;
  groups: string[];
}
const active = new Set<Cut>();
let seq = 0;

/** A net_cls cgroup holding `pids`, with a classid unique to this process and cut; its path goes into `cut.groups`. */
async function cgroupOf(cut: Cut, pids: number[]): Promise<number> {
  if (!existsSync(`${NET_CLS}/cgroup.procs`)) {
    await mkdir(NET_CLS, { recursive: true });
    await execFileP('mount', ['-t', 'cgroup', '-o', 'net_cls', 'net_cls', NET_CLS]);
  }
  const n = ++seq;
  const group = `${NET_CLS}/warren-test-${process.pid}-${n}`;
  const classid = 0x00170000 + ((process.pid * 16 + n) & 0xffff);
  await mkdir(group);
  cut.groups.push(group);
  await writeFile(`${group}/net_cls.classid`, String(classid));
  for (const pid of pids) await writeFile(`${group}/cgroup.procs`, String(pid)).catch(() => undefined);
  return classid;
}

function newCut(): Cut {
  const cut: Cut = { chain: `WARREN-T${process.pid}-${seq + 1}`.slice(0, 28), groups: [] };
  active.add(cut);
  return cut;
}

/**
 * Cuts a node's processes (agent + etcd) off from the other nodes. Agents on one machine share
 * the loopback, where connections leave from 127.0.0.1 whatever address a node binds, so the
 * rules match the node's processes instead of its address: they go into a net_cls cgroup, and
 * OUTPUT drops that cgroup's packets to the other nodes and from its libp2p/etcd ports. Its HTTP
 * API stays reachable (tests ask it how it is). Returns the function that heals the cut.
 */
export async function isolate(pids: number[], others: string[], closedPorts = '7371:7373', opts: { alsoToPorts?: string } = {}): Promise<() => Promise<void>> {
  const cut = newCut();
  const classid = await cgroupOf(cut, pids);
  await iptables('-N', cut.chain);
  for (const o of others) await iptables('-A', cut.chain, '-m', 'cgroup', '--cgroup', String(classid), '-d', o, '-j', 'DROP');
  await iptables('-A', cut.chain, '-m', 'cgroup', '--cgroup', String(classid), '-p', 'tcp', '--sport', closedPorts, '-j', 'DROP');
  // connections the processes open themselves to those ports (on any node)
  if (opts.alsoToPorts) await iptables('-A', cut.chain, '-m', 'cgroup', '--cgroup', String(classid), '-p', 'tcp', '--dport', opts.alsoToPorts, '-j', 'DROP');
  await iptables('-I', 'OUTPUT', '1', '-j', cut.chain);
  return () => heal(cut);
}

async function heal(cut: Cut): Promise<void> {
  if (!active.delete(cut)) return;
  await iptables('-D', 'OUTPUT', '-j', cut.chain).catch(() => undefined);
  await iptables('-F', cut.chain).catch(() => undefined);
  await iptables('-X', cut.chain).catch(() => undefined);
  // move the processes back to the root group, then remove ours
  for (const group of cut.groups) {
    const procs = (await readFile(`${group}/cgroup.procs`, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    for (const pid of procs) await writeFile(`${NET_CLS}/cgroup.procs`, pid).catch(() => undefined);
    await rmdir(group).catch(() => undefined);
  }
}

/**
 * A one-way link cut: every packet `from`'s processes send to `to` is dropped, `to`'s packets to
 * `from` still arrive. Packets `from` sends on connections it opens go to `to.ip`; its answers on
 * connections `to` opens leave for 127.0.0.1 (loopback), so those connections are marked by
 * conntrack when `to`'s processes open them to `from.ip`, and `from.ip`'s packets on them are
 * dropped (the SYN-ACK too: it has no process socket to match). Returns the function that heals it.
 */
export async function cutOneWay(from: { pids: number[]; ip: string }, to: { pids: number[]; ip: string }): Promise<() => Promise<void>> {
  const cut = newCut();
  const fromClass = await cgroupOf(cut, from.pids);
  const toClass = await cgroupOf(cut, to.pids);
  const mark = String(toClass);
  await iptables('-N', cut.chain);
  await iptables('-A', cut.chain, '-m', 'cgroup', '--cgroup', String(fromClass), '-d', to.ip, '-j', 'DROP');
  await iptables('-A', cut.chain, '-m', 'cgroup', '--cgroup', String(toClass), '-d', from.ip, '-j', 'CONNMARK', '--set-mark', mark);
  await iptables('-A', cut.chain, '-s', from.ip, '-m', 'connmark', '--mark', mark, '-j', 'DROP');
  await iptables('-I', 'OUTPUT', '1', '-j', cut.chain);
  return () => heal(cut);
}

/** Removes every cut this process made (tests call it in `after`, even after a failure). */
export async function healAll(): Promise<void> {
  for (const cut of [...active]) await heal(cut);
}

/**
 * The cleanup of a test file that cuts links: every cut healed, every agent of this process
 * stopped and its files removed (cleanupAll), then its clusters' containers swept once more.
 */
export async function healAndCleanupAll(): Promise<void> {
  await healAll();
  await cleanupAll();
  await removeClusterContainers();
}
