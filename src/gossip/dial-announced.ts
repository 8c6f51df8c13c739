import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import type { PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import type { P2PNode } from './libp2p-node.ts';

/**
 * Dials a node this one has no connection to, at the addresses it announced (only those naming
 * its own peer id, so nobody else can answer for it). The leader does this for the joiners it
 * names: a broadcast reaches only connected peers, and a joiner is connected to its join
 * targets, not necessarily to the leader.
 */
export function dialAnnounced(p2p: P2PNode, id: string, addrs: string[], log: Logger): void {
  let peer: PeerId;
  try {
    peer = peerIdFromString(id);
  } catch {
    return;
  }
  if (p2p.getConnections(peer).length > 0) return;
  const own = addrs.filter((a) => a.endsWith(`/p2p/${id}`)).map((a) => multiaddr(a));
  if (own.length) void p2p.dial(own).catch((err: Error) => log.debug({ peer: id, err: err.message }, 'dial of a named joiner failed'));
}
