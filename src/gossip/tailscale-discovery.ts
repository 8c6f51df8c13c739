/**
 * Tailscale discovery: polls tailscaled's status and probes the discovery port of every online
 * peer of the tailnet. Emits `'peer'` each time a peer becomes reachable (first found, or found again
 * after having been unreachable, offline or gone), never repeatedly for a peer already known
 * reachable. Keeps polling until stopped, so devices that join the tailnet later are found too.
 *
 * `Online` in the status only means "connected to the coordination server", so every peer is
 * probed before being reported.
 */
import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import type { Logger } from 'pino';
import type { TailscaleMode } from '../core/agent-config.ts';
import { UserError, messageOf } from '../core/errors.ts';
import {
  discoverablePeers,
  selfTailnetAddress,
  tailnetReady,
  type TailscaleStatus,
} from '../core/tailscale-status.ts';
import { DEFAULT_TAILSCALE_SOCKET, TailscaleLocalApi } from './tailscale-localapi.ts';

export type { TailscaleMode };

export const DEFAULT_DISCOVERY_PORT = 7370;
export const DEFAULT_TAILSCALE_POLL_MS = 5000;
export const DEFAULT_PROBE_TIMEOUT_MS = 1500;

export type PeerProbe = (host: string, port: number) => Promise<boolean>;

export interface TailscaleDiscoveredPeer {
  /** The tailnet address whose discovery port answered. */
  host: string;
  port: number;
  hostName: string;
}

export interface TailscaleDiscoveryOptions {
  /** tailscaled's LocalAPI socket (default /var/run/tailscale/tailscaled.sock). */
  socketPath?: string;
  /** 'off': do nothing; 'auto': only if tailscaled's socket exists; 'on': require it. Default 'auto'. */
  mode?: TailscaleMode;
  /** The peers' HTTP discovery port (default 7370). */
  port?: number;
  /** How often to poll the status and probe peers once the tailnet is up (default 5000 ms). */
  pollIntervalMs?: number;
  /** How often to poll while waiting for the tailnet to come up (default min(1000, pollIntervalMs)). */
  readyPollIntervalMs?: number;
  logger: Logger;
  /** Whether a peer's discovery port answers (default: `httpHealthProbe`). */
  probe?: PeerProbe;
}

export type TailscaleDiscoveryEvents = {
  peer: [peer: TailscaleDiscoveredPeer];
  /** The tailnet came up (again); the argument is this device's tailnet address. */
  ready: [address: string];
};

type State = 'idle' | 'inactive' | 'waiting' | 'ready' | 'stopped';

interface Waiter {
  resolve: (address: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Default probe: `GET http://host:port/v1/health`; any HTTP answer (even 503) counts as reachable,
 * since an agent that is still starting is still a peer to join.
 */
export function httpHealthProbe(host: string, port: number, timeoutMs = DEFAULT_PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const req = request({ host, port, path: '/v1/health', method: 'GET', agent: false, headers: { Accept: 'application/json' } });
    const timer = setTimeout(() => {
      finish(false);
      req.destroy();
    }, timeoutMs);
    req.on('error', () => finish(false));
    req.on('response', (res) => {
      finish(true);
      res.on('error', () => {});
      res.destroy();
    });
    req.end();
  });
}

export class TailscaleDiscovery extends EventEmitter<TailscaleDiscoveryEvents> {
  readonly socketPath: string;
  readonly mode: TailscaleMode;
  readonly port: number;
  readonly pollIntervalMs: number;
  readonly readyPollIntervalMs: number;
  private readonly api: TailscaleLocalApi;
  private readonly log: Logger;
  private readonly probe: PeerProbe;

  private state: State = 'idle';
  private timer: NodeJS.Timeout | undefined;
  private self: string | undefined;
  private lastBackendState: string | undefined;
  private lastError: string | undefined;
  /** node key -> the address at which the peer was last found reachable. */
  private readonly reachable = new Map<string, string>();
  private readonly waiters = new Set<Waiter>();

