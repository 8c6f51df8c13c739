import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { ed25519 } from '@noble/curves/ed25519.js';
import { cacheEd25519KeyObjects } from '../../src/gossip/ed25519-keyobjects.ts';

/** src/gossip/ed25519-keyobjects.ts: the cached sign/verify agree with an independent Ed25519. */
test('ed25519 with cached key objects: signatures verify elsewhere, foreign and forged ones are told apart', async () => {
  const a = await generateKeyPair('Ed25519');
  const b = await generateKeyPair('Ed25519');
  const msg = new TextEncoder().encode('{"type":"heartbeat"}');
  const before = await a.sign(msg);
  assert.equal(cacheEd25519KeyObjects(a), true);
  assert.equal(cacheEd25519KeyObjects(b), true, 'installing twice is harmless');
  for (let i = 0; i < 3; i++) {
    const sig = await a.sign(msg);
    assert.deepEqual(new Uint8Array(sig), new Uint8Array(before), 'Ed25519 is deterministic: the same signature as before the cache');
    assert.ok(ed25519.verify(sig, msg, a.publicKey.raw), 'an independent implementation accepts it');
    assert.equal(await a.publicKey.verify(msg, sig), true);
    assert.equal(await b.publicKey.verify(msg, sig), false, 'not with another key');
    const forged = new Uint8Array(sig);
    forged[i] = forged[i]! ^ 1;
    assert.equal(await a.publicKey.verify(msg, forged), false, 'a flipped bit');
    assert.equal(await a.publicKey.verify(new TextEncoder().encode('{"type":"heartbeaT"}'), sig), false, 'another message');
  }
  // gossipsub hands over Uint8ArrayLists too (read through their subarray())
  const list = { subarray: () => msg } as never;
  const sig = await b.sign(list);
  assert.ok(ed25519.verify(sig, msg, b.publicKey.raw));
  assert.equal(await b.publicKey.verify(list, sig), true);
  // what the original code refuses is still refused by it
  await assert.rejects(async () => a.publicKey.verify(msg, new Uint8Array(10)), /64 bytes/);
});
