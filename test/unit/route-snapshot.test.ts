import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, RouteSource } from '../../src/routing/proxy-types.ts';
import { addStats, isSnapshot, parseFromWorker, sameSnapshot, snapshotOf, SnapshotRoutes, zeroStats } from '../../src/routing/route-snapshot.ts';
import { workerRestartDelayMs } from '../../src/routing/proxy-workers.ts';

const local: Backend = { host: '172.17.0.5', port: 80, nodeId: 'n1', slot: 0, container: { id: 'c1', epoch: 3 } };
const remote: Backend = { host: '10.0.0.2', port: 32768, nodeId: 'n2', slot: 1 };

function source(table: Record<string, Backend[]>, names = Object.keys(table)): Pick<RouteSource, 'services' | 'backends'> {
  return { services: () => names, backends: (s) => table[s] ?? [] };
}

test('a snapshot lists every service and the backends of those that have some, as plain data', () => {
  const snap = snapshotOf(source({ web: [local, remote], api: [] }, ['web', 'api', 'idle']));
  assert.deepEqual(snap, { services: ['web', 'api', 'idle'], backends: { web: [local, remote] } });
  assert.notEqual(snap.backends.web![0], local, 'copies, not the route table\'s own objects');
  // what survives JSON (the IPC) is the same snapshot
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
  assert.ok(isSnapshot(JSON.parse(JSON.stringify(snap))));
});

test('SnapshotRoutes answers from the last snapshot: backends, hasService (503 vs 404), services', () => {
  const routes = new SnapshotRoutes();
  assert.deepEqual(routes.backends('web'), []);
  assert.equal(routes.hasService('web'), false);
  assert.equal(routes.version, 0);
  assert.ok(routes.apply(snapshotOf(source({ web: [local, remote] }, ['web', 'idle']))));
  assert.deepEqual(routes.backends('web'), [local, remote]);
  assert.deepEqual(routes.backends('idle'), []);
  assert.equal(routes.hasService('idle'), true, 'a service with no running replica still exists (503, not 404)');
  assert.equal(routes.hasService('nope'), false);
  assert.deepEqual(routes.services(), ['web', 'idle']);
  // the service removed, the replica moved: the next snapshot replaces everything
  assert.ok(routes.apply({ services: ['idle'], backends: { idle: [remote] } }));
  assert.deepEqual(routes.backends('web'), []);
  assert.equal(routes.hasService('web'), false);
  assert.deepEqual(routes.backends('idle'), [remote]);
  assert.equal(routes.version, 2);
  // the same list object while the snapshot holds (the proxy's round robin keys on it)
  assert.equal(routes.backends('idle'), routes.backends('idle'));
});

test('a malformed snapshot is refused and changes nothing', () => {
  const routes = new SnapshotRoutes();
  routes.apply({ services: ['web'], backends: { web: [local] } });
  const bad: unknown[] = [
    null,
    'x',
    {},
    { services: 'web', backends: {} },
    { services: [1], backends: {} },
    { services: ['web'], backends: [] },
    { services: ['web'], backends: { web: {} } },
    { services: ['web'], backends: { web: [{ ...local, port: 0 }] } },
    { services: ['web'], backends: { web: [{ ...local, port: 70000 }] } },
    { services: ['web'], backends: { web: [{ ...local, host: '' }] } },
    { services: ['web'], backends: { web: [{ ...local, slot: 'a' }] } },
    { services: ['web'], backends: { web: [{ ...local, container: { id: 'c1' } }] } },
    { services: ['web'], backends: { web: [{ ...local, container: null }] } },
  ];
  for (const b of bad) assert.equal(routes.apply(b), false, JSON.stringify(b));
  assert.deepEqual(routes.backends('web'), [local]);
  assert.equal(routes.version, 1);
});

test('an unreachable container address is passed on to the reporter (the agent, over IPC)', () => {
  const reported: Backend[] = [];
  const routes = new SnapshotRoutes((b) => reported.push(b));
  routes.unreachable(local);
  assert.deepEqual(reported, [local]);
  new SnapshotRoutes().unreachable(local); // no reporter: nothing happens
});

