import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordingApi, UI_SESSIONS } from '../helpers/recording-api.ts';

// Hono answers HEAD with the GET handler and drops the body without cancelling it: a streaming
// GET must not open its stream for a HEAD, or every HEAD leaks a subscription (found by fuzzing).

test('HEAD /v1/events answers like GET without subscribing', async () => {
  const { app, calls, open } = recordingApi();
  const res = await app.request('/v1/events?topic=node.dead', { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  assert.deepEqual(calls, []);
  assert.equal(open.streams, 0);
  assert.equal((await app.request('/v1/events?topic=Bad', { method: 'HEAD' })).status, 400);
});

test('HEAD on a service log checks the service and opens no log stream', async () => {
  const { app, calls, open } = recordingApi();
  const res = await app.request('/v1/services/web/logs?follow=1', { method: 'HEAD' });
  assert.equal(res.status, 404, 'the recording deps know no service');
  assert.deepEqual(calls, ['getService']);
  assert.equal(open.streams, 0);
  assert.equal((await app.request('/v1/services/web/logs?follow=2', { method: 'HEAD' })).status, 400);
});

test('HEAD /v1/ui/stream checks the session and opens no stream', async () => {
  const { app, calls, open } = recordingApi({ ui: true });
  calls.length = 0;
  const res = await app.request('/v1/ui/stream', { method: 'HEAD', headers: { host: 'n1', authorization: `Bearer ${UI_SESSIONS.readOnly}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  assert.deepEqual(calls, ['verifySession']);
  assert.equal(open.streams, 0);
  assert.equal((await app.request('/v1/ui/stream', { method: 'HEAD', headers: { host: 'n1' } })).status, 401);
});
