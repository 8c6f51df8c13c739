import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientClosedError, GRPCUnavailableError } from 'etcd3';
import { Hono } from 'hono';
import { ApiClient } from '../../src/cli/client.ts';
import { apiEtcdCall } from '../../src/consensus/etcd-client.ts';
import { storeFailure } from '../../src/consensus/store-call.ts';
import { UserError } from '../../src/core/errors.ts';
import { errorAnswer } from '../../src/http/errors.ts';

test('a failure of the etcd client is a 503 to retry, never an internal error; a closed client says nothing was changed', () => {
  const closed = storeFailure(new ClientClosedError('KV'));
  assert.equal(closed?.status, 503);
  assert.equal(closed?.code, 'store_reconnecting');
  assert.match(closed!.message, /made no change: try again/);
  const down = storeFailure(new GRPCUnavailableError('14 UNAVAILABLE: No connection established'));
  assert.equal(down?.status, 503);
  assert.equal(down?.code, 'store_unavailable');
  assert.match(down!.message, /did not answer \(14 UNAVAILABLE: No connection established\)/);
  assert.equal(storeFailure(new Error('a bug')), undefined);
  assert.equal(storeFailure(new TypeError('x is undefined')), undefined);
});

test('an API etcd call (service routes) through a closed client: 503 store_reconnecting at once; a store that fails otherwise: 503 store_unavailable', async () => {
  let calls = 0;
  const started = performance.now();
  await assert.rejects(apiEtcdCall('create the service', async () => {
    calls++;
    throw new ClientClosedError('KV');
  }), (err: UserError) => err.code === 'store_reconnecting' && err.status === 503);
  assert.equal(calls, 1, 'not retried on the closed client');
  assert.ok(performance.now() - started < 1000);
  await assert.rejects(apiEtcdCall('read the service', async () => {
    throw new Error('etcdserver: mvcc: required revision has been compacted');
  }), (err: UserError) => err.code === 'store_unavailable' && /read the service: etcdserver: mvcc/.test(err.message));
});

test('the API answers a closed etcd client with 503 store_reconnecting, a user error as itself, anything else a logged 500 without details', async () => {
  const logged: unknown[] = [];
  const app = new Hono();
  app.get('/closed', () => {
    throw new ClientClosedError('KV');
  });
  app.get('/user', () => {
    throw new UserError('volume_in_use', 'volume v is used by service s', 409);
  });
  app.get('/bug', () => {
    throw new Error('secret detail');
  });
  app.onError((err, c) => errorAnswer(c, err, { error: (o: unknown) => void logged.push(o) } as never));
  const closed = await app.request('/closed');
  assert.equal(closed.status, 503);
  assert.equal(((await closed.json()) as { error: { code: string } }).error.code, 'store_reconnecting');
  const user = await app.request('/user');
  assert.deepEqual([user.status, await user.json()], [409, { error: { code: 'volume_in_use', message: 'volume v is used by service s' } }]);
  const bug = await app.request('/bug');
  assert.deepEqual([bug.status, await bug.json()], [500, { error: { code: 'internal', message: 'internal error: see the agent log' } }]);
  assert.equal(logged.length, 1, 'only the unknown error is logged');
});

/** An HTTP server answering each request with the next of `answers` (the last one repeats); the requests it got. */
async function scripted(answers: { status: number; body: unknown }[]): Promise<{ url: string; seen: { method: string; body: string }[]; close: () => Promise<void> }> {
  const seen: { method: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method!, body });
      const a = answers[Math.min(seen.length - 1, answers.length - 1)]!;
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => server.close(() => r())) };
}

const reconnecting = { status: 503, body: { error: { code: 'store_reconnecting', message: 'this node was reconnecting' } } };
const notReady = { status: 503, body: { error: { code: 'not_ready', message: 'not connected yet' } } };

test('CLI: a request answered "nothing was done" (503 not_ready / store_reconnecting) is sent again, the same, until it is answered', async () => {
  const s = await scripted([reconnecting, notReady, { status: 200, body: { removed: 'v' } }]);
  try {
    const client = await ApiClient.create({ api: s.url }, {});
    const res = await client.request('DELETE', '/v1/volumes/v', { force: true });
    assert.deepEqual(res, { status: 200, body: { removed: 'v' } });
    assert.equal(s.seen.length, 3);
    assert.deepEqual(new Set(s.seen.map((r) => `${r.method} ${r.body}`)), new Set(['DELETE {"force":true}']));
  } finally {
    await s.close();
  }
});

test('CLI: other 503s and errors are not sent again; "nothing was done" for longer than the window ends in its message', async () => {
  const other = await scripted([{ status: 503, body: { error: { code: 'store_unavailable', message: 'the store did not answer' } } }]);
  try {
    const client = await ApiClient.create({ api: other.url }, {});
    await assert.rejects(client.request('POST', '/v1/services', {}), (err: UserError) => err.code === 'store_unavailable');
    assert.equal(other.seen.length, 1, 'the outcome of a store that did not answer is unknown: not repeated');
  } finally {
    await other.close();
  }
  const stuck = await scripted([notReady]);
  try {
    const client = await ApiClient.create({ api: stuck.url }, {});
    await assert.rejects(client.request('GET', '/v1/services', undefined, { retryWithinMs: 1200 }), (err: UserError) => err.code === 'not_ready' && err.message === 'not connected yet');
    assert.ok(stuck.seen.length >= 2 && stuck.seen.length <= 3, `sent ${stuck.seen.length} times in 1.2 s`);
  } finally {
    await stuck.close();
  }
});
