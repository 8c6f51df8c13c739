import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { cleanupAll, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { TailscaleStandin, makeStatus } from '../helpers/tailscale-standin.ts';
import { waitFor } from '../helpers/wait.ts';

// One real agent with --tailscale-cert on, its LocalAPI a stand-in (Tailscale cannot run here)
// that hands out self-signed certificates living 15 s, so the agent's renewal (a third of the
// lifetime left) is seen within the test. The tokens helper's loopback range.
const IP = '127.63.0.4';
const NAME = 'n4.tail1234.ts.net';
const LIFETIME_MS = 15_000;
let standin: TailscaleStandin;
let agent: AgentHandle;
let httpsPort: number;

before(async () => {
  standin = await TailscaleStandin.start(makeStatus({ self: { hostName: 'n4', ips: ['100.64.0.4'] } }));
  standin.enableCerts(LIFETIME_MS);
  agent = await startAgent({
    bind: IP,
    // the default proxy workers stay on: a worker's handshakes ask the agent for the certificate
    args: ['--open', '--tailscale-cert', 'on', '--proxy-workers', '1'],
    env: { WARREN_TAILSCALE_SOCKET: standin.socketPath, WARREN_TEST_PROXY_PID_HEADER: '1' },
  });
  httpsPort = (await agent.health()).body.https.port;
});
after(async () => {
  await cleanupAll();
  await standin?.close();
});

/**
 * An HTTPS request naming `servername`: the served certificate and the answering pid. (The
 * certificate is checked by the caller against what the stand-in issued: a self-signed leaf is
 * no trust anchor for OpenSSL's chain check.)
 */
function get(servername: string): Promise<{ cert: X509Certificate; pid: string | undefined; status: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: IP, port: httpsPort, servername, path: '/', headers: { host: servername }, rejectUnauthorized: false, agent: false, timeout: 5000 }, (res) => {
      const raw = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate();
      res.resume();
      res.on('end', () => resolve({ cert: raw!, pid: res.headers['x-warren-proxy-pid'] as string | undefined, status: res.statusCode ?? 0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const held = () => standin.certs.get(NAME);

test("the node's *.ts.net name is served Tailscale's certificate, by the agent and its worker; other names get none", { timeout: 90_000 }, async () => {
  await waitFor('tailscaled asked for the certificate', () => held(), 20_000);
  const pids = new Set<string>();
  await waitFor('handshakes answered by both the agent and its proxy worker', async () => {
    const r = await get(NAME);
    // one the stand-in issued for this name (they live 15 s: a renewal may come in between), valid now
    const issued = standin.certsIssued.map((pem) => new X509Certificate(pem).fingerprint256);
    assert.ok(issued.includes(r.cert.fingerprint256), 'the served certificate is one tailscaled handed out');
    assert.ok(r.cert.checkHost(NAME));
    assert.ok(Date.parse(r.cert.validTo) > Date.now());
    if (r.pid) pids.add(r.pid);
    return pids.size >= 2;
  }, 30_000, 20);
  assert.ok(pids.has(String(agent.pid)), 'the agent itself answered one');
  const asked = standin.requests.filter((r) => r.url.startsWith('/localapi/v0/cert/'));
  assert.ok(asked.length >= 1);
  assert.match(asked[0]!.url, new RegExp(`^/localapi/v0/cert/${NAME.replace(/\./g, '\\.')}\\?type=pair`));
  assert.equal(asked[0]!.host, 'local-tailscaled.sock');

  // another tailnet device's name, and a name in another domain: no certificate at all
  for (const other of ['n5.tail1234.ts.net', 'n4.example.com']) {
    const failed = await new Promise<boolean>((resolve) => {
      const sock = connect({ host: IP, port: httpsPort, servername: other, rejectUnauthorized: false }, () => {
        sock.destroy();
        resolve(false);
      });
      sock.on('error', () => resolve(true));
    });
    assert.ok(failed, `${other}: the handshake must fail`);
  }
});

test('the certificate is renewed before it expires (min_validity asks tailscaled for a new one) and the new one is served', { timeout: 60_000 }, async () => {
  const before = held()!;
  const oldPrint = new X509Certificate(before.certPem).fingerprint256;
  const renewed = await waitFor('a renewed certificate served', async () => {
    const now = held()!;
    if (now.certPem === before.certPem) return undefined;
    const r = await get(NAME);
    return r.cert.fingerprint256 !== oldPrint ? r : undefined;
  }, 30_000, 100);
  assert.equal(renewed.cert.fingerprint256, new X509Certificate(held()!.certPem).fingerprint256);
  assert.ok(standin.certsIssued.length >= 2);
  const renewal = standin.requests.find((r) => r.url.includes('min_validity='));
  assert.ok(renewal, 'the renewal asked with min_validity');
  // asked while the old certificate was still valid (at two thirds of its life): renewed, not replaced after expiry
  assert.ok(held()!.issuedAt < before.notAfter, 'renewed before the old certificate expired');
});
