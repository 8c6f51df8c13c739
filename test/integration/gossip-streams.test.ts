/**
 * Two real libp2p nodes as the agent builds them (src/gossip/libp2p-node.ts). gossipsub sends to
 * a peer over one outbound stream, opened when a connection comes up while it has none: with two
 * connections to one peer (both ends dialed after a heal) the second gets no stream, and when the
 * first closes nothing is sent to that peer again while the second stays up. watchOutboundStreams
 * (src/gossip/pubsub-streams.ts) hands gossipsub the open connection again.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import pino from 'pino';
import { createP2PNode, type P2PNode } from '../../src/gossip/libp2p-node.ts';
import { watchOutboundStreams } from '../../src/gossip/pubsub-streams.ts';
import { waitFor } from '../helpers/wait.ts';

const TOPIC = 'warren-test-streams';
const nodes: P2PNode[] = [];
const stops: (() => void)[] = [];

after(async () => {
  for (const s of stops) s();
  await Promise.all(nodes.map((n) => n.stop()));
});

/** A node that records what it hears on TOPIC. */
async function node(bind: string): Promise<{ p2p: P2PNode; heard: string[] }> {
  const p2p = await createP2PNode({ privateKey: await generateKeyPair('Ed25519'), bind, port: 7371, mdns: false });
  nodes.push(p2p);
  const heard: string[] = [];
  p2p.services.pubsub.subscribe(TOPIC);
  p2p.services.pubsub.addEventListener('message', (e) => heard.push(new TextDecoder().decode(e.detail.data)));
  return { p2p, heard };
}

/** Publishes numbered messages until `to` hears one (bounded). */
async function reaches(from: P2PNode, to: string[], what: string, timeoutMs: number): Promise<void> {
  let n = 0;
  await waitFor(what, async () => {
    const msg = `${what} ${n++}`;
    await from.services.pubsub.publish(TOPIC, new TextEncoder().encode(msg));
    return to.some((m) => m.startsWith(what));
  }, timeoutMs, 100);
}

test('a peer whose gossip stream died with one of two connections is sent to again', { timeout: 60_000 }, async () => {
  const a = await node('127.0.19.11');
  const b = await node('127.0.19.12');
  const log = pino({ level: 'silent' });
  stops.push(watchOutboundStreams(a.p2p.services.pubsub, (p) => a.p2p.getConnections(p), log, 200));
  stops.push(watchOutboundStreams(b.p2p.services.pubsub, (p) => b.p2p.getConnections(p), log, 200));

  const first = await a.p2p.dial(b.p2p.getMultiaddrs());
  await reaches(a.p2p, b.heard, 'a-to-b before', 10_000);
  await reaches(b.p2p, a.heard, 'b-to-a before', 10_000);

  // a second connection (as when both ends dial after a heal), then the first one goes
  const second = await b.p2p.dial(a.p2p.getMultiaddrs(), { force: true });
  assert.notEqual(second.id, first.id);
  await waitFor('both connections open on both ends', () => a.p2p.getConnections(b.p2p.peerId).length === 2 && b.p2p.getConnections(a.p2p.peerId).length === 2, 10_000, 20);
  await first.close();
  await waitFor('one connection left on both ends', () => a.p2p.getConnections(b.p2p.peerId).length === 1 && b.p2p.getConnections(a.p2p.peerId).length === 1, 10_000, 20);

  await reaches(a.p2p, b.heard, 'a-to-b after', 10_000);
  await reaches(b.p2p, a.heard, 'b-to-a after', 10_000);
});
