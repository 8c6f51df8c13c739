import { multiaddr } from '@multiformats/multiaddr';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Logger } from 'pino';
import { httpUrl, type HostPort } from '../core/addresses.ts';
import type { P2PNode } from './libp2p-node.ts';
import { monoNow } from '../system/clock.ts';

/** a node found longer ago than this (and not connected) no longer counts as there */
const FOUND_FRESH_MS = 15_000;

export interface PeerP2PInfo {
  id: string;
  addrs: string[];
}

export interface DiscoveryOptions {
  p2p: P2PNode;
  logger: Logger;
  /** static --join targets (HTTP discovery ports) */
  join: HostPort[];
  /** addresses of members we already know (from their heartbeats), re-dialed when disconnected */
  knownPeers: () => { id: string; addrs: string[] }[];
  intervalMs?: number;
}

/** Asks an agent's discovery port for its libp2p identity and addresses. */
export async function fetchP2PInfo(target: HostPort, timeoutMs = 2000): Promise<PeerP2PInfo> {
  const res = await fetch(`${httpUrl(target.host, target.port)}/v1/p2p`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = (await res.json()) as PeerP2PInfo;
  if (typeof body.id !== 'string' || !Array.isArray(body.addrs)) throw new Error('not a Warren agent');
  return body;
}

/**
 * Keeps this node connected: dials --join targets and Tailscale-found agents (learning their
 * libp2p address from their discovery port), peers found by mDNS (libp2p 3 does not dial them
 * itself), and re-dials known members that dropped. Runs until stopped, so machines that
 * appear or come back later are found without a restart.
 */
export class Discovery {
  private readonly targets = new Map<string, HostPort>();
  private readonly targetPeer = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly selfId: string;
  /** when each node was last found by mDNS or a discovery target (monotonic ms) */
  private readonly foundAt = new Map<string, number>();

  constructor(private readonly opts: DiscoveryOptions) {
    this.selfId = opts.p2p.peerId.toString();
    for (const t of opts.join) this.addTarget(t);
  }

  addTarget(t: HostPort): void {
    const key = `${t.host}:${t.port}`;
    if (this.targets.has(key)) return;
    this.targets.set(key, t);
    if (this.running) void this.connectTarget(key, t);
  }

  start(): void {
    this.running = true;
    this.opts.p2p.addEventListener('peer:discovery', (evt) => {
      const { id, multiaddrs } = evt.detail;
      if (id.toString() !== this.selfId) this.foundAt.set(id.toString(), monoNow());
      if (id.toString() === this.selfId || this.connected(id.toString())) return;
      this.opts.logger.debug({ peer: id.toString() }, 'mDNS found a peer');
      this.opts.p2p.dial(multiaddrs.length ? multiaddrs : id).catch((err: Error) =>
        this.opts.logger.debug({ peer: id.toString(), err: err.message }, 'dial of a discovered peer failed'),
      );
    });
    void this.round();
    this.timer = setInterval(() => void this.round(), this.opts.intervalMs ?? 2000);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * The nodes that are there now: connected, or found lately (mDNS answers its queries every
   * 10 s, so one not found for FOUND_FRESH_MS has gone).
   */
  present(): string[] {
    const now = monoNow();
    for (const [id, at] of this.foundAt) if (now - at > FOUND_FRESH_MS) this.foundAt.delete(id);
    const ids = new Set([...this.foundAt.keys(), ...this.opts.p2p.getPeers().map(String)]);
    ids.delete(this.selfId);
    return [...ids];
  }

  private connected(id: string): boolean {
    return this.opts.p2p.getConnections(peerIdFromString(id)).length > 0;
  }

  private async round(): Promise<void> {
    await Promise.all([...this.targets].map(([key, t]) => this.connectTarget(key, t)));
    await Promise.all(
      this.opts.knownPeers().map(async (p) => {
        if (p.id === this.selfId || this.connected(p.id) || p.addrs.length === 0) return;
        await this.opts.p2p.dial(p.addrs.map((a) => multiaddr(a))).catch(() => undefined);
      }),
    );
  }

  private async connectTarget(key: string, t: HostPort): Promise<void> {
    const known = this.targetPeer.get(key);
    if (known && this.connected(known)) return;
    try {
      const info = await fetchP2PInfo(t);
      this.targetPeer.set(key, info.id);
      if (info.id !== this.selfId) this.foundAt.set(info.id, monoNow());
      if (info.id === this.selfId || this.connected(info.id)) return;
      await this.opts.p2p.dial(info.addrs.map((a) => multiaddr(a)));
      this.opts.logger.info({ target: key, peer: info.id }, 'connected to a join target');
    } catch (err) {
      this.opts.logger.debug({ target: key, err: (err as Error).message }, 'join target not reachable yet');
    }
  }
}
