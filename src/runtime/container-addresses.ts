import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';

/**
 * Where this node's running containers answer on their own Docker network (container IP), so
 * the proxy can reach a local replica without Docker's userland proxy (docker-proxy) in the way.
 *
 * Never stale: an address is handed out only while Docker's event stream is followed; a
 * container's `die`/`stop`/`pause`/`destroy` event drops it at once (before the reconciler's next
 * listing), a listing that started before such an event cannot bring it back, and the whole map
 * is dropped when the event stream breaks (e.g. dockerd restarts) until it is followed again.
 * Whatever is missing here is reached at its published port instead.
 */
export interface ContainerAddress {
  ip: string;
  /** a new number whenever the container appears or its address changes */
  epoch: number;
}

/** A container as a listing reports it (the reconciler's ActualContainer fits). */
export interface ListedContainer {
  id: string;
  state: string;
  /** its directly reachable IPv4 address (see directAddress), when it has one */
  ip?: string;
}

/** Docker's view of a container's networks (listContainers / inspect). */
export interface DockerNetworks {
  mode?: string;
  networks?: Record<string, { IPAddress?: string; Gateway?: string } | undefined>;
}

/** Docker events that mean a container no longer answers at its address. */
const GONE = new Set(['die', 'stop', 'pause', 'destroy']);

/**
 * The IPv4 address at which this host reaches a container directly, or undefined: network mode
 * host / none / container:..., no IPv4 address (IPv6-only), or a network whose gateway is not an
 * address of this host (rootless Docker, whose bridge lives in another network namespace, or an
 * engine on another machine). The default `bridge` network first, then the others by name.
 */
export function directAddress(n: DockerNetworks, hostAddrs: ReadonlySet<string>): string | undefined {
  const mode = n.mode ?? '';
  if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) return undefined;
  const names = Object.keys(n.networks ?? {}).sort((a, b) => (a === 'bridge' ? -1 : b === 'bridge' ? 1 : a.localeCompare(b)));
  for (const name of names) {
    const net = n.networks![name];
    if (net?.IPAddress && net.Gateway && hostAddrs.has(net.Gateway)) return net.IPAddress;
  }
  return undefined;
}

/** This host's IPv4 addresses (a container network's gateway must be one of them). */
export function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4') out.add(a.address);
  return out;
}

/** Emits 'change' whenever an address appears, changes or is dropped. */
export class ContainerAddresses extends EventEmitter {
  private readonly byId = new Map<string, ContainerAddress>();
  /** containers whose direct address failed: not handed out again while they run at that IP */
  private readonly blocked = new Map<string, string>();
  /** Docker's event stream is being followed (else nothing is handed out) */
  private following: NodeJS.ReadableStream | undefined;
  /** count of "gone" events so far, and the count at each container's last one */
  private seq = 0;
  private readonly goneAt = new Map<string, number>();
  private epochs = 0;

  get(containerId: string): ContainerAddress | undefined {
    return this.byId.get(containerId);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Call before listing containers; pass the result to `observe` with the listing. */
  mark(): number {
    return this.seq;
  }

  /**
   * A full listing of this node's containers, started at `mark`: the running ones with a direct
   * address are kept (new ones get one), every other address is dropped. A container that died
   * after the listing started is left out (the listing may show it still running).
   */
  observe(list: readonly ListedContainer[], mark: number): void {
    if (!this.following) return;
    let changed = false;
    const running = new Map<string, string>();
    for (const c of list) {
      if (c.state !== 'running' || !c.ip) continue;
      if ((this.goneAt.get(c.id) ?? 0) > mark) continue;
      running.set(c.id, c.ip);
    }
    for (const [id, ip] of this.blocked) if (running.get(id) !== ip) this.blocked.delete(id);
    for (const [id, ip] of running) {
      if (this.blocked.has(id) || this.byId.get(id)?.ip === ip) continue;
      this.byId.set(id, { ip, epoch: ++this.epochs });
      changed = true;
    }
    for (const id of [...this.byId.keys()]) {
      if (!running.has(id) || this.blocked.has(id)) {
        this.byId.delete(id);
        changed = true;
      }
    }
    for (const [id, at] of this.goneAt) if (at <= mark) this.goneAt.delete(id);
    if (changed) this.emit('change');
  }

  /** A Docker event (parsed JSON): a container that stopped answering loses its address at once. */
  dockerEvent(ev: { Type?: string; Action?: string; status?: string; id?: string; Actor?: { ID?: string } }): void {
    if (ev.Type !== undefined && ev.Type !== 'container') return;
    const action = (ev.Action ?? ev.status ?? '').split(':')[0]!;
    const id = ev.Actor?.ID ?? ev.id;
    if (!id || !GONE.has(action)) return;
    this.goneAt.set(id, ++this.seq);
    this.blocked.delete(id);
    if (this.byId.delete(id)) this.emit('change');
  }

  /**
   * The proxy could not reach this address (timeout, no route): the container is passed over at
   * its published port until it stops or its address changes. Ignored for an older epoch.
   */
  unreachable(containerId: string, epoch: number): void {
    const cur = this.byId.get(containerId);
    if (!cur || cur.epoch !== epoch) return;
    this.blocked.set(containerId, cur.ip);
    this.byId.delete(containerId);
    this.emit('change');
  }

  /**
   * Follows Docker's event stream for this node's containers (newline-delimited JSON). Until it
   * ends, listings are trusted; when it ends (or errors, or is destroyed) every address is dropped.
   */
  follow(stream: NodeJS.ReadableStream): void {
    this.following = stream;
    let buf = '';
    stream.on('data', (chunk: Buffer | string) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        try {
          this.dockerEvent(JSON.parse(line));
        } catch {
          // not an event: ignore
        }
      }
    });
    const lost = () => {
      if (this.following === stream) this.clear();
    };
    stream.on('end', lost);
    stream.on('error', lost);
    stream.on('close', lost);
  }

  /** Forget everything and trust no listing until `follow` is called again. */
  clear(): void {
    this.following = undefined;
    this.blocked.clear();
    this.goneAt.clear();
    if (this.byId.size === 0) return;
    this.byId.clear();
    this.emit('change');
  }
}
