/**
 * The proxy's HTTPS front in one process (no agent): a real proxy and TLS listener on
 * 127.0.0.1, certificates from a real cluster CA through the same cache the agent uses (an
 * in-memory store standing in for etcd), and a backend that echoes what it received.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { WebSocketServer, WebSocket } from 'ws';
import { createClusterCa, issueServiceCert, type CertAndKey } from '../../src/system/pki.ts';
import { startProxy, type ProxyServer } from '../../src/routing/proxy.ts';
import type { Backend } from '../../src/routing/proxy-types.ts';
import { startHttps, type HttpsServer } from '../../src/routing/https-front.ts';
import { ServiceCerts, type CertStorage, type ServiceCert } from '../../src/routing/service-certs.ts';
import { createLogger } from '../../src/system/logger.ts';

const DOMAIN = 'warren.internal';
const logger = createLogger('silent', { name: 'test' });
let ca: CertAndKey;
let backend: http.Server;
let proxy: ProxyServer;
let front: HttpsServer;
const services = new Map<string, { backends: Backend[]; redirect: boolean }>();

before(async () => {
  ca = await createClusterCa('front');
  backend = http.createServer((req, res) => res.end(JSON.stringify({ url: req.url, headers: req.headers })));
  const wss = new WebSocketServer({ server: backend });
  wss.on('connection', (sock, req) => sock.send(`proto ${req.headers['x-forwarded-proto']}`));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const port = (backend.address() as AddressInfo).port;
  services.set('web', { backends: [{ host: '127.0.0.1', port, nodeId: 'n1', slot: 0 }], redirect: false });
  services.set('vault', { backends: [{ host: '127.0.0.1', port, nodeId: 'n1', slot: 0 }], redirect: true });
  const routes = {
    backends: (s: string) => services.get(s)?.backends ?? [],
    hasService: (s: string) => services.has(s),
    services: () => [...services.keys()],
    httpsRedirect: (s: string) => services.get(s)?.redirect === true,
  };
  proxy = await startProxy({ bind: '127.0.0.1', port: 0, domain: DOMAIN, routes, logger, httpsPort: () => front?.port });
  const data = new Map<string, { cert: ServiceCert; revision: number }>();
  const storage: CertStorage = {
    read: async (s) => data.get(s),
    replace: async (s, cert, revision) => ((data.get(s)?.revision ?? 0) === revision ? (data.set(s, { cert, revision: revision + 1 }), true) : false),
  };
  const certs = new ServiceCerts({ domain: DOMAIN, lifetimeMs: 60_000, storage: () => storage, ca: async () => ca, hasService: (s) => services.has(s), issue: issueServiceCert, logger });
  front = await startHttps({ bind: '127.0.0.1', port: 0, handler: proxy, certs: { cert: (s) => certs.get(s) }, logger });
});

after(async () => {
  await front?.close();
  await proxy?.close();
  await new Promise<void>((r) => backend.close(() => r()));
});

function get(url: string, host: string, opts: https.RequestOptions = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const lib = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { headers: { host }, agent: false, ca: ca.certPem, servername: host.split(':')[0], ...opts }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('HTTPS reaches the backend through the same proxy, which says X-Forwarded-Proto https', async () => {
  const r = await get(`https://127.0.0.1:${front.port}/a?b=1`, `web.${DOMAIN}`);
  assert.equal(r.status, 200);
  const seen = JSON.parse(r.body);
  assert.equal(seen.url, '/a?b=1');
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
  assert.equal(seen.headers['x-forwarded-host'], `web.${DOMAIN}`);
  const plain = JSON.parse((await get(`http://127.0.0.1:${proxy.port}/`, `web.${DOMAIN}`)).body);
  assert.equal(plain.headers['x-forwarded-proto'], 'http');
  // an unknown service under a certificate-less name: the handshake fails before any HTTP
  await assert.rejects(get(`https://127.0.0.1:${front.port}/`, `nope.${DOMAIN}`), /alert|handshake|disconnected before secure TLS connection|ECONNRESET/i);
});

test('WebSockets over TLS pass through (wss)', async () => {
  // ws passes TLS options through to tls.connect (its types do not list servername)
  const tlsOptions = { headers: { host: `web.${DOMAIN}` }, ca: ca.certPem, servername: `web.${DOMAIN}` } as WebSocket.ClientOptions;
  const ws = new WebSocket(`wss://127.0.0.1:${front.port}/`, tlsOptions);
  const msg = await new Promise<string>((resolve, reject) => {
    ws.once('message', (d) => resolve(d.toString()));
    ws.once('error', reject);
  });
  assert.equal(msg, 'proto https');
  ws.close();
});

test('a service asking for it redirects plain HTTP (308, same path, the HTTPS port); HTTPS itself is not redirected', async () => {
  const r = await get(`http://127.0.0.1:${proxy.port}/x?y=2`, `vault.${DOMAIN}:${proxy.port}`);
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, `https://vault.${DOMAIN}:${front.port}/x?y=2`);
  const s = await get(`https://127.0.0.1:${front.port}/x`, `vault.${DOMAIN}`);
  assert.equal(s.status, 200);
  assert.equal(JSON.parse(s.body).url, '/x');
  // a handshake with no SNI at all gets no certificate either
  await assert.rejects(new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port: front.port, ca: ca.certPem, rejectUnauthorized: false }, () => resolve(sock.getPeerCertificate()));
    sock.on('error', reject);
  }), /alert|handshake|disconnected before secure TLS connection|ECONNRESET/i);
});
