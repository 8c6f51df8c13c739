/**
 * Two real libp2p nodes as the agent builds them (src/gossip/libp2p-node.ts), in the states
 * libp2p's racing topology events leave gossipsub in around a partition's heal (see
 * src/gossip/pubsub-streams.ts): gossip must flow both ways again while a connection is up.
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
/** what the watchers logged, as JSON lines */
const logged: string[] = [];
const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(line) });
const repairs = () => logged.filter((l) => l.includes('opening its stream again')).length;

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
  stops.push(watchOutboundStreams(a.p2p.services.pubsub, a.p2p, log, 200));
  stops.push(watchOutboundStreams(b.p2p.services.pubsub, b.p2p, log, 200));

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

test('a peer gossipsub forgot while its connection stays up is heard from and sent to again', { timeout: 60_000 }, async () => {
  const a = await node('127.0.19.13');
  const b = await node('127.0.19.14');
  stops.push(watchOutboundStreams(a.p2p.services.pubsub, a.p2p, log, 200));
  stops.push(watchOutboundStreams(b.p2p.services.pubsub, b.p2p, log, 200));
  await a.p2p.dial(b.p2p.getMultiaddrs());
  await reaches(a.p2p, b.heard, 'a-to-b before', 10_000);
  await reaches(b.p2p, a.heard, 'b-to-a before', 10_000);
  // a healthy link is left alone
  const before = repairs();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(repairs(), before, 'no repair while the link works');

  // what libp2p's late peer:disconnect for an older connection does: gossipsub drops the peer and
  // closes its streams, the connection stays open. a keeps a stream b no longer reads
  (b.p2p.services.pubsub as unknown as { onPeerDisconnected(p: unknown): void }).onPeerDisconnected(a.p2p.peerId);
  assert.equal(b.p2p.getConnections(a.p2p.peerId).length, 1, 'the connection is still up');

  await reaches(a.p2p, b.heard, 'a-to-b after', 10_000);
  await reaches(b.p2p, a.heard, 'b-to-a after', 10_000);
  assert.ok(repairs() >= before + 2, 'both ends repaired their link');
});
