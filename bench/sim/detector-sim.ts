import { Membership, type MembershipOutput } from '../../src/core/membership.ts';
import { EventQueue } from './queue.ts';
import { Network, type NetworkConfig } from './network.ts';

/**
 * The failure detector at scale: N nodes, each running the real Membership machine, driven as
 * src/gossip/gossip-service.ts drives it — a heartbeat to every peer every heartbeatIntervalMs
 * stretched by the machine's scale (beyond 8 nodes), a tick every 100 ms, direct probes (a ping)
 * and indirect probes through the helpers the machine names, rumors gossiped to every peer, and
 * a refutation (heartbeat + alive rumor) when the machine asks for one, and every second the
 * suspicions it holds gossiped again.
 *
 * A message published once (heartbeat, rumor) reaches every receiver after the same latency,
 * drawn per message; loss is drawn per receiver.
 */

type Ev =
  | { k: 'tick'; n: number }
  | { k: 'hb'; n: number }
  | { k: 'repeat'; n: number }
  | { k: 'publish'; from: number; msg: { t: 'hb'; inc: number } | { t: 'rumor'; about: string; state: 'alive' | 'suspect' | 'dead'; inc: number; to?: string } }
  | { k: 'probe'; n: number; target: string; ok: boolean; via: 'direct' | 'indirect'; helper?: string };

interface SimNode {
  id: string;
  m: Membership;
  up: boolean;
  received: number;
  sent: number;
}

export interface Verdict {
  observer: number;
  about: number;
  at: number;
}

const TICK_MS = 100;
const HEARTBEAT_MS = 250;
const REPEAT_MS = 1000;

export class DetectorSim {
  readonly q = new EventQueue<Ev>();
  readonly net: Network;
  readonly nodes: SimNode[] = [];
  private readonly index = new Map<string, number>();
  /** every 'dead' state change: who declared whom, when */
  readonly deadVerdicts: Verdict[] = [];
  readonly suspectVerdicts: Verdict[] = [];
  private counting = false;
  private countFrom = 0;

  constructor(
    readonly n: number,
    net: NetworkConfig,
  ) {
    this.net = new Network(net);
    for (let i = 0; i < n; i++) {
      const id = `n${String(i).padStart(5, '0')}`;
      this.index.set(id, i);
      this.nodes.push({ id, m: new Membership({ selfId: id, incarnation: 1 }), up: true, received: 0, sent: 0 });
    }
    // a formed cluster: everybody has heard everybody once (as after founding and admission)
    for (const a of this.nodes) for (const b of this.nodes) if (a !== b) a.m.heartbeat(b.id, { incarnation: 1, now: 0 });
    for (let i = 0; i < n; i++) {
      this.q.push(this.net.random() * TICK_MS, { k: 'tick', n: i });
      this.q.push(this.net.random() * HEARTBEAT_MS * this.nodes[i]!.m.scale, { k: 'hb', n: i });
      this.q.push(this.net.random() * REPEAT_MS, { k: 'repeat', n: i });
    }
  }

  /** Runs every event up to `until` (ms of simulated time). */
  run(until: number): void {
    for (let e = this.q.pop(until); e; e = this.q.pop(until)) this.handle(e);
    this.q.now = until;
  }

  kill(i: number): void {
    this.nodes[i]!.up = false;
  }

  /** Counts messages from now on (messages per node per second). */
  startCounting(): void {
    for (const n of this.nodes) n.received = n.sent = 0;
    this.counting = true;
    this.countFrom = this.q.now;
  }

  /** messages received and published per live node per second since startCounting() */
  rates(): { received: number; published: number } {
    const live = this.nodes.filter((n) => n.up);
    const secs = (this.q.now - this.countFrom) / 1000;
    const sum = (f: (n: SimNode) => number) => live.reduce((s, n) => s + f(n), 0) / live.length / secs;
    return { received: sum((n) => n.received), published: sum((n) => n.sent) };
  }

