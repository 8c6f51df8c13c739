import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import {
  MAX_TIMER_MS, MIN_CHECK_MS, renewDelay, renewalMinValiditySec, retryDelay, splitPemPair, tailnetCertName,
} from '../../src/core/https/tailnet-cert.ts';
import { TailnetCert } from '../../src/routing/tailnet-cert.ts';
import { makeStatus } from '../helpers/tailscale-standin.ts';
import { selfSignedCert } from '../helpers/self-signed.ts';
import { parseTailscaleStatus } from '../../src/core/tailscale-status.ts';

test('only a *.ts.net MagicDNS name qualifies, normalised', () => {
  assert.equal(tailnetCertName('Pi.Tail1234.TS.net.'), 'pi.tail1234.ts.net');
  assert.equal(tailnetCertName('pi.tail1234.ts.net'), 'pi.tail1234.ts.net');
  for (const bad of [undefined, false, '', 'ts.net', 'tail1234.ts.net', 'pi.tail1234.ts.net.evil.com', 'pi.example.com', '*.tail1234.ts.net', 'p_i.tail1234.ts.net', '-pi.tail1234.ts.net', `${'a'.repeat(64)}.tail1234.ts.net`, `${'a.'.repeat(130)}ts.net`]) {
    assert.equal(tailnetCertName(bad as string), null, String(bad));
  }
});

const KEY = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n';
const CERT = (n: number) => `-----BEGIN CERTIFICATE-----\nC${n}\n-----END CERTIFICATE-----\n`;

test("tailscaled's pair answer splits into the key and the chain, in order; anything else is refused", () => {
  assert.deepEqual(splitPemPair(KEY + CERT(1) + CERT(2)), { ok: true, pair: { keyPem: KEY, certPem: CERT(1) + CERT(2) } });
  // an EC key's header, CRLFs and no final newline are read too
  const ec = KEY.replace(/PRIVATE KEY/g, 'EC PRIVATE KEY');
  const r = splitPemPair((ec + CERT(1)).replace(/\n/g, '\r\n').replace(/\r\n$/, ''));
  assert.ok(r.ok && r.pair.certPem.startsWith('-----BEGIN CERTIFICATE-----'));
  assert.equal(splitPemPair(CERT(1)).ok, false);
  assert.equal(splitPemPair(KEY).ok, false);
  assert.equal(splitPemPair(KEY + KEY + CERT(1)).ok, false);
  assert.equal(splitPemPair('404 page not found').ok, false);
});

test('renewal comes with a third of the lifetime left, bounded for timers; retries back off to 10 minutes', () => {
  const day = 86_400_000;
  const v = { notBefore: 0, notAfter: 90 * day };
  assert.equal(renewDelay(v, 0), MAX_TIMER_MS, 'a 90-day certificate is looked at again at the timer ceiling');
  assert.equal(renewDelay(v, 59 * day), day);
  assert.equal(renewDelay(v, 60 * day), MIN_CHECK_MS);
  assert.equal(renewDelay(v, 100 * day), MIN_CHECK_MS);
  // min_validity is more than the third left at renewal: tailscaled must renew, not hand the old one back
  assert.equal(renewalMinValiditySec(v), 45 * 86_400);
  assert.ok(renewalMinValiditySec(v) * 1000 > v.notAfter - 60 * day);
  assert.deepEqual([1, 2, 3, 4, 8, 9, 50].map(retryDelay), [5000, 10_000, 20_000, 40_000, 600_000, 600_000, 600_000]);
});

function status(dnsName: string) {
  const parsed = parseTailscaleStatus(JSON.stringify(makeStatus({ self: { hostName: 'pi', ips: ['100.64.0.9'], dnsName } })));
  assert.ok(parsed.ok);
  return parsed.value;
}

async function driver(answer: () => Promise<string>, dnsName = 'pi.tail1234.ts.net.') {
  const asked: { domain: string; min?: number }[] = [];
  const d = new TailnetCert({
    api: { status: async () => status(dnsName), certPair: async (domain, min) => (asked.push({ domain, ...(min ? { min } : {}) }), answer()) },
    logger: pino({ level: 'silent' }),
  });
  d.start();
  return { d, asked };
}

test('the driver serves a good certificate for its own name only, and refuses one for another name or with another key', async () => {
  const good = await selfSignedCert('pi.tail1234.ts.net', 3600_000);
  const { d, asked } = await driver(async () => good.keyPem + good.certPem);
  try {
    const c = await d.get('PI.tail1234.ts.net');
    assert.equal(c?.certPem, good.certPem);
    assert.equal(d.domain, 'pi.tail1234.ts.net');
    assert.deepEqual(asked, [{ domain: 'pi.tail1234.ts.net' }]);
    assert.equal(await d.get('other.tail1234.ts.net'), undefined);
    assert.equal(await d.get('pi.example.com'), undefined);
  } finally {
    d.stop();
  }
  const other = await selfSignedCert('other.tail1234.ts.net', 3600_000);
  const wrongName = await driver(async () => other.keyPem + other.certPem);
  try {
    assert.equal(await wrongName.d.get('pi.tail1234.ts.net'), undefined, 'a certificate for another name is not served');
    assert.equal(wrongName.d.fetched, 0);
  } finally {
    wrongName.d.stop();
  }
  const mismatched = await driver(async () => other.keyPem + good.certPem);
  try {
    assert.equal(await mismatched.d.get('pi.tail1234.ts.net'), undefined, 'a certificate with another key is not served');
  } finally {
    mismatched.d.stop();
  }
  const noMagicDns = await driver(async () => good.keyPem + good.certPem, 'pi.');
  try {
    assert.equal(await noMagicDns.d.get('pi.tail1234.ts.net'), undefined);
    assert.deepEqual(noMagicDns.asked, [], 'no certificate is asked for without a *.ts.net name');
  } finally {
    noMagicDns.d.stop();
  }
});
