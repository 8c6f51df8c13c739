/**
 * HTTPS for services: the pure renewal rule and name parsing (src/core/https/service-certs.ts),
 * and the certificate cache's driver (src/routing/service-certs.ts) with real certificates from
 * a real cluster CA, an in-memory compare-and-swap store standing in for etcd's, and a clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { httpsRedirectLocation, needsRenewal, renewAt, serviceForServername, serviceHostname, SERVICE_CERT_LIFETIME_MS } from '../../src/core/https/service-certs.ts';
import { createClusterCa, issueServiceCert, type CertAndKey } from '../../src/system/pki.ts';
import { ServiceCerts, validityOf, type CertStorage, type ServiceCert } from '../../src/routing/service-certs.ts';
import { createLogger } from '../../src/system/logger.ts';
import { prng } from '../helpers/prng.ts';

const DAY = 24 * 60 * 60 * 1000;

test('renewal is due once less than a third of the lifetime remains, never before', () => {
  const v = { notBefore: 0, notAfter: 90 * DAY };
  assert.equal(renewAt(v), 60 * DAY);
  assert.equal(needsRenewal(v, 60 * DAY - 1), false);
  assert.equal(needsRenewal(v, 60 * DAY), true);
  assert.equal(needsRenewal(v, 100 * DAY), true, 'an expired one is due too');
  // randomized validity windows: the instant is always inside the window, a third before its end
  const rnd = prng(16);
  for (let i = 0; i < 1000; i++) {
    const notBefore = Math.floor(rnd() * 1e12);
    const life = 1 + Math.floor(rnd() * 1e10);
    const w = { notBefore, notAfter: notBefore + life };
    const at = renewAt(w);
    assert.ok(at > w.notBefore && at <= w.notAfter, `inside the window (${JSON.stringify(w)})`);
    assert.ok(w.notAfter - at <= Math.ceil(life / 3) && w.notAfter - at >= Math.floor(life / 3), 'a third of the lifetime left');
    assert.equal(needsRenewal(w, at - 1), false);
    assert.equal(needsRenewal(w, at), true);
  }
  assert.equal(SERVICE_CERT_LIFETIME_MS, 90 * DAY);
});

test('only <service>.<domain> names a service; anything else gets no certificate', () => {
  const d = 'warren.internal';
  assert.equal(serviceForServername('web.warren.internal', d), 'web');
  assert.equal(serviceForServername('Web.Warren.Internal.', d), 'web');
  for (const other of [undefined, false, '', 'warren.internal', 'example.com', 'web.example.com', 'a.web.warren.internal', '-x.warren.internal', 'web.warren.internal.evil', '10.0.0.1', 'webwarren.internal']) {
    assert.equal(serviceForServername(other as string, d), null, String(other));
  }
  assert.equal(serviceHostname('web', '.Home.Example.'), 'web.home.example');
});

test('redirect locations keep host and path, drop the HTTP port, name the HTTPS port unless 443', () => {
  assert.equal(httpsRedirectLocation('web.warren.internal', '/a?b=1', 443), 'https://web.warren.internal/a?b=1');
  assert.equal(httpsRedirectLocation('web.warren.internal:7380', '/', 7443), 'https://web.warren.internal:7443/');
  assert.equal(httpsRedirectLocation('[::1]:80', '/x', 443), 'https://[::1]/x');
});

/** etcd's compare-and-swap on a key's revision, in memory. */
class MemoryStorage implements CertStorage {
  rev = 0;
  data = new Map<string, { cert: ServiceCert; revision: number }>();
  writes = 0;
  async read(s: string) {
    return this.data.get(s);
  }
  async replace(s: string, cert: ServiceCert, revision: number) {
    if ((this.data.get(s)?.revision ?? 0) !== revision) return false;
    this.writes++;
    this.data.set(s, { cert, revision: ++this.rev });
    return true;
  }
}

const logger = createLogger('silent', { name: 'test' });