  private handle(e: Ev): void {
    const now = this.q.now;
    if (e.k === 'tick') {
      const node = this.nodes[e.n]!;
      if (!node.up) return;
      this.q.push(now + TICK_MS, e);
      this.apply(e.n, node.m.tick(now));
    } else if (e.k === 'hb') {
      const node = this.nodes[e.n]!;
      if (!node.up) return;
      this.q.push(now + Math.round(HEARTBEAT_MS * node.m.scale), e);
      this.publish(e.n, { t: 'hb', inc: node.m.self.incarnation });
    } else if (e.k === 'repeat') {
      const node = this.nodes[e.n]!;
      if (!node.up) return;
      this.q.push(now + REPEAT_MS, e);
      for (const m of node.m.list()) if (m.state === 'suspect') this.publish(e.n, { t: 'rumor', about: m.id, state: 'suspect', inc: m.incarnation });
    } else if (e.k === 'publish') {
      this.deliver(e.from, e.msg);
    } else {
      const node = this.nodes[e.n]!;
      if (node.up) this.apply(e.n, node.m.probeResult(e.target, { ok: e.ok, via: e.via, now, ...(e.helper ? { helper: e.helper } : {}) }));
    }
  }

  private publish(from: number, msg: Extract<Ev, { k: 'publish' }>['msg']): void {
    this.nodes[from]!.sent++;
    this.q.push(this.q.now + this.net.latency(), { k: 'publish', from, msg });
  }

  private deliver(from: number, msg: Extract<Ev, { k: 'publish' }>['msg']): void {
    const now = this.q.now;
    const sender = this.nodes[from]!.id;
    for (let i = 0; i < this.nodes.length; i++) {
      const r = this.nodes[i]!;
      if (i === from || !r.up || !this.net.delivers(from, i)) continue;
      if (this.counting) r.received++;
      if (msg.t === 'rumor' && msg.to !== undefined && msg.to !== r.id) continue; // told to one member (as the gossip acceptance does)
      const out = msg.t === 'hb' ? r.m.heartbeat(sender, { incarnation: msg.inc, now }) : r.m.rumor(msg.about, { state: msg.state, incarnation: msg.inc, from: sender, now });
      if (out.length) this.apply(i, out);
    }
  }

  /** A ping from a to b and its answer: true when both legs get through. */
  private pings(a: number, b: number): boolean {
    return this.nodes[b]!.up && this.net.delivers(a, b) && this.net.delivers(b, a);
  }

  private apply(i: number, outputs: MembershipOutput[]): void {
    const now = this.q.now;
    const node = this.nodes[i]!;
    const timeout = node.m.config.probeTimeoutMs;
    for (const o of outputs) {
      if (o.type === 'state') {
        const about = this.index.get(o.id)!;
        if (o.to === 'dead') this.deadVerdicts.push({ observer: i, about, at: now });
        if (o.to === 'suspect') this.suspectVerdicts.push({ observer: i, about, at: now });
      } else if (o.type === 'probe') {
        const target = this.index.get(o.target)!;
        if (o.mode === 'direct') {
          const ok = this.pings(i, target);
          this.q.push(now + (ok ? this.net.latency() + this.net.latency() : timeout), { k: 'probe', n: i, target: o.target, ok, via: 'direct' });
        } else {
          // each helper pings the target for us (an HTTP call to the helper, then its ping)
          for (const helper of o.via) {
            const h = this.index.get(helper)!;
            const ok = this.pings(i, h) && this.pings(h, target);
            const rtt = this.net.latency() + this.net.latency() + this.net.latency() + this.net.latency();
            this.q.push(now + (ok && rtt < timeout ? rtt : timeout), { k: 'probe', n: i, target: o.target, ok: ok && rtt < timeout, via: 'indirect', helper });
          }
        }
      } else if (o.type === 'broadcast') {
        this.publish(i, { t: 'rumor', about: o.about, state: o.state, inc: o.incarnation });
      } else if (o.type === 'tell') {
        this.publish(i, { t: 'rumor', about: o.about, state: o.state, inc: o.incarnation, to: o.about });
      } else if (o.type === 'refute') {
        this.publish(i, { t: 'hb', inc: o.incarnation });
        this.publish(i, { t: 'rumor', about: node.id, state: 'alive', inc: o.incarnation });
      }
    }
  }
}