  constructor(opts: TailscaleDiscoveryOptions) {
    super();
    this.socketPath = opts.socketPath ?? DEFAULT_TAILSCALE_SOCKET;
    this.mode = opts.mode ?? 'auto';
    this.port = opts.port ?? DEFAULT_DISCOVERY_PORT;
    this.pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_TAILSCALE_POLL_MS;
    this.readyPollIntervalMs = opts.readyPollIntervalMs ?? Math.min(1000, this.pollIntervalMs);
    this.log = opts.logger;
    this.probe = opts.probe ?? ((host, port) => httpHealthProbe(host, port));
    this.api = new TailscaleLocalApi(this.socketPath);
  }

  /**
   * Starts discovery in the background. Resolves true when active, false when there is nothing to
   * do (mode 'off', or mode 'auto' without tailscaled). Throws UserError('tailscale_missing') in
   * mode 'on' when tailscaled's socket does not exist. Does not wait for the tailnet: see waitReady.
   */
  async start(): Promise<boolean> {
    if (this.state !== 'idle') return this.active();
    if (this.mode === 'off') {
      this.log.debug('tailscale discovery off');
      this.deactivate();
      return false;
    }
    const exists = await this.api.socketExists();
    if (this.state !== 'idle') return this.active(); // stopped (or started) meanwhile
    if (!exists) {
      this.deactivate();
      if (this.mode === 'on') {
        throw new UserError(
          'tailscale_missing',
          `--tailscale on, but tailscaled's socket ${this.socketPath} does not exist (or is not a socket): ` +
            'install and start Tailscale (https://tailscale.com/download) and run "tailscale up", ' +
            'or start with --tailscale auto|off',
        );
      }
      this.log.debug({ socket: this.socketPath }, 'no tailscaled socket; tailscale discovery not used');
      return false;
    }
    this.state = 'waiting';
    this.log.debug({ socket: this.socketPath, port: this.port }, 'tailscale discovery started');
    this.schedule(0);
    return true;
  }

