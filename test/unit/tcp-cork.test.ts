import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { createP2PNode } from '../../src/gossip/libp2p-node.ts';

/**
 * src/gossip/tcp-cork.ts: every libp2p frame leaves in one write. Two real libp2p nodes on
 * loopback (127.71.0.60-61, helper "footprint"'s range) ping each other while the test counts the
 * socket writes Node makes: without the cork, each noise frame was a 2-byte write (its length)
 * followed by a write of the ciphertext.
 */
test('libp2p over TCP: a noise frame is one write (its 2-byte length goes with the ciphertext)', { timeout: 30_000 }, async () => {
  const a = await createP2PNode({ privateKey: await generateKeyPair('Ed25519'), bind: '127.71.0.60', port: 0, mdns: false });
  const b = await createP2PNode({ privateKey: await generateKeyPair('Ed25519'), bind: '127.71.0.61', port: 0, mdns: false });
  const proto = net.Socket.prototype as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const { _write, _writev } = proto;
  try {
    await a.start();
    await b.start();
    await a.dial(b.getMultiaddrs()[0]!);
    await a.services.ping.ping(b.peerId); // handshakes, identify and the first ping are done
    const singles: number[] = [];
    let batches = 0;
    proto._write = function (chunk: Uint8Array, ...rest: unknown[]) {
      singles.push(chunk.byteLength);
      return _write.call(this, chunk, ...rest);
    };
    proto._writev = function (chunks: unknown[], ...rest: unknown[]) {
      batches++;
      return _writev.call(this, chunks, ...rest);
    };
    const PINGS = 20;
    for (let i = 0; i < PINGS; i++) await a.services.ping.ping(b.peerId);
    proto._write = _write;
    proto._writev = _writev;
    assert.deepEqual(singles.filter((n) => n === 2), [], `no lone 2-byte length write (single writes: ${singles.join(', ')})`);
    assert.ok(batches >= PINGS * 2, `each ping and its answer went out whole: ${batches} batched writes for ${PINGS} pings`);
  } finally {
    proto._write = _write;
    proto._writev = _writev;
    await a.stop();
    await b.stop();
  }
});
