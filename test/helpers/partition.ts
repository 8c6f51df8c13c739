import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rmdir, writeFile, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const iptables = (...args: string[]) => execFileP('iptables', ['-w', ...args]);
const NET_CLS = '/sys/fs/cgroup/net_cls';

interface Cut {
  chain: string;
  group: string;
}
const active = new Set<Cut>();
let seq = 0;

/**
 * Cuts a node's processes (agent + etcd) off from the other nodes. Agents on one machine share
 * the loopback, where connections leave from 127.0.0.1 whatever address a node binds, so the
 * rules match the node's processes instead of its address: they go into a net_cls cgroup, and
 * OUTPUT drops that cgroup's packets to the other nodes and from its libp2p/etcd ports. Its HTTP
 * API stays reachable (tests ask it how it is). Returns the function that heals the cut.
 */
export async function isolate(pids: number[], others: string[], closedPorts = '7371:7373', opts: { alsoToPorts?: string } = {}): Promise<() => Promise<void>> {
  if (!existsSync(`${NET_CLS}/cgroup.procs`)) {
    await mkdir(NET_CLS, { recursive: true });
    await execFileP('mount', ['-t', 'cgroup', '-o', 'net_cls', 'net_cls', NET_CLS]);
  }
  const n = ++seq;
  const cut: Cut = { chain: `WARREN-T${process.pid}-${n}`.slice(0, 28), group: `${NET_CLS}/warren-test-${process.pid}-${n}` };
  const classid = 0x00170000 + ((process.pid * 16 + n) & 0xffff);
  await mkdir(cut.group);
  active.add(cut);
  await writeFile(`${cut.group}/net_cls.classid`, String(classid));
  for (const pid of pids) await writeFile(`${cut.group}/cgroup.procs`, String(pid)).catch(() => undefined);
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
  const procs = (await readFile(`${cut.group}/cgroup.procs`, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  for (const pid of procs) await writeFile(`${NET_CLS}/cgroup.procs`, pid).catch(() => undefined);
  await rmdir(cut.group).catch(() => undefined);
}

/** Removes every cut this process made (tests call it in `after`, even after a failure). */
export async function healAll(): Promise<void> {
  for (const cut of [...active]) await heal(cut);
}
