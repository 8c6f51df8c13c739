/**
 * HTTPS for services, end to end: 2 real agents (the founder and a joiner) on real Docker, each
 * serving HTTPS in its agent and its proxy worker. curl, trusting only the CA from `warren ca`,
 * reaches a service by name through every node; a name that is no service of the cluster gets
 * no certificate (the handshake fails); a short certificate lifetime (test-only variable) shows
 * the certificate renewed while the old one is still valid, the same on every node; and a
 * service created with --https-redirect answers plain HTTP with a 308 to its HTTPS URL; a
 * stack's own name gets its web service's certificate and page.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { cleanupAll, cli, tempDir, type AgentHandle } from '../helpers/agents.ts';
import { ensureHttpdImage, removeClusterContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { postService, startCluster, waitServing } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const IPS = ['127.64.0.2', '127.64.0.3'];
const DOMAIN = 'warren.internal';
/** certificates live 12 s here: renewed after 8 s */
const LIFETIME_MS = 12_000;

let agents: AgentHandle[] = [];
let ids: string[] = [];
let caFile = '';
let caPem = '';
const ports = new Map<AgentHandle, { https: number; http: number }>();

async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP('curl', ['-sS', '--max-time', '5', ...args], { timeout: 10_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** curl https://NAME.warren.internal:PORT/ resolved to the agent's address, trusting only the cluster CA. */
function curlHttps(a: AgentHandle, name: string, extra: string[] = []) {
  const port = ports.get(a)!.https;
  return curl(['--cacert', caFile, '--resolve', `${name}:${port}:${a.bind}`, ...extra, `https://${name}:${port}/`]);
}

/** The certificate an agent presents for `servername` (verified against the CA), read by a TLS handshake. */
function peerCert(a: AgentHandle, servername: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: a.bind, port: ports.get(a)!.https, servername, ca: caPem, timeout: 5000 }, () => {
      const raw = socket.getPeerX509Certificate();
      socket.destroy();
      if (raw) resolve(raw);
      else reject(new Error('no certificate'));
    });
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error('handshake timed out')));
  });
}

before(async () => {
  await ensureHttpdImage();
  process.env.WARREN_TEST_HTTPS_CERT_LIFETIME_MS = String(LIFETIME_MS);
  // answers say which process served them: the agent's own proxy, or its worker
  process.env.WARREN_TEST_PROXY_PID_HEADER = '1';
  // a worker from the start (by default they start only once the proxy is busy)
  ({ agents, ids } = await startCluster(IPS, ['--proxy-workers', '1']));
  for (const a of agents) {
    const h = (await a.health()).body;
    assert.ok(h.https?.port, `health reports the HTTPS port: ${JSON.stringify(h)}`);
    // as root the agent binds 443 (and 80); else the fallbacks 7443 / 7380
    assert.equal(h.https.port, process.getuid?.() === 0 ? 443 : 7443);
    ports.set(a, { https: h.https.port, http: h.proxy.port });
  }
  caFile = join(await tempDir('warren-https-'), 'ca.pem');
  // warren ca against the joiner's agent: the CA every node serves certificates from
  const out = await cli(['--api', agents[1]!.api, 'ca']);
  assert.equal(out.code, 0, out.stderr);
  caPem = out.stdout;
  await writeFile(caFile, caPem);
  assert.equal(caPem, await readFile(join(agents[0]!.dataDir, 'tls', 'ca.crt'), 'utf8'), 'the founder\'s CA certificate');
  const res = await fetch(`${agents[0]!.api}/v1/ca`);
  assert.equal(res.headers.get('content-type'), 'application/x-pem-file');
  assert.equal(await res.text(), caPem);
});

after(async () => {
  delete process.env.WARREN_TEST_HTTPS_CERT_LIFETIME_MS;
  delete process.env.WARREN_TEST_PROXY_PID_HEADER;
  // the agents first: removed while they ran, a container was started again (this process's
  // clusters only: the engine is shared)
  await cleanupAll();
  await removeClusterContainers();
  await removeNodesDocker(ids); // the stack's network
});

