import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import { monoNow } from '../system/clock.ts';

/**
 * Where this node's running containers answer on their own Docker network (container IP), so
 * the proxy can reach a local replica without Docker's userland proxy (docker-proxy) in the way.
 *
 * Never stale: an address is handed out only while Docker's event stream is followed; a
 * container's `die`/`stop`/`pause`/`destroy` event drops it at once (before the reconciler's next
 * listing), and the whole map is dropped when the event stream breaks (e.g. dockerd restarts)
 * until it is followed again. After such an event, listings that still show the container running
 * are not believed (Docker sends `die` before its container list says so: measured, a listing
 * 13 ms after `die` still said "running") until one shows it stopped, or one started after its
 * `start` event. Whatever is missing here is reached at its published port instead.
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
/** a gone event stops being held against listings after this long (they must have caught up) */
const GONE_HOLD_MS = 5_000;
/** how long after a gone event a listing that still shows the container running counts as lagging */
const LAG_MS = 1_000;

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
  /** events counted so far (a listing's mark is the count when it started) */
  private seq = 0;
  /** containers gone by Docker's events that no listing has shown stopped yet */
  private readonly gone = new Map<string, { at: number; startedSeq?: number }>();
  private epochs = 0;

  /** `log`: where changes are told (debug level) */
  constructor(private readonly log?: (fields: Record<string, unknown>, msg: string) => void) {
    super();
  }

  get(containerId: string): ContainerAddress | undefined {
    return this.byId.get(containerId);
  }

  /** Call before listing containers; pass the result to `observe` with the listing. */
  mark(): number {
    return this.seq;
  }

  /**
   * Docker's listing has not caught up with some container's `die` yet: the caller should list
   * again shortly (the reconciler would not see the container exited either).
   */
  get lagging(): boolean {
    const now = monoNow();
    for (const g of this.gone.values()) if (now - g.at < LAG_MS) return true;
    return false;
  }

  /**
   * A full listing of this node's containers, started at `mark`: the running ones with a direct
   * address are kept (new ones get one), every other address is dropped. A container gone by an
   * event is left out while the listing is not believed (see the class comment).
   */
  observe(list: readonly ListedContainer[], mark: number): void {
    if (!this.following) return;
    let changed = false;
    const running = new Map<string, string>();
    const listed = new Set<string>();
    const now = monoNow();
    for (const c of list) {
      listed.add(c.id);
      const g = this.gone.get(c.id);
      if (g) {
        const believed = c.state !== 'running' || (g.startedSeq !== undefined && mark >= g.startedSeq) || now - g.at > GONE_HOLD_MS;
        if (!believed) continue;
        this.gone.delete(c.id);
      }
      if (c.state === 'running' && c.ip) running.set(c.id, c.ip);
    }
    for (const id of this.gone.keys()) if (!listed.has(id)) this.gone.delete(id);
    for (const [id, ip] of this.blocked) if (running.get(id) !== ip) this.blocked.delete(id);
    for (const [id, ip] of running) {
      if (this.blocked.has(id) || this.byId.get(id)?.ip === ip) continue;
      this.byId.set(id, { ip, epoch: ++this.epochs });
      this.log?.({ container: id.slice(0, 12), ip }, 'container address in use');
      changed = true;
    }
    for (const id of [...this.byId.keys()]) {
      if (!running.has(id) || this.blocked.has(id)) {
        this.byId.delete(id);
        this.log?.({ container: id.slice(0, 12) }, 'container address dropped (not running)');
        changed = true;
      }
    }
    if (changed) this.emit('change');
  }

  /** A Docker event (parsed JSON): a container that stopped answering loses its address at once. */
  dockerEvent(ev: { Type?: string; Action?: string; status?: string; id?: string; Actor?: { ID?: string } }): void {
    if (ev.Type !== undefined && ev.Type !== 'container') return;
    const action = (ev.Action ?? ev.status ?? '').split(':')[0]!;
    const id = ev.Actor?.ID ?? ev.id;
    if (!id) return;
    if (action === 'start' || action === 'unpause') {
      const g = this.gone.get(id);
      if (g) g.startedSeq = ++this.seq;
      return;
    }
    if (!GONE.has(action)) return;
    this.seq++;
    this.gone.set(id, { at: monoNow() });
    this.blocked.delete(id);
    if (!this.byId.delete(id)) return;
    this.log?.({ container: id.slice(0, 12), event: action }, 'container address dropped');
    this.emit('change');
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
    this.log?.({ container: containerId.slice(0, 12), ip: cur.ip }, 'container address unreachable from the proxy: its published port is used until it restarts');
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
      if (buf.length > 1 << 20) buf = ''; // no event is that long
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
    this.gone.clear();
    if (this.byId.size === 0) return;
    this.byId.clear();
    this.log?.({}, 'container addresses dropped (Docker event stream lost)');
    this.emit('change');
  }
}
