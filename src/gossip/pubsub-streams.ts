import type { Connection, PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';

/**
 * gossipsub (17.x) keeps, per peer, ONE outbound stream to send on and one inbound stream to read,
 * and trusts libp2p's topology events to tell it when a peer comes and goes. Around a partition's
 * heal those events race, and gossipsub ends up believing something false while a connection to
 * the peer is open and healthy. Seen in chaos runs, each leaving two sides that thought each other
 * dead for as long as the connection lived (the heal never "happened" for gossip):
 *   - no outbound stream: with two connections (both ends dialed), the new one got no stream
 *     ("if an outbound stream already exists, don't create a new stream"), then the old one closed
 *     with the stream, and libp2p fired no peer:disconnect since the new connection stays up;
 *   - the peer forgotten: the new connection came up while the old one was still registered (so
 *     no peer:connect), then the connection monitor aborted the old one and libp2p fired
 *     peer:disconnect anyway: gossipsub removed the peer and closed its streams on the new one;
 *   - a stream the peer no longer reads: the other end of the case above. Its reader was closed,
 *     ours stays writable, and everything sent on it is thrown away.
 * This looks for such peers and hands gossipsub the open connection again, as libp2p's registrar
 * does for a new one, so it (re)adds the peer and opens a fresh stream.
 */

interface RawStream {
  status: string;
  remoteWriteStatus: string;
  remoteReadStatus: string;
  abort(err: Error): void;
}

/** The part of gossipsub's router this reads (not its typed API: checked at run time). */
interface RouterInternals {
  peers: Map<string, PeerId>;
  streamsOutbound: Map<string, { rawStream: RawStream }>;
  protocols: string[];
  onPeerConnected(peerId: PeerId, connection: Connection): void;
}

/** What this needs of the libp2p node. */
export interface StreamWatchHost {
  /** open connections: all of them without a peer */
  getConnections(peer?: PeerId): Connection[];
  peerStore: { get(peer: PeerId): Promise<{ protocols: string[] }> };
}

function internals(pubsub: unknown): RouterInternals | undefined {
  const r = pubsub as Partial<RouterInternals> | undefined;
  return r && r.peers instanceof Map && r.streamsOutbound instanceof Map && Array.isArray(r.protocols) && typeof r.onPeerConnected === 'function' ? (r as RouterInternals) : undefined;
}

/** Why gossip cannot send to a peer it has an open connection to, or undefined when it can. */
function brokenLink(r: RouterInternals, id: string): string | undefined {
  if (!r.peers.has(id)) return 'gossip forgot the peer';
  const stream = r.streamsOutbound.get(id)?.rawStream;
  if (!stream) return 'no stream to send on';
  if (stream.status !== 'open') return `its stream is ${stream.status}`;
  // the peer only ever reads a gossip stream we opened: it closes its end when it drops us
  if (stream.remoteReadStatus === 'closed' || stream.remoteWriteStatus === 'closed') return 'the peer closed its end of the stream';
  return undefined;
}

/**
 * Checks every `everyMs`: a connected peer gossip cannot send to, at two checks in a row (a
 * connection just up has its stream on the way), is handed the open connection again, after its
 * stale stream (if any) is thrown away. Returns the function that stops it.
 */
export function watchOutboundStreams(pubsub: unknown, host: StreamWatchHost, log: Logger, everyMs = 2000): () => void {
  const r = internals(pubsub);
  if (!r) {
    log.warn('this gossipsub version hides its streams: a lost outbound stream is not repaired');
    return () => undefined;
  }
  let lacking = new Set<string>();
  let busy = false;
  const speaksGossip = async (peer: PeerId) => {
    const known = await host.peerStore.get(peer).catch(() => undefined);
    return known?.protocols.some((p) => r.protocols.includes(p)) ?? false;
  };
  const check = async () => {
    const now = new Set<string>();
    for (const conn of host.getConnections()) {
      const id = conn.remotePeer.toString();
      if (conn.status !== 'open' || now.has(id)) continue;
      const why = brokenLink(r, id);
      if (!why) continue;
      if (!lacking.has(id)) {
        now.add(id);
        continue;
      }
      if (!r.peers.has(id) && !(await speaksGossip(conn.remotePeer))) continue;
      log.info({ peer: id, why }, 'gossip could not send to a connected peer: opening its stream again');
      const stale = r.streamsOutbound.get(id);
      if (stale) {
        r.streamsOutbound.delete(id);
        stale.rawStream.abort(new Error('stale gossip stream replaced'));
      }
      r.onPeerConnected(conn.remotePeer, conn);
    }
    lacking = now;
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    check()
      .catch((err: Error) => log.warn({ err }, 'gossip stream check failed'))
      .finally(() => (busy = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
