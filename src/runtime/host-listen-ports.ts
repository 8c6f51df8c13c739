/**
 * The ports this node's host-network containers really listen on (core/mesh/listening-sockets.ts),
 * looked up again every few seconds while they run: a service's compose file need not list them
 * for the stack's other services and the proxy to reach it. Reads /proc (the agent runs as root);
 * what it cannot read is simply not found.
 */
import type Docker from 'dockerode';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { parseSocketTable, processTree, reachablePorts, socketInode, type Protocol } from '../core/mesh/listening-sockets.ts';
import type { ReplicaStatus } from '../core/service-types.ts';
import { monoNow } from '../system/clock.ts';

/** How often a running container's sockets are looked at again (an app opens ports as it starts). */
const REFRESH_MS = 5000;
const TABLES: { file: string; protocol: Protocol }[] = [
  { file: 'tcp', protocol: 'tcp' },
  { file: 'tcp6', protocol: 'tcp' },
  { file: 'udp', protocol: 'udp' },
  { file: 'udp6', protocol: 'udp' },
];

type Ports = ReplicaStatus['ports'];

export class HostListenPorts {
  private readonly found = new Map<string, { at: number; ports: Ports }>();

  constructor(private readonly docker: Docker, private readonly refreshMs = REFRESH_MS, private readonly proc = '/proc') {}

  /** The ports found for a container (undefined: not looked at yet). */
  get(containerId: string): Ports | undefined {
    return this.found.get(containerId)?.ports;
  }

  /** Looks again at the containers due (running host-network ones); forgets the rest. */
  async refresh(containerIds: string[], nodeAddr: string): Promise<void> {
    for (const id of [...this.found.keys()]) if (!containerIds.includes(id)) this.found.delete(id);
    const now = monoNow();
    const due = containerIds.filter((id) => now - (this.found.get(id)?.at ?? -Infinity) >= this.refreshMs);
    if (due.length === 0) return;
    const parents = await this.parents();
    for (const id of due) {
      const pid = await this.docker.getContainer(id).inspect().then((i) => i.State?.Pid ?? 0, () => 0);
      if (!pid) continue;
      const ports = await this.portsOf(pid, parents, nodeAddr).catch(() => undefined);
      if (ports) this.found.set(id, { at: now, ports });
    }
  }

  private async portsOf(pid: number, parents: Map<number, number>, nodeAddr: string): Promise<Ports> {
    const inodes = new Set<string>();
    for (const p of processTree(pid, parents)) {
      const fds = await readdir(`${this.proc}/${p}/fd`).catch(() => [] as string[]);
      for (const fd of fds) {
        const inode = socketInode(await readlink(`${this.proc}/${p}/fd/${fd}`).catch(() => ''));
        if (inode) inodes.add(inode);
      }
    }
    // the container's own view of the sockets: the node's, as it shares its network
    const tables = await Promise.all(TABLES.map(async (t) => ({ protocol: t.protocol, entries: parseSocketTable(await readFile(`${this.proc}/${pid}/net/${t.file}`, 'utf8').catch(() => ''), t.protocol) })));
    return reachablePorts(tables, inodes, nodeAddr).map((p) => ({ container: p.port, protocol: p.protocol, hostPort: p.port }));
  }

  /** pid → ppid of every process (the container's processes are its first one's descendants). */
  private async parents(): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const e of await readdir(this.proc).catch(() => [] as string[])) {
      if (!/^\d+$/.test(e)) continue;
      const stat = await readFile(`${this.proc}/${e}/stat`, 'utf8').catch(() => '');
      // the command may hold spaces and parentheses: fields start after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (Number.isInteger(ppid)) out.set(Number(e), ppid);
    }
    return out;
  }
}