function certsOn(storage: CertStorage, ca: CertAndKey | undefined, clock: { now: number }, services = ['web']) {
  return new ServiceCerts({
    domain: 'warren.internal',
    lifetimeMs: 30_000,
    storage: () => storage,
    ca: async () => ca,
    hasService: (s) => services.includes(s),
    // real certificates, as if issued at the test clock's time
    issue: async (c, o) => issueServiceCert(c, o),
    logger,
    now: () => clock.now,
  });
}

test('a certificate is issued once for a service, chains to the CA, and every node serves the same', async () => {
  const ca = await createClusterCa('c1');
  const storage = new MemoryStorage();
  const clock = { now: Date.now() };
  const a = certsOn(storage, ca, clock);
  const b = certsOn(storage, ca, clock);
  // two nodes asked at once: both may sign, one write wins, both serve the winner's
  const [ca1, cb1] = await Promise.all([a.get('web'), b.get('web')]);
  assert.ok(ca1 && cb1);
  assert.equal(ca1.certPem, cb1.certPem);
  assert.equal(storage.writes, 1);
  const x = new X509Certificate(ca1.certPem);
  assert.ok(x.verify(new X509Certificate(ca.certPem).publicKey), 'signed by the cluster CA');
  assert.equal(x.checkHost('web.warren.internal'), 'web.warren.internal');
  assert.equal(x.checkHost('other.warren.internal'), undefined, 'for its own name only');
  assert.equal(x.subjectAltName, 'DNS:web.warren.internal');
  assert.deepEqual(validityOf(ca1.certPem), { notBefore: ca1.notBefore, notAfter: ca1.notAfter });
  // cached: no more reads or writes while it is fresh
  assert.equal(await a.get('web'), ca1);
  assert.equal(storage.writes, 1);
  assert.equal(await a.get('nope'), undefined, 'an unknown service gets nothing');
});

test('renewal: before a third of the lifetime is left the same certificate, after it a new one, before expiry', async () => {
  const ca = await createClusterCa('c1');
  const storage = new MemoryStorage();
  const clock = { now: Date.now() };
  const a = certsOn(storage, ca, clock);
  const b = certsOn(storage, ca, clock);
  const first = (await a.get('web'))!;
  clock.now = renewAt(first) - 1;
  assert.equal((await a.get('web'))!.certPem, first.certPem);
  assert.equal((await b.get('web'))!.certPem, first.certPem, 'a node that never had it reads the stored one');
  clock.now = renewAt(first);
  assert.ok(clock.now < first.notAfter, 'still valid when it is renewed');
  const renewed = (await a.get('web'))!;
  assert.notEqual(renewed.certPem, first.certPem);
  assert.equal(storage.writes, 2);
  assert.ok(renewed.notAfter > first.notAfter);
  // the other node's copy is due too: it picks up the renewed one instead of signing again
  assert.equal((await b.get('web'))!.certPem, renewed.certPem);
  assert.equal(storage.writes, 2);
});

test('without the CA (or etcd) a node serves its last certificate while it is valid, then nothing', async () => {
  const ca = await createClusterCa('c1');
  const storage = new MemoryStorage();
  const clock = { now: Date.now() };
  const first = (await certsOn(storage, ca, clock).get('web'))!;
  const noCa = certsOn(storage, undefined, clock);
  assert.equal((await noCa.get('web'))!.certPem, first.certPem);
  clock.now = renewAt(first) + 1;
  assert.equal((await noCa.get('web'))!.certPem, first.certPem, 'due, cannot renew: the old one is still valid');
  clock.now = first.notAfter + 1;
  assert.equal(await noCa.get('web'), undefined, 'never an expired certificate');
  const noEtcd = new ServiceCerts({ domain: 'warren.internal', lifetimeMs: 30_000, storage: () => undefined, ca: async () => ca, hasService: () => true, issue: issueServiceCert, logger });
  assert.equal(await noEtcd.get('web'), undefined);
});
