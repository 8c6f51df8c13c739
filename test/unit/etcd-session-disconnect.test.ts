import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Etcd3 } from 'etcd3';
import { EtcdSession, type SessionHost } from '../../src/consensus/etcd-session.ts';
import { createClusterCa, issueNodeCert } from '../../src/system/pki.ts';

/**
 * Two overlapping disconnects (a quorum rebuild's and a reconnect to the voters) once had the
 * slower one close the client the faster one's caller had connected since: the rebuilt node was
 * left on the old voters' endpoints (found by `npm run bench -- resilience`).
 */
test('a disconnect beside another never closes the client connected after them', async () => {
  const ca = await createClusterCa('t');
  const cert = await issueNodeCert(ca, { nodeId: 'n1', ips: ['127.0.0.1'] });
  const changes: (Etcd3 | undefined)[] = [];
  const host = {
    nodeId: 'n1',
    apiUrl: 'http://127.0.0.1:1',
    logger: pino({ level: 'silent' }),
    clientUrl: 'https://127.0.0.1:9',
    peerUrl: 'https://127.0.0.1:10',
    voters: 3,
    tls: () => ({ caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem }),
    stopped: () => false,
    leaving: () => false,
    runsMember: () => false,
    role: () => 'client',
    clientChanged: (c: Etcd3 | undefined) => changes.push(c),
    connected: () => undefined,
    ready: () => undefined,
  } as unknown as SessionHost;
  const session = new EtcdSession(host);
  // nothing answers on port 9: connect keeps retrying its first read until its client is replaced
  const first = session.connect(['https://127.0.0.1:9']).catch(() => undefined);
  const old = session.client!;
  let stops = 0;
  // the first disconnect waits on its leader's resign; the second would not
  (session as unknown as { leader: unknown }).leader = { stop: () => new Promise((r) => setTimeout(r, stops++ === 0 ? 300 : 0)) };
  const slow = session.disconnect();
  const fast = session.disconnect();
  await fast;
  const second = session.connect(['https://127.0.0.1:9']).catch(() => undefined);
  const fresh = session.client!;
  assert.notEqual(fresh, old);
  await slow;
  assert.equal(session.client, fresh, 'the session still holds the client connected after both disconnects');
  await assert.rejects(old.get('k').string(), /closed/, 'the old client is closed');
  assert.deepEqual(changes, [old, undefined, fresh]);
  await session.disconnect();
  await Promise.all([first, second]);
  assert.equal(session.client, undefined);
});
