/**
 * The L4 forwards of the routing mesh and of stack names (plans from core/mesh/forward-plan.ts):
 * one TCP server or UDP socket per forward, kept in step with the plan by `apply`. A forward's
 * targets change in place (a move needs no re-listen); a new connection or UDP flow goes to the
 * next target round-robin, and a TCP connect that fails tries the following ones. A listen that
 * fails (the port is taken) is retried on the next `apply`.
 *
 * UDP: each client (address:port) gets a socket of its own towards one target (its flow), so
 * answers go back to the right client; a flow idle for UDP_IDLE_MS is closed.
 *
 * Guards (core/mesh/guard-plan.ts): a guard listens at the port it had (or any, the first time)
 * and admits only the members' addresses of the last `apply`: any other TCP client is reset
 * before anything reaches the target, any other datagram dropped. Connections and flows to a
 * node's address (a target with `node`) leave from this node's own address (`source`).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { forwardKey, type Forward, type ForwardTarget } from '../core/mesh/forward-plan.ts';
import { admits, sourceFor } from '../core/mesh/guard-plan.ts';

export const UDP_IDLE_MS = 30_000;
const CONNECT_TIMEOUT_MS = 3_000;

export interface ForwarderLog {
  warn(fields: object, msg: string): void;
  debug(fields: object, msg: string): void;
}

export interface ForwardStats {
  tcpConnections: number;
  tcpFailed: number;
  udpFlows: number;
  /** TCP connections reset and datagrams dropped by a guard (not a member's address) */
  guardRefused: number;
}

/** Who may pass the guards, and where this node connects from. */
export interface ForwarderAccess {
  /** the members' addresses (guards admit these only) */
  allowed?: readonly string[];
  /** this node's bind address: the source of connections to other nodes' addresses */
  source?: string;
}

interface Listener {
  forward: Forward;
  /** the port it listens on (a guard's may differ from the plan's wish) */
  port: number;
  next: number;
  close(): Promise<void>;
  /** the forward's targets changed (UDP ends the flows to targets that left) */
  retargeted?(): void;
}

export class L4Forwarder {
  private readonly listeners = new Map<string, Listener>();
  /** listens in progress (apply may be called again before one finishes) */
  private readonly opening = new Map<string, Promise<void>>();
  private closed = false;
  private allowed: ReadonlySet<string> = new Set();
  private source: string | undefined;
  readonly stats: ForwardStats = { tcpConnections: 0, tcpFailed: 0, udpFlows: 0, guardRefused: 0 };

  constructor(private readonly log: ForwarderLog) {}

  /** Listens on every forward of the plan (not yet listening) and closes the others; the guards' ports. */
  async apply(forwards: readonly Forward[], access: ForwarderAccess = {}): Promise<Record<string, number>> {
    if (this.closed) return {};
    this.allowed = new Set(access.allowed ?? []);
    this.source = access.source;
    const want = new Map(forwards.map((f) => [forwardKey(f), f]));
    const closing: Promise<void>[] = [];
    for (const [key, l] of this.listeners) {
      if (want.has(key)) continue;
      this.listeners.delete(key);
      closing.push(l.close());
    }
    await Promise.all(closing);
    const opening: Promise<void>[] = [];
    for (const [key, f] of want) {
      const l = this.listeners.get(key);
      if (l) {
        l.forward = { ...f, port: l.port };
        l.retargeted?.();
        continue;
      }
      if (!this.opening.has(key)) {
        const p = this.open(f)
          .then((listener) => {
            if (this.closed) return listener.close();
            this.listeners.set(key, listener);
          })
          .catch((err: Error) => this.log.warn({ forward: key, service: f.service, err: err.message }, 'cannot listen for the mesh: retried on the next change'))
          .finally(() => this.opening.delete(key));
        this.opening.set(key, p);
      }
      opening.push(this.opening.get(key)!);
    }
    await Promise.all(opening);
    // a forward opened while its plan moved on: take the newest targets
    for (const [key, f] of want) {
      const l = this.listeners.get(key);
      if (l) {
        l.forward = { ...f, port: l.port };
        l.retargeted?.();
      }
    }
    return this.guardPorts();
  }

  /** The keys listened on now. */
  keys(): string[] {
    return [...this.listeners.keys()].sort();
  }

