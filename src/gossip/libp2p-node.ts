import './polyfill.ts';
import { isIP } from 'node:net';
import { createLibp2p, type Libp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import { gossipsub } from '@libp2p/gossipsub';
import { mdns } from '@libp2p/mdns';
import type { PrivateKey } from '@libp2p/interface';
import { installHalfWindowUpdates } from './yamux-window.ts';

export interface P2PNodeOptions {
  privateKey: PrivateKey;
  bind: string;
  port: number;
  /** LAN discovery by multicast DNS (it binds UDP 0.0.0.0:5353) */
  mdns: boolean;
}

/** Warren's own mDNS service name, so other libp2p programs on the LAN are not dialed. */
export const MDNS_SERVICE_TAG = '_warren._udp.local';

export function listenMultiaddr(bind: string, port: number): string {
  return `/${isIP(bind) === 6 ? 'ip6' : 'ip4'}/${bind}/tcp/${port}`;
}

/** The (author, sequence number) pair that names a signed gossipsub message. */
export function fastMessageId(msg: { from?: Uint8Array; seqno?: Uint8Array }): string {
  if (!msg.from || !msg.seqno) return ''; // unsigned: rejected by the signature policy, never cached
  return `${Buffer.from(msg.from.buffer, msg.from.byteOffset, msg.from.byteLength).toString('base64')}:${Buffer.from(msg.seqno.buffer, msg.seqno.byteOffset, msg.seqno.byteLength).toString('hex')}`;
}

export async function createP2PNode(opts: P2PNodeOptions) {
  installHalfWindowUpdates();
  return createLibp2p({
    privateKey: opts.privateKey,
    addresses: { listen: [listenMultiaddr(opts.bind, opts.port)] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { dialTimeout: 5000 },
    peerDiscovery: opts.mdns ? [mdns({ serviceTag: MDNS_SERVICE_TAG, interval: 2000 })] : [],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        ignoreDuplicatePublishError: true,
        // messages are validated (schema, size, sender) before they are accepted or forwarded
        maxInboundDataLength: 128 * 1024,
        // without it every duplicate copy (one per mesh peer) has its signature verified before
        // it is recognised as a duplicate: most of an idle agent's CPU. Only messages that passed
        // the signature check enter this cache, so a forged copy cannot shadow the real one.
        fastMsgIdFn: fastMessageId,
        // Publishers flood to every peer (floodPublish, the default) and every agent dials every
        // member, so the mesh only relays to peers that lack a link to the publisher (a cut link,
        // or links not dialed yet while many machines join): a small degree keeps the duplicate
        // copies each agent receives (and decrypts) per message low. Without a mesh (degree 0) an
        // idle agent of 10 used a quarter less CPU, but 20 agents starting at once on 2 cores no
        // longer converged: heartbeats between peers not yet connected came only by IHAVE/IWANT,
        // too late, and the overloaded agents declared each other dead. IDONTWANT would announce
        // every heartbeat to the mesh again: off for messages of the size Warren sends.
        D: 2,
        Dlo: 1,
        Dhi: 3,
        Dout: 0,
        Dlazy: 2,
        idontwantMinDataSize: 64 * 1024,
        // Peer scoring's IP colocation penalty graylists a host's peers once more than 10 share an
        // address (every agent of a loopback test, machines behind one NAT): admission, not IP
        // diversity, decides who may speak here. With it 13+ agents could not even be admitted.
        scoreParams: { IPColocationFactorWeight: 0 },
      }),
    },
  });
}

export type P2PNode = Awaited<ReturnType<typeof createP2PNode>>;
export type { Libp2p };

/**
 * The peers in this node's mesh for `topic` (the gossipsub class has it; its exported interface
 * does not). Undefined if a gossipsub version lacks it: the caller must then assume anyone.
 */
export function meshPeers(p2p: P2PNode, topic: string): Iterable<string> | undefined {
  const mesh = (p2p.services.pubsub as unknown as { mesh?: unknown }).mesh;
  return mesh instanceof Map ? ((mesh as Map<string, Set<string>>).get(topic) ?? []) : undefined;
}
