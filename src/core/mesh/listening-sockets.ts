/**
 * The ports a host-network container listens on, from the kernel's socket tables
 * (/proc/<pid>/net/tcp, tcp6, udp, udp6) and the socket inodes its processes hold: a
 * `network_mode: host` service whose compose file lists no port (Home Assistant's does not) is
 * still reached by name and through the proxy at the ports it really opened. Pure.
 */
export type Protocol = 'tcp' | 'udp';

export interface SocketEntry {
  inode: string;
  /** the local address, dotted IPv4 or hex IPv6 ('' for a wildcard) */
  addr: string;
  port: number;
  /** a TCP socket in LISTEN, or a UDP socket bound and not connected */
  listening: boolean;
}

const TCP_LISTEN = '0A';
const UDP_UNCONNECTED = '07';

/** The kernel's hex address (IPv4 in host byte order, little-endian here) as text; '' for any-address. */
function addrOf(hex: string): string {
  if (/^0+$/.test(hex)) return '';
  if (hex.length === 8) return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
  // IPv6: 4 words, each little-endian; an IPv4-mapped address (::ffff:a.b.c.d) as the IPv4 one
  const words = [0, 8, 16, 24].map((i) => hex.slice(i, i + 8).match(/../g)!.reverse().join(''));
  if (words[0] === '00000000' && words[1] === '00000000' && words[2] === '0000FFFF') return words[3]!.match(/../g)!.map((b) => parseInt(b, 16)).join('.');
  return words.join('').toLowerCase();
}

/** The rows of one /proc/net/{tcp,tcp6,udp,udp6} text. */
export function parseSocketTable(text: string, protocol: Protocol): SocketEntry[] {
  const out: SocketEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [localHex, portHex] = f[1]!.split(':');
    const remotePort = f[2]!.split(':')[1];
    if (!localHex || !portHex) continue;
    const state = f[3]!;
    const listening = protocol === 'tcp' ? state === TCP_LISTEN : state === UDP_UNCONNECTED && remotePort === '0000';
    out.push({ inode: f[9]!, addr: addrOf(localHex), port: parseInt(portHex, 16), listening });
  }
  return out;
}

/**
 * The ports other machines can reach: sockets the container holds (`inodes`), listening on every
 * address or on the node's own (`nodeAddr`), not loopback-only ones. Sorted, one per port and protocol.
 */
export function reachablePorts(tables: { protocol: Protocol; entries: SocketEntry[] }[], inodes: ReadonlySet<string>, nodeAddr: string): { port: number; protocol: Protocol }[] {
  const seen = new Map<string, { port: number; protocol: Protocol }>();
  for (const t of tables) {
    for (const e of t.entries) {
      if (!e.listening || e.port === 0 || !inodes.has(e.inode)) continue;
      if (e.addr !== '' && e.addr !== nodeAddr) continue;
      seen.set(`${e.port}/${t.protocol}`, { port: e.port, protocol: t.protocol });
    }
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

/** The inode of an fd's link target (`socket:[12345]`), else undefined. */
export const socketInode = (link: string): string | undefined => /^socket:\[(\d+)\]$/.exec(link)?.[1];

/** `root` and every process below it, from (pid, ppid) pairs. */
export function processTree(root: number, parents: ReadonlyMap<number, number>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) {
    let list = children.get(ppid);
    if (!list) children.set(ppid, (list = []));
    list.push(pid);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    if (out.includes(p)) continue;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}
