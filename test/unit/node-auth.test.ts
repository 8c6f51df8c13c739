/** Member-signed node-to-node calls (src/http/node-auth.ts): only an admitted node's signature, for this exact call, passes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { NODE_AUTH_HEADER, nodeAuthHeader, requireMember } from '../../src/http/node-auth.ts';
import { signBody } from '../../src/system/signing.ts';

async function node() {
  const key = await generateKeyPair('Ed25519');
  return { key, id: peerIdFromPrivateKey(key).toString() };
}

test('a member-signed call passes; an unadmitted node, another call, another body or no header do not', async () => {
  const member = await node();
  const stranger = await node();
  const admitted = new Set([member.id]);
  const app = new Hono();
  let reached = 0;
  app.post('/v1/volume-sync/:volume/commit', requireMember((id) => admitted.has(id), { bodyHash: true }), async (c) => {
    reached++;
    return c.json(await c.req.json());
  });
  app.post('/v1/volume-sync/chunks', requireMember((id) => admitted.has(id)), (c) => (reached++, c.json({ ok: true })));
  const path = '/v1/volume-sync/web_data/commit';
  const body = JSON.stringify({ id: 's1', volume: 'web_data' });
  const post = async (p: string, b: string, header?: string) => app.request(`http://x${p}`, { method: 'POST', body: b, headers: header ? { [NODE_AUTH_HEADER]: header } : {} });

  const ok = await post(path, body, await nodeAuthHeader(member.key, member.id, 'POST', path, body));
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), JSON.parse(body)); // the route still reads the body the check read
  const denials = [
    await post(path, body),
    await post(path, body, 'not base64 json'),
    await post(path, body, await nodeAuthHeader(stranger.key, stranger.id, 'POST', path, body)),
    await post(path, body, await nodeAuthHeader(member.key, member.id, 'POST', '/v1/volume-sync/other/commit', body)),
    await post(path, body.replace('s1', 's2'), await nodeAuthHeader(member.key, member.id, 'POST', path, body)),
    // a signature claiming the member's id made with another key
    await post(path, body, await nodeAuthHeader(stranger.key, member.id, 'POST', path, body)),
    // a signature older than a minute
    await post(path, body, Buffer.from(JSON.stringify(await (async () => {
      const now = Date.now;
      Date.now = () => now() - 120_000;
      try {
        return await signBody(member.key, { id: member.id, method: 'POST', path });
      } finally {
        Date.now = now;
      }
    })())).toString('base64')),
  ];
  for (const res of denials) {
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unauthorized');
  }
  assert.equal(reached, 1);
  // a chunk stream is not body-signed (each chunk is checked against its hash), but still member-only
  assert.equal((await post('/v1/volume-sync/chunks', 'x', await nodeAuthHeader(member.key, member.id, 'POST', '/v1/volume-sync/chunks'))).status, 200);
  assert.equal((await post('/v1/volume-sync/chunks', 'x', await nodeAuthHeader(stranger.key, stranger.id, 'POST', '/v1/volume-sync/chunks'))).status, 401);
});

test('the member check may ask etcd (async): a node admitted after this one last read passes, a stranger still does not', async () => {
  const member = await node();
  const stranger = await node();
  const asked: string[] = [];
  // the registry as a re-read finds it: the member is admitted, the stranger never
  const check = async (id: string) => (asked.push(id), id === member.id);
  const app = new Hono();
  app.post('/v1/volume-sync/chunks', requireMember(check), (c) => c.json({ ok: true }));
  const path = '/v1/volume-sync/chunks';
  const post = async (who: typeof member) => app.request(`http://x${path}`, { method: 'POST', body: 'x', headers: { [NODE_AUTH_HEADER]: await nodeAuthHeader(who.key, who.id, 'POST', path) } });
  assert.equal((await post(member)).status, 200);
  assert.equal((await post(stranger)).status, 401);
  assert.deepEqual(asked, [member.id, stranger.id]);
});