test('worker messages are validated before the agent acts on them', () => {
  const stats = { requests: 5, retries: 1, errors: 0, containerTries: 4, publishedTries: 2 };
  assert.deepEqual(parseFromWorker({ t: 'hello' }), { t: 'hello' });
  assert.deepEqual(parseFromWorker({ t: 'ready', pid: 42 }), { t: 'ready', pid: 42 });
  assert.deepEqual(parseFromWorker({ t: 'stats', seq: 3, stats }), { t: 'stats', seq: 3, stats });
  assert.deepEqual(parseFromWorker({ t: 'unreachable', backend: local }), { t: 'unreachable', backend: local });
  for (const m of [
    null,
    'listen',
    { t: 'ready' },
    { t: 'stats', seq: 1, stats: { ...stats, errors: -1 } },
    { t: 'stats', seq: 1, stats: { requests: 1 } },
    { t: 'stats', stats },
    { t: 'unreachable', backend: remote }, // not a container address: nothing to give up
    { t: 'unreachable', backend: { host: 'x' } },
    { t: 'other' },
  ]) {
    assert.equal(parseFromWorker(m), undefined, JSON.stringify(m));
  }
});

test('counters add up; unchanged snapshots are recognised; restart back-off doubles to 5 s', () => {
  const total = addStats(addStats(zeroStats(), { requests: 2, retries: 1, errors: 0, containerTries: 2, publishedTries: 1 }), { requests: 3, retries: 0, errors: 1, containerTries: 3, publishedTries: 0 });
  assert.deepEqual(total, { requests: 5, retries: 1, errors: 1, containerTries: 5, publishedTries: 1 });
  const a = snapshotOf(source({ web: [local] }));
  assert.equal(sameSnapshot(undefined, a), false);
  assert.equal(sameSnapshot(a, snapshotOf(source({ web: [local] }))), true);
  assert.equal(sameSnapshot(a, snapshotOf(source({ web: [{ ...local, container: { id: 'c1', epoch: 4 } }] }))), false, 'a new container epoch is a change');
  assert.deepEqual([0, 1, 2, 3, 5, 6, 20].map(workerRestartDelayMs), [100, 200, 400, 800, 3200, 5000, 5000]);
});

test('redirecting services travel in the snapshot; certificate requests and answers are validated', async () => {
  const { parseCertAnswer } = await import('../../src/routing/route-snapshot.ts');
  const src = { ...source({ web: [remote] }, ['web', 'api']), httpsRedirect: (s: string) => s === 'api' };
  const snap = snapshotOf(src);
  assert.deepEqual(snap.redirect, ['api']);
  assert.equal('redirect' in snapshotOf(source({ web: [remote] })), false, 'absent when none redirects (older workers parse it unchanged)');
  const routes = new SnapshotRoutes();
  assert.ok(routes.apply(JSON.parse(JSON.stringify(snap))));
  assert.equal(routes.httpsRedirect('api'), true);
  assert.equal(routes.httpsRedirect('web'), false);
  assert.equal(isSnapshot({ ...snap, redirect: [1] }), false);
  assert.deepEqual(parseFromWorker({ t: 'cert', seq: 3, service: 'web' }), { t: 'cert', seq: 3, service: 'web' });
  assert.equal(parseFromWorker({ t: 'cert', seq: 'x', service: 'web' }), undefined);
  assert.equal(parseFromWorker({ t: 'cert', seq: 1, service: 'x'.repeat(64) }), undefined);
  // a full *.ts.net name (--tailscale-cert on) passes, any other long or dotted name does not
  assert.deepEqual(parseFromWorker({ t: 'cert', seq: 1, service: `${'a'.repeat(63)}.tail1234.ts.net` }), { t: 'cert', seq: 1, service: `${'a'.repeat(63)}.tail1234.ts.net` });
  assert.equal(parseFromWorker({ t: 'cert', seq: 1, service: `${'a'.repeat(63)}.example.com` }), undefined);
  const cert = { name: 'web.warren.internal', certPem: 'C', keyPem: 'K', notBefore: 1, notAfter: 2 };
  assert.deepEqual(parseCertAnswer({ t: 'cert', seq: 1, cert }), { seq: 1, cert });
  assert.deepEqual(parseCertAnswer({ t: 'cert', seq: 1, cert: null }), { seq: 1, cert: null });
  assert.equal(parseCertAnswer({ t: 'cert', seq: 1, cert: { ...cert, notAfter: 'x' } }), undefined);
});
