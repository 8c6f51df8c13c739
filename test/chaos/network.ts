/**
 * Where a chaos run's nodes live and how their links are cut. Two kinds:
 * - `netns` (the default): every node in a network namespace of its own on one bridge (a LAN,
 *   test/helpers/netns.ts), each with its own network stack, so a cut is an address rule inside
 *   the cut node's own namespace, as it would be on a machine of its own;
 * - `loopback`: every node on an address of 127.B.C.x in the machine's own stack, where
 *   connections leave from 127.0.0.1 whatever a node binds, so cuts match the nodes' processes
 *   (net_cls cgroups, test/helpers/partition.ts).
 * The harness reaches every node's HTTP API in both (on the LAN through the bridge's address).
 */
import { createLan, type Lan } from '../helpers/netns.ts';
import { cutOneWay, healAll, isolate } from '../helpers/partition.ts';

export type NetworkKind = 'netns' | 'loopback';

/** A node as a cut sees it: its address and its processes (agent and etcd). */
export interface CutEnd {
  ip: string;
  pids: number[];
}

export type Heal = () => Promise<void>;

export interface ChaosNet {
  readonly kind: NetworkKind;
  /** the nodes' addresses */
  readonly ips: string[];
  /** an address no node uses: where kill-joiner's new machine runs */
  readonly spareIp: string;
  /** the command an agent on `ip` runs under (its namespace's `ip netns exec`), [] on loopback */
  wrap(ip: string): string[];
  /** cuts `node` off from `others` (both ways); its HTTP API stays reachable from the harness */
  isolate(node: CutEnd, others: string[]): Promise<Heal>;
  /** drops every packet `from` sends to `to`; what `to` sends to `from` still arrives */
  cutOneWay(from: CutEnd, to: CutEnd): Promise<Heal>;
  /** lifts every cut (and removes the namespaces); call after the agents are stopped */
  close(): Promise<void>;
}

export interface NetOptions {
  kind: NetworkKind;
  nodes: number;
  /** loopback only: first two octets (default 127.62) and third octet (default 0) */
  net?: string;
  subnet?: number;
}

export async function chaosNet(o: NetOptions): Promise<ChaosNet> {
  return o.kind === 'netns' ? lanNet(o.nodes) : loopbackNet(o);
}

function loopbackNet(o: NetOptions): ChaosNet {
  const addr = (i: number) => `${o.net ?? '127.62'}.${o.subnet ?? 0}.${2 + i}`;
  return {
    kind: 'loopback',
    ips: Array.from({ length: o.nodes }, (_, i) => addr(i)),
    spareIp: addr(o.nodes),
    wrap: () => [],
    isolate: (node, others) => isolate(node.pids, others),
    cutOneWay: (from, to) => cutOneWay(from, to),
    close: healAll,
  };
}

async function lanNet(nodes: number): Promise<ChaosNet> {
  // one host more than the nodes: the spare machine kill-joiner starts
  const lan = await createLan({ prefix: 'chs', hosts: nodes + 1, rootAddress: true });
  const nsOf = (ip: string) => {
    const host = lan.hosts.find((h) => h.ip === ip);
    if (!host) throw new Error(`no namespace of the chaos LAN has ${ip}`);
    return host.ns;
  };
  /** Inserts iptables rules into a node's namespace; the heal deletes exactly those (once). */
  const rules = async (ip: string, specs: string[][]): Promise<Heal> => {
    const ns = nsOf(ip);
    const done: string[][] = [];
    const heal = async () => {
      for (const spec of done.splice(0)) await lan.exec(ns, 'iptables', ['-w', '-D', ...spec]);
    };
    for (const spec of specs) {
      const r = await lan.exec(ns, 'iptables', ['-w', '-I', ...spec]);
      if (r.code !== 0) {
        await heal();
        throw new Error(`iptables -I ${spec.join(' ')} in ${ns}: ${r.stderr.trim()}`);
      }
      done.push(spec);
    }
    return heal;
  };
  const hosts = lan.hosts.map((h) => h.ip);
  return {
    kind: 'netns',
    ips: hosts.slice(0, nodes),
    spareIp: hosts[nodes]!,
    wrap: (ip) => ['ip', 'netns', 'exec', nsOf(ip)],
    isolate: (node, others) => rules(node.ip, others.flatMap((o) => [['INPUT', '-s', o, '-j', 'DROP'], ['OUTPUT', '-d', o, '-j', 'DROP']])),
    // the node's own stack: its answers on connections `to` opens are dropped too (the SYN-ACK as well)
    cutOneWay: (from, to) => rules(from.ip, [['OUTPUT', '-d', to.ip, '-j', 'DROP']]),
    close: () => lan.cleanup(),
  };
}
