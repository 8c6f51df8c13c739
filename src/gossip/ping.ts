import { peerIdFromString } from '@libp2p/peer-id';
import type { P2PNode } from './libp2p-node.ts';

/** A libp2p ping of `target` (a peer id string): true when it answered within `timeoutMs`. */
export async function pingPeer(p2p: P2PNode, target: string, timeoutMs: number): Promise<boolean> {
  try {
    await p2p.services.ping.ping(peerIdFromString(target), { signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}