  /** Each listening guard's port, by guard id. */
  guardPorts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const l of this.listeners.values()) if (l.forward.kind === 'guard' && l.forward.id) out[l.forward.id] = l.port;
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.opening.values()]);
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => l.close()));
  }

  /** A guard whose old port is taken now (the mesh process restarted) takes any port. */
  private async open(f: Forward): Promise<Listener> {
    const listen = (g: Forward) => (g.protocol === 'tcp' ? this.openTcp(g) : this.openUdp(g));
    if (f.kind !== 'guard' || f.port === 0) return listen(f);
    return listen(f).catch(() => listen({ ...f, port: 0 }));
  }

  /** A guard's check: false (and counted) when the peer is not a member. */
  private refuses(f: Forward, remote: string | undefined): boolean {
    if (f.kind !== 'guard' || admits(this.allowed, remote)) return false;
    this.stats.guardRefused++;
    this.log.debug({ forward: forwardKey(f), remote }, 'guard: not a member\'s address, refused');
    return true;
  }

  /** Where a connection or flow to `t` leaves from: this node's own address for another node's. */
  private localAddress(t: ForwardTarget): string | undefined {
    return t.node && this.source ? sourceFor(this.source, t.host) : undefined;
  }

  private pick(l: Listener): ForwardTarget[] {
    const t = l.forward.targets;
    if (t.length === 0) return [];
    const start = l.next++ % t.length;
    return [...t.slice(start), ...t.slice(0, start)];
  }

  private openTcp(f: Forward): Promise<Listener> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
      client.on('error', () => client.destroy());
      if (this.refuses(listener.forward, client.remoteAddress)) return void client.resetAndDestroy();
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      this.stats.tcpConnections++;
      this.connect(client, this.pick(listener), sockets);
    });
    const listener: Listener = {
      forward: f,
      port: f.port,
      next: 0,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        }),
    };
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: f.ip, port: f.port, exclusive: true }, () => {
        server.off('error', reject);
        listener.port = (server.address() as net.AddressInfo).port;
        listener.forward = { ...f, port: listener.port };
        server.on('error', (err) => this.log.warn({ forward: forwardKey(f), err: err.message }, 'mesh listener error'));
        resolve(listener);
      });
    });
  }

  /** Connects the client to the first target that answers; none: the client is reset. */
  private connect(client: net.Socket, targets: ForwardTarget[], sockets: Set<net.Socket>): void {
    const target = targets[0];
    if (!target || client.destroyed) {
      if (!target) this.stats.tcpFailed++;
      client.resetAndDestroy();
      return;
    }
    const localAddress = this.localAddress(target);
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, ...(localAddress ? { localAddress } : {}) });
    sockets.add(upstream);
    upstream.setNoDelay(true);
    const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), CONNECT_TIMEOUT_MS);
    const failed = (err: Error) => {
      clearTimeout(timer);
      sockets.delete(upstream);
      this.log.debug({ target: `${target.host}:${target.port}`, err: err.message }, 'mesh target did not answer: trying the next');
      this.connect(client, targets.slice(1), sockets);
    };
    upstream.once('error', failed);
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.off('error', failed);
      upstream.on('close', () => sockets.delete(upstream));
      client.setNoDelay(true);
      // a reset on one side resets the other; a clean end half-closes it
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('close', (hadError) => (hadError ? client.resetAndDestroy() : undefined));
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }

  private openUdp(f: Forward): Promise<Listener> {
    const sock = dgram.createSocket({ type: f.ip.includes(':') ? 'udp6' : 'udp4' });
    const flows = new Map<string, { up: dgram.Socket; target: ForwardTarget; timer: NodeJS.Timeout }>();
    const endFlow = (key: string) => {
      const fl = flows.get(key);
      if (!fl) return;
      flows.delete(key);
      clearTimeout(fl.timer);
      fl.up.close();
    };
    const listener: Listener = {
      forward: f,
      port: f.port,
      next: 0,
      close: () =>
        new Promise<void>((resolve) => {
          for (const key of [...flows.keys()]) endFlow(key);
          sock.close(() => resolve());
        }),
      // a flow to a replica that is gone would send into the void until it idles out
      retargeted: () => {
        const live = new Set(listener.forward.targets.map((t) => `${t.host}:${t.port}`));
        for (const [key, fl] of [...flows]) if (!live.has(`${fl.target.host}:${fl.target.port}`)) endFlow(key);
      },
    };
    sock.on('message', (msg, rinfo) => {
      if (this.refuses(listener.forward, rinfo.address)) return; // dropped: UDP has no reset
      const key = `${rinfo.address}:${rinfo.port}`;
      let fl = flows.get(key);
      if (!fl) {
        const target = this.pick(listener)[0];
        if (!target) return; // nothing to answer: UDP has no reset
        const up = dgram.createSocket({ type: target.host.includes(':') ? 'udp6' : 'udp4' });
        const localAddress = this.localAddress(target);
        if (localAddress) up.bind({ address: localAddress, port: 0 }); // sends wait for the bind
        up.on('message', (reply) => {
          sock.send(reply, rinfo.port, rinfo.address);
          flows.get(key)?.timer.refresh();
        });
        up.on('error', () => endFlow(key));
        fl = { up, target, timer: setTimeout(() => endFlow(key), UDP_IDLE_MS) };
        flows.set(key, fl);
        this.stats.udpFlows++;
      }
      fl.timer.refresh();
      fl.up.send(msg, fl.target.port, fl.target.host, (err) => {
        if (err) endFlow(key);
      });
    });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: f.ip, port: f.port, exclusive: true }, () => {
        sock.off('error', reject);
        listener.port = sock.address().port;
        listener.forward = { ...f, port: listener.port };
        sock.on('error', (err) => this.log.warn({ forward: forwardKey(f), err: err.message }, 'mesh listener error'));
        resolve(listener);
      });
    });
  }
}