test('a service answers over HTTPS by name through every node, with the CA as the only trust', { timeout: 120_000 }, async () => {
  const created = await postService(agents[0]!, { name: 'vault', image: HTTPD_IMAGE, ports: [80], replicas: 1 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitServing(agents[0]!, 'vault', 1, 60_000);
  const name = `vault.${DOMAIN}`;
  const firsts: X509Certificate[] = [];
  for (const a of agents) {
    // the agent and its proxy worker both accept on the socket: each must terminate TLS
    const pids = new Set<string>();
    await waitFor(`HTTPS answers from the agent and its worker on ${a.bind}`, async () => {
      const r = await curlHttps(a, name, ['-D', '-']);
      assert.equal(r.code, 0, `through ${a.bind}: ${r.stderr}`);
      assert.match(r.stdout, /^HTTP\/1\.1 200/);
      assert.match(r.stdout, /\r\n\r\nvault 0 /, 'the service\'s own page');
      pids.add(/x-warren-proxy-pid: (\d+)/i.exec(r.stdout)![1]!);
      return pids.size >= 2;
    }, 30_000, 0);
    firsts.push(await peerCert(a, name));
  }
  assert.equal(firsts[0]!.fingerprint256, firsts[1]!.fingerprint256, 'every node serves the same certificate');
  assert.equal(firsts[0]!.subjectAltName, `DNS:${name}`);
  assert.ok(firsts[0]!.checkIssued(new X509Certificate(caPem)));
});

test('a name that is no service of the cluster gets no certificate: the handshake fails', { timeout: 60_000 }, async () => {
  const a = agents[1]!;
  for (const name of [`nope.${DOMAIN}`, 'example.com', `a.vault.${DOMAIN}`]) {
    const r = await curlHttps(a, name);
    assert.notEqual(r.code, 0, `${name} must fail`);
    // 35: TLS handshake failed (the server sent an alert, no certificate)
    assert.equal(r.code, 35, `${name}: ${r.stderr}`);
    await assert.rejects(peerCert(a, name), /alert|handshake|socket/i);
  }
  // without SNI (an IP address) no certificate either
  const port = ports.get(a)!.https;
  const r = await curl(['--cacert', caFile, `https://${a.bind}:${port}/`]);
  assert.equal(r.code, 35, r.stderr);
  // -k does not help: there is nothing to accept
  assert.equal((await curlHttps(a, `nope.${DOMAIN}`, ['-k'])).code, 35);
});

test('a certificate is renewed before it expires, and every node serves the renewed one', { timeout: 90_000 }, async () => {
  const name = `vault.${DOMAIN}`;
  const first = await peerCert(agents[0]!, name);
  const firstEnd = Date.parse(first.validTo);
  const lifetime = firstEnd - Date.parse(first.validFrom);
  assert.ok(lifetime <= LIFETIME_MS + 2000, `the test lifetime is in force (${lifetime} ms)`);
  // handshakes keep coming (a renewal is checked on a handshake); the first new certificate
  // must appear before the old one expires
  const renewed = await waitFor('a renewed certificate', async () => {
    const c = await peerCert(agents[0]!, name);
    if (c.serialNumber === first.serialNumber) return undefined;
    return { cert: c, at: Date.now() };
  }, LIFETIME_MS + 5000, 250);
  assert.ok(renewed.at < firstEnd, `renewed at ${new Date(renewed.at).toISOString()}, the old one expired at ${first.validTo}`);
  assert.ok(Date.parse(renewed.cert.validTo) > firstEnd);
  assert.ok(renewed.cert.checkIssued(new X509Certificate(caPem)));
  // the other node (agent or worker) serves the same renewed certificate, or a later one
  const other = await peerCert(agents[1]!, name);
  assert.notEqual(other.serialNumber, first.serialNumber);
  const r = await curlHttps(agents[1]!, name);
  assert.equal(r.code, 0, r.stderr);
});

test('--https-redirect: plain HTTP answers 308 to the HTTPS URL, which serves the service', { timeout: 120_000 }, async () => {
  const a = agents[1]!;
  const out = await cli(['--api', a.api, '--data-dir', a.dataDir, 'service', 'create', 'secure', '--image', HTTPD_IMAGE, '-p', '80', '--https-redirect', '--timeout', '60']);
  assert.equal(out.code, 0, out.stderr);
  const { http, https } = ports.get(a)!;
  const name = `secure.${DOMAIN}`;
  for (const b of agents) {
    const p = ports.get(b)!;
    const r = await curl(['-D', '-', '-o', '/dev/null', '-H', `Host: ${name}:${p.http}`, `http://${b.bind}:${p.http}/x?y=1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/1\.1 308/);
    assert.match(r.stdout, new RegExp(`\\r\\nlocation: https://${name.replace(/\./g, '\\.')}${p.https === 443 ? '' : `:${p.https}`}/x\\?y=1\\r\\n`, 'i'));
  }
  // following it: curl -L lands on the service over HTTPS
  const followed = await curl(['-L', '--cacert', caFile, '--resolve', `${name}:${http}:${a.bind}`, '--resolve', `${name}:${https}:${a.bind}`, `http://${name}:${http}/`]);
  assert.equal(followed.code, 0, followed.stderr);
  assert.match(followed.stdout, /^secure 0 /);
  // a service without the flag is not redirected
  const plain = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: vault.${DOMAIN}`, `http://${a.bind}:${http}/`]);
  assert.equal(plain.stdout, '200');
  // inspect shows it
  const inspect = await cli(['--api', a.api, 'service', 'inspect', 'secure']);
  assert.match(inspect.stdout, /https redirect\s+yes/);
});

test("a stack's name answers over HTTPS with its web service (the one publishing a port), through every node", { timeout: 120_000 }, async () => {
  const file = join(await tempDir('warren-https-stack-'), 'compose.yaml');
  await writeFile(file, `name: tls-it\nservices:\n  web:\n    image: ${HTTPD_IMAGE}\n    ports: ["18443:80"]\n  db:\n    image: ${HTTPD_IMAGE}\n`);
  const deployed = await cli(['--data-dir', agents[0]!.dataDir, '--api', agents[0]!.api, 'deploy', '-f', file, '--detach']);
  assert.equal(deployed.code, 0, deployed.stderr);
  for (const a of agents) {
    // the page says which service served it: the web service, not the database
    await waitFor(`https://tls-it.${DOMAIN} through ${a.bind}`, async () => {
      const r = await curlHttps(a, `tls-it.${DOMAIN}`);
      return r.code === 0 && /^tls-it-web 0 /.test(r.stdout);
    }, 60_000, 250);
    const cert = await peerCert(a, `tls-it.${DOMAIN}`);
    assert.equal(cert.subjectAltName, `DNS:tls-it.${DOMAIN}`);
  }
  const removed = await cli(['--data-dir', agents[0]!.dataDir, '--api', agents[0]!.api, 'stack', 'rm', 'tls-it']);
  assert.equal(removed.code, 0, removed.stderr);
});
