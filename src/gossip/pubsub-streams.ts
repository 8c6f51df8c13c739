import type { Connection, PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';

/**
 * gossipsub (17.x) sends to a peer over ONE outbound stream and opens it only when a connection
 * comes up while it has none ("if an outbound stream already exists, don't create a new stream").
 * Two connections to one peer happen (both ends dial after a partition heals, or one end has not
 * yet noticed its old connection died): the new connection gets no stream, then the old one
 * closes, its stream with it, and libp2p fires no peer:disconnect since the new connection stays
 * up. From then on nothing is sent to that peer: seen in a chaos run as two sides that each
 * thought the other dead for over a minute after the heal (neither heard the other's refutation).
 * This looks for such peers and hands gossipsub the open connection, as libp2p's registrar does
 * for a new one, so it opens the stream again.
 */

/** The part of gossipsub's router this reads (not its typed API: checked at run time). */
interface RouterInternals {
  peers: Map<string, PeerId>;
  streamsOutbound: Map<string, unknown>;
  onPeerConnected(peerId: PeerId, connection: Connection): void;
}

function internals(pubsub: unknown): RouterInternals | undefined {
  const r = pubsub as Partial<RouterInternals> | undefined;
  return r && r.peers instanceof Map && r.streamsOutbound instanceof Map && typeof r.onPeerConnected === 'function' ? (r as RouterInternals) : undefined;
}

/**
 * Checks every `everyMs`: a peer gossipsub knows, with an open connection but no stream to send
 * on, at two checks in a row (a connection just up has its stream on the way), is handed that
 * connection again. Returns the function that stops it.
 */
export function watchOutboundStreams(pubsub: unknown, connections: (peer: PeerId) => Connection[], log: Logger, everyMs = 2000): () => void {
  const r = internals(pubsub);
  if (!r) {
    log.warn('this gossipsub version hides its streams: a lost outbound stream is not repaired');
    return () => undefined;
  }
  let lacking = new Set<string>();
  const timer = setInterval(() => {
    const now = new Set<string>();
    for (const [id, peer] of r.peers) {
      if (r.streamsOutbound.has(id)) continue;
      const open = connections(peer).find((c) => c.status === 'open');
      if (!open) continue;
      if (!lacking.has(id)) {
        now.add(id);
        continue;
      }
      log.info({ peer: id }, 'gossip had no stream to a connected peer: opening it again');
      r.onPeerConnected(peer, open);
    }
    lacking = now;
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