  /** Stops polling; pending waitReady calls are rejected. */
  /**
   * Whether a connection's source (IP:PORT) is a device of this tailnet, by Tailscale's whois:
   * tailscaled knows only the nodes of its own tailnet.
   */
  async isTailnetDevice(addrPort: string): Promise<boolean> {
    const normalized = addrPort.replace(/^::ffff:/, '');
    const whois = await this.api.whois(normalized);
    return whois !== null && whois.Node.Addresses.length > 0;
  }

  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.rejectWaiters(new UserError('tailscale_stopped', 'tailscale discovery was stopped', 503));
  }

  /** This device's tailnet address (IPv4 100.x preferred) while the tailnet is up. */
  selfAddress(): string | undefined {
    return this.state === 'ready' ? this.self : undefined;
  }

  /** The peers currently known reachable. */
  reachablePeers(): string[] {
    return [...this.reachable.values()];
  }

  /**
   * Resolves with this device's tailnet address once the tailnet is up (BackendState Running and a
   * tailnet address). Rejects with UserError 'tailscale_not_ready' after timeoutMs, or at once with
   * 'tailscale_inactive' / 'tailscale_stopped' when discovery is not running.
   */
  waitReady(timeoutMs: number): Promise<string> {
    if (this.state === 'ready' && this.self !== undefined) return Promise.resolve(this.self);
    if (this.state === 'inactive') {
      return Promise.reject(
        new UserError('tailscale_inactive', `tailscale discovery is not active (mode ${this.mode}, socket ${this.socketPath})`, 503),
      );
    }
    if (this.state === 'stopped') return Promise.reject(new UserError('tailscale_stopped', 'tailscale discovery was stopped', 503));
    return new Promise<string>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const why = this.lastError ?? `backend state ${this.lastBackendState ?? 'unknown'}`;
          reject(new UserError('tailscale_not_ready', `Tailscale is not up after ${timeoutMs} ms (${why})`, 503));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  // -------------------------------------------------------------------------------------------

  private active(): boolean {
    return this.state === 'waiting' || this.state === 'ready';
  }

  private deactivate(): void {
    this.state = 'inactive';
    this.rejectWaiters(new UserError('tailscale_inactive', `tailscale discovery is not active (mode ${this.mode})`, 503));
  }

  private rejectWaiters(err: Error): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
  }

  private schedule(ms: number): void {
    if (!this.active()) return;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    try {
      await this.pollOnce();
    } catch (err) {
      this.log.warn({ err: messageOf(err) }, 'tailscale discovery poll failed');
    }
    this.schedule(this.state === 'ready' ? this.pollIntervalMs : this.readyPollIntervalMs);
  }

  private async pollOnce(): Promise<void> {
    let status: TailscaleStatus;
    try {
      status = await this.api.status();
    } catch (err) {
      this.noteError(messageOf(err));
      return;
    }
    if (!this.active()) return;
    if (this.lastError !== undefined) {
      this.log.info('tailscaled answers again');
      this.lastError = undefined;
    }
    if (status.BackendState !== this.lastBackendState) {
      this.lastBackendState = status.BackendState;
      const fields = { state: status.BackendState, ...(status.AuthURL ? { authUrl: status.AuthURL } : {}) };
      if (status.BackendState === 'Running') this.log.debug(fields, 'tailscale backend state');
      else this.log.info(fields, 'waiting for Tailscale to be running ("tailscale up")');
    }

    if (!tailnetReady(status)) {
      if (this.state === 'ready') {
        this.log.warn({ state: status.BackendState }, 'tailnet is no longer up');
        this.state = 'waiting';
        this.self = undefined;
        this.reachable.clear();
      }
      return;
    }
    const self = selfTailnetAddress(status)!;
    if (this.state !== 'ready' || self !== this.self) {
      this.state = 'ready';
      this.self = self;
      this.log.info({ address: self, tailnet: status.CurrentTailnet?.Name }, 'tailnet is up');
      for (const w of this.waiters) {
        clearTimeout(w.timer);
        w.resolve(self);
      }
      this.waiters.clear();
      this.safeEmit('ready', self);
    }
    await this.probePeers(status);
  }

  private async probePeers(status: TailscaleStatus): Promise<void> {
    const peers = discoverablePeers(status); // never this device itself
    const results = await Promise.all(
      peers.map(async (peer) => ({ peer, host: await this.firstReachable(peer.addresses) })),
    );
    if (this.state !== 'ready') return;
    const listed = new Set(peers.map((p) => p.nodeKey));
    for (const key of [...this.reachable.keys()]) {
      if (!listed.has(key)) {
        this.log.debug({ nodeKey: key }, 'tailscale peer offline or gone');
        this.reachable.delete(key);
      }
    }
    for (const { peer, host } of results) {
      if (host === undefined) {
        if (this.reachable.delete(peer.nodeKey)) {
          this.log.debug({ peer: peer.hostName }, 'tailscale peer no longer reachable');
        }
        continue;
      }
      if (this.reachable.get(peer.nodeKey) === host) continue;
      this.reachable.set(peer.nodeKey, host);
      this.log.info({ peer: peer.hostName, host, port: this.port }, 'found a peer on the tailnet');
      this.safeEmit('peer', { host, port: this.port, hostName: peer.hostName });
    }
  }

  private async firstReachable(addresses: string[]): Promise<string | undefined> {
    for (const host of addresses) {
      let ok = false;
      try {
        ok = await this.probe(host, this.port);
      } catch {
        ok = false;
      }
      if (ok) return host;
    }
    return undefined;
  }

  private noteError(message: string): void {
    if (message === this.lastError) return;
    this.lastError = message;
    if (this.mode === 'on') this.log.warn({ err: message }, 'cannot read Tailscale status');
    else this.log.debug({ err: message }, 'cannot read Tailscale status');
  }

  private safeEmit<K extends keyof TailscaleDiscoveryEvents>(event: K, ...args: TailscaleDiscoveryEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: TailscaleDiscoveryEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error({ err: messageOf(err), event }, 'tailscale discovery listener failed');
    }
  }
}
