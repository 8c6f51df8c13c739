/**
 * etcd 3.4 with the cluster PKI of src/system/pki.ts: mutual TLS on peer and client traffic.
 *
 * Proves: a node certificate from the cluster CA can use etcd (etcd3 client and etcdctl); a client
 * without a certificate, or with one from another CA, is refused quickly; and a second member can
 * join over TLS as a learner and be promoted.
 *
 * Measured here (etcd 3.4.23, loopback): single member healthy over TLS 250-340 ms after spawn;
 * memberAdd ~20 ms; the learner healthy ~110 ms after spawn and promoted ~150 ms after memberAdd
 * (first promote attempt after it was healthy; with an empty store it is in sync at once).
 * Refusals of a client without a valid certificate arrive in 5-25 ms (TLS alert 42, bad certificate).
 *
 * Note on peer SAN checks: etcd's PEER listener checks the connecting member's certificate against
 * the connection's SOURCE address (IP SANs, then a DNS lookup of its DNS SANs). On loopback that
 * source is 127.0.0.1, not 127.0.5.3; the join below works because node certificates always carry
 * the DNS name 'localhost' (which resolves to 127.0.0.1). On real machines a node's certificate
 * must list every address it may dial its peers from (or etcd must run with
 * --experimental-peer-skip-client-san-verification). The client listener does no such check.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { request } from 'node:https';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3, type IOptions } from 'etcd3';
import { noop } from 'cockatiel';
import { createClusterCa, issueNodeCert, generateNodeKey, writeTlsFiles, readTlsFiles, caFingerprint, type CertAndKey, type TlsPaths } from '../../src/system/pki.ts';
import { waitFor } from '../helpers/wait.ts';
import { createEtcdClient } from '../../src/consensus/etcd-client.ts';

const ETCD = '/usr/bin/etcd';
const ETCDCTL = '/usr/bin/etcdctl';
const SETPRIV = '/usr/bin/setpriv';
const A = { name: 'node-a', ip: '127.0.5.2' };
const B = { name: 'node-b', ip: '127.0.5.3' };
const CLIENT_PORT = 7372;
const PEER_PORT = 7373;
/** every call of a client below ends within this, so no test can hang on a refused connection */
const CALL_DEADLINE_MS = 3000;

const clientUrl = (ip: string) => `https://${ip}:${CLIENT_PORT}`;
const peerUrl = (ip: string) => `https://${ip}:${PEER_PORT}`;

interface Member {
  name: string;
  child: ChildProcess;
  lines: string[];
}

let tmp = '';
let ca: CertAndKey;
let other: CertAndKey;
let nodeA: CertAndKey;
let intruder: CertAndKey;
let tlsA: TlsPaths;
let tlsB: TlsPaths;
const members: Member[] = [];
const clients: Etcd3[] = [];

function startEtcd(node: { name: string; ip: string }, tls: TlsPaths, extra: string[]): Member {
  const args = [
    '--name', node.name,
    '--data-dir', join(tmp, node.name, 'etcd'),
    '--listen-client-urls', clientUrl(node.ip),
    '--advertise-client-urls', clientUrl(node.ip),
    '--listen-peer-urls', peerUrl(node.ip),
    '--initial-advertise-peer-urls', peerUrl(node.ip),
    '--client-cert-auth',
    '--trusted-ca-file', tls.caFile,
    '--cert-file', tls.certFile,
    '--key-file', tls.keyFile,
    '--peer-client-cert-auth',
    '--peer-trusted-ca-file', tls.caFile,
    '--peer-cert-file', tls.certFile,
    '--peer-key-file', tls.keyFile,
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    ...extra,
  ];
  // under setpriv --pdeathsig: the kernel kills etcd if this test process dies, even by SIGKILL
  const child = spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', ETCD, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const member: Member = { name: node.name, child, lines: [] };
  let rest = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    member.lines.push(...parts);
  });
  members.push(member);
  return member;
}

function logOf(member: Member): string {
  return member.lines.slice(-30).join('\n');
}

/** An https GET presenting a certificate; resolves with status and body, rejects on TLS failure. */
function httpsGet(url: string, tls: { ca: string; cert?: string; key?: string }, timeoutMs = CALL_DEADLINE_MS): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // servername '': no SNI for an IP address (Node warns otherwise); the certificate is still checked against the IP
    const req = request(url, { ...tls, servername: '', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function waitHealthy(member: Member, ip: string, cert: CertAndKey, timeoutMs = 15_000): Promise<number> {
  const started = Date.now();
  await waitFor(`${member.name} healthy over https`, async () => {
    if (member.child.exitCode !== null) throw new Error(`etcd ${member.name} exited with ${member.child.exitCode}:\n${logOf(member)}`);
    const res = await httpsGet(`${clientUrl(ip)}/health`, { ca: ca.certPem, cert: cert.certPem, key: cert.keyPem }, 1000);
    return res.status === 200 && (JSON.parse(res.body) as { health: string }).health === 'true';
  }, timeoutMs, 100).catch((err: Error) => {
    throw new Error(`${err.message}\netcd ${member.name} log:\n${logOf(member)}`);
  });
  return Date.now() - started;
}

/**
 * A client that fails fast: a deadline on every call, and none of etcd3's retries or circuit
 * breaker (etcd3 1.1.2 ignores its `dialTimeout` option: the call deadline is what bounds a dial).
 */
function client(credentials: IOptions['credentials'], host = clientUrl(A.ip)): Etcd3 {
  const c = new Etcd3({
    hosts: host,
    ...(credentials ? { credentials } : {}),
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
    faultHandling: { host: () => noop, global: noop },
  });
  clients.push(c);
  return c;
}

function credentialsOf(cert: CertAndKey | undefined, root = ca): IOptions['credentials'] {
  return {
    rootCertificate: Buffer.from(root.certPem),
    ...(cert ? { certChain: Buffer.from(cert.certPem), privateKey: Buffer.from(cert.keyPem) } : {}),
  };
}

/** Runs `fn`, expects it to fail within `boundMs` (a hang fails the test too); returns error and time. */
async function expectRefused(what: string, fn: () => Promise<unknown>, boundMs = CALL_DEADLINE_MS + 2000): Promise<{ message: string; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${boundMs} ms`)), boundMs);
  });
  try {
    await Promise.race([fn(), hang]);
  } catch (err) {
    const message = (err as Error).message;
    assert.doesNotMatch(message, /still pending after/, message);
    return { message, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
  assert.fail(`${what}: succeeded, but should have been refused`);
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'warren-etcd-tls-'));
  ca = await createClusterCa('test');
  other = await createClusterCa('other');
  nodeA = await issueNodeCert(ca, { nodeId: A.name, ips: [A.ip] });
  // node B as in a real join: it makes its key, the admitting node certifies the public key
  const keyB = await generateNodeKey();
  const nodeB = { ...(await issueNodeCert(ca, { nodeId: B.name, ips: [B.ip], publicKeyPem: keyB.publicKeyPem })), keyPem: keyB.keyPem };
  intruder = await issueNodeCert(other, { nodeId: 'intruder', ips: [A.ip, B.ip] });
  tlsA = await writeTlsFiles(join(tmp, A.name, 'tls'), { caPem: ca.certPem, certPem: nodeA.certPem, keyPem: nodeA.keyPem });
  tlsB = await writeTlsFiles(join(tmp, B.name, 'tls'), { caPem: ca.certPem, certPem: nodeB.certPem, keyPem: nodeB.keyPem });
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(members.map(async (m) => {
    if (m.child.exitCode !== null || m.child.signalCode !== null) return;
    const exited = new Promise((r) => m.child.once('exit', r));
    m.child.kill('SIGKILL');
    await exited;
  }));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('TLS files are written private and read back', async () => {
  assert.equal((await stat(join(tmp, A.name, 'tls'))).mode & 0o777, 0o700);
  assert.equal((await stat(tlsA.keyFile)).mode & 0o777, 0o600);
  const back = await readTlsFiles(join(tmp, A.name, 'tls'));
  assert.equal(back?.caPem, ca.certPem);
  assert.equal(back?.certPem, nodeA.certPem);
  assert.equal(back?.keyPem, nodeA.keyPem);
  assert.match(nodeA.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.match(caFingerprint(ca.certPem), /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(caFingerprint(ca.certPem), caFingerprint(other.certPem));
  assert.equal(await readTlsFiles(join(tmp, 'nothing-here')), undefined);
});

test('certificates carry what etcd needs', async () => {
  const caCert = new X509Certificate(ca.certPem);
  assert.equal(caCert.subject, 'CN=warren-ca-test\nO=warren');
  assert.equal(caCert.ca, true);
  const years = (c: X509Certificate) => (Date.parse(c.validTo) - Date.parse(c.validFrom)) / (365.25 * 24 * 3600e3);
  assert.ok(Math.abs(years(caCert) - 10) < 0.01, `CA valid ${years(caCert)} years`);

  const cert = new X509Certificate(nodeA.certPem);
  assert.equal(cert.ca, false);
  assert.match(cert.subject, /^CN=node-a$/m);
  assert.equal(cert.subjectAltName, `DNS:localhost, IP Address:${A.ip}`);
  assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey));
  assert.ok(!cert.verify(new X509Certificate(other.certPem).publicKey));
  assert.ok(Math.abs(years(cert) - 5) < 0.01, `node cert valid ${years(cert)} years`);
  assert.deepEqual(cert.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // serverAuth, clientAuth
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');

  // IPv6 (also bracketed, zoned, or with an embedded IPv4) and extra DNS names; duplicates once
  const v6 = new X509Certificate((await issueNodeCert(ca, {
    nodeId: 'n6', ips: ['fd00::2', '[fd00::3]', 'fe80::1%eth0', '::ffff:10.0.0.1', '10.0.0.1', '10.0.0.1'], dnsNames: ['alpha.local', 'localhost'],
  })).certPem);
  assert.equal(v6.subjectAltName, 'DNS:localhost, DNS:alpha.local, IP Address:FD00:0:0:0:0:0:0:2, IP Address:FD00:0:0:0:0:0:0:3, '
    + 'IP Address:FE80:0:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:A00:1, IP Address:10.0.0.1');
  assert.notEqual(v6.serialNumber, cert.serialNumber);
  await assert.rejects(issueNodeCert(ca, { nodeId: 'x', ips: ['not-an-ip'] }), /"not-an-ip" is not an IP address/);

  // a certificate for a node's own public key: no private key leaves the node
  const own = await generateNodeKey();
  assert.match(own.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
  assert.match(own.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  const issued = await issueNodeCert(ca, { nodeId: 'own', ips: ['10.0.0.7'], publicKeyPem: own.publicKeyPem });
  assert.deepEqual(Object.keys(issued), ['certPem']);
  assert.equal(new X509Certificate(issued.certPem).publicKey.export({ type: 'spki', format: 'pem' }), own.publicKeyPem);
  const spki = (opts: Parameters<typeof generateKeyPairSync>[1], type: 'ec' | 'rsa') =>
    (generateKeyPairSync(type as 'ec', opts as { namedCurve: string }).publicKey.export({ type: 'spki', format: 'pem' }) as string);
  for (const publicKeyPem of [spki({ namedCurve: 'P-384' }, 'ec'), spki({ modulusLength: 2048 } as never, 'rsa')]) {
    await assert.rejects(issueNodeCert(ca, { nodeId: 'x', ips: [], publicKeyPem }), /not an ECDSA P-256 public key/);
  }
  await assert.rejects(issueNodeCert(ca, { nodeId: 'x', ips: [], publicKeyPem: 'hello' }), /not a PEM "PUBLIC KEY" block/);
});

test('etcd 3.4 starts with mutual TLS on the cluster certificates', { timeout: 30_000 }, async (t) => {
  const a = startEtcd(A, tlsA, [
    '--initial-cluster', `${A.name}=${peerUrl(A.ip)}`,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', 'warren-tls-test',
  ]);
  const ms = await waitHealthy(a, A.ip, nodeA);
  t.diagnostic(`single member healthy over TLS ${ms} ms after spawn`);
});

test('a client with a node certificate from the cluster CA can put and get', { timeout: 15_000 }, async () => {
  const c = client(credentialsOf(nodeA));
  await c.put('warren/tls-probe').value('hello');
  assert.equal(await c.get('warren/tls-probe').string(), 'hello');
});

test("the agent's client waits for a skipped member to be tried again instead of failing unasked", { timeout: 30_000 }, async () => {
  const member = members.find((m) => m.name === A.name)!;
  const agentClient = createEtcdClient({ endpoints: [clientUrl(A.ip)], tls: { caPem: ca.certPem, certPem: nodeA.certPem, keyPem: nodeA.keyPem } });
  try {
    await agentClient.put('warren/breaker-probe').value('before');
    // the member stops answering: one late call marks it failed, so it is skipped for a second
    member.child.kill('SIGSTOP');
    try {
      await expectRefused('a call to the stopped member', () => agentClient.get('warren/breaker-probe').options({ deadline: Date.now() + 300 }).string());
    } finally {
      member.child.kill('SIGCONT');
    }
    // back at once: the next call is not refused for the skip, it waits it out and is answered
    const started = Date.now();
    assert.equal(await agentClient.get('warren/breaker-probe').string(), 'before');
    assert.ok(Date.now() - started < 5000, 'answered after the skip, not after a deadline');
  } finally {
    agentClient.close();
  }
});

test('a client without a certificate can neither read nor write', { timeout: 30_000 }, async (t) => {
  // trusts the cluster CA (so it knows the server), but presents no certificate
  const noCert = client(credentialsOf(undefined));
  const read = await expectRefused('read without a certificate', () => noCert.get('warren/tls-probe').string());
  const write = await expectRefused('write without a certificate', () => noCert.put('warren/tls-probe').value('no').exec());
  // not even TLS: knows nothing
  const plain = client(undefined);
  const plainRead = await expectRefused('read with no TLS settings at all', () => plain.get('warren/tls-probe').string());
  const http = client(undefined, `http://${A.ip}:${CLIENT_PORT}`);
  const httpWrite = await expectRefused('write over plain http', () => http.put('warren/tls-probe').value('no').exec());
  const health = await expectRefused('https /health without a certificate', () => httpsGet(`${clientUrl(A.ip)}/health`, { ca: ca.certPem }));
  for (const [what, r] of Object.entries({ read, write, plainRead, httpWrite, health })) {
    t.diagnostic(`no certificate, ${what}: refused in ${r.ms} ms: ${r.message}`);
  }
  assert.equal(await client(credentialsOf(nodeA)).get('warren/tls-probe').string(), 'hello', 'the refused write must not have landed');
});

test('a client with a certificate from another CA can neither read nor write', { timeout: 30_000 }, async (t) => {
  // trusts the real cluster CA, so any refusal comes from etcd checking the client certificate
  const stranger = client(credentialsOf(intruder, ca));
  const read = await expectRefused('read with another CA', () => stranger.get('warren/tls-probe').string());
  const write = await expectRefused('write with another CA', () => stranger.put('warren/tls-probe').value('no').exec());
  const health = await expectRefused('https /health with another CA', () => httpsGet(`${clientUrl(A.ip)}/health`, { ca: ca.certPem, cert: intruder.certPem, key: intruder.keyPem }));
  // and a client that trusts only the other CA does not trust the cluster's etcd either
  const lost = client(credentialsOf(intruder, other));
  const lostRead = await expectRefused('read trusting only another CA', () => lost.get('warren/tls-probe').string());
  for (const [what, r] of Object.entries({ read, write, health, lostRead })) {
    t.diagnostic(`other CA, ${what}: refused in ${r.ms} ms: ${r.message}`);
  }
  const a = members.find((m) => m.name === A.name)!;
  assert.ok(
    a.lines.some((l) => /rejected connection/.test(l) && /unknown authority/.test(l)),
    `etcd should log the rejected certificate:\n${logOf(a)}`,
  );
  assert.equal(await client(credentialsOf(nodeA)).get('warren/tls-probe').string(), 'hello');
});

test('etcdctl works with the node certificate (as the admin docs show)', { timeout: 15_000 }, async (t) => {
  const run = promisify(execFile);
  const { stdout } = await run(ETCDCTL, [
    '--endpoints', clientUrl(A.ip),
    '--cacert', tlsA.caFile, '--cert', tlsA.certFile, '--key', tlsA.keyFile,
    '--dial-timeout', '3s', '--command-timeout', '5s',
    'member', 'list',
  ], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 10_000 });
  assert.match(stdout, new RegExp(`, started, ${A.name}, ${peerUrl(A.ip)}, ${clientUrl(A.ip)}, false`));
  // and without a client certificate etcdctl is refused (after its dial timeout)
  const refused = await expectRefused('etcdctl without a certificate', () =>
    run(ETCDCTL, ['--endpoints', clientUrl(A.ip), '--cacert', tlsA.caFile, '--dial-timeout', '1s', '--command-timeout', '2s', 'member', 'list'], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 10_000 }),
  );
  t.diagnostic(`etcdctl without a certificate: refused in ${refused.ms} ms: ${refused.message.split('\n').filter(Boolean).at(-1)}`);
});

test('a second member joins over TLS as a learner and is promoted', { timeout: 60_000 }, async (t) => {
  // membership calls: no circuit breaker, own retries (STACK-NOTES)
  const admin = client(credentialsOf(nodeA));
  const started = Date.now();
  const added = await admin.cluster.memberAdd({ peerURLs: [peerUrl(B.ip)], isLearner: true });
  const learnerId = added.member.ID;
  assert.equal(added.member.isLearner, true);
  const addedMs = Date.now() - started;
  // promoting a learner that has not caught up is refused with this message: the retry below keys on it
  await assert.rejects(admin.cluster.memberPromote({ ID: learnerId }), /in sync with leader/);

  const b = startEtcd(B, tlsB, [
    '--initial-cluster', `${A.name}=${peerUrl(A.ip)},${B.name}=${peerUrl(B.ip)}`,
    '--initial-cluster-state', 'existing',
  ]);
  const healthyMs = await waitHealthy(b, B.ip, nodeA, 30_000);

  let attempts = 0;
  await waitFor('learner promoted', async () => {
    attempts++;
    try {
      await admin.cluster.memberPromote({ ID: learnerId });
      return true;
    } catch (err) {
      if (/in sync with leader/.test((err as Error).message)) return false;
      throw err;
    }
  }, 30_000, 100);
  const promotedMs = Date.now() - started;

  const list = await admin.cluster.memberList({});
  assert.equal(list.members.length, 2);
  assert.deepEqual(list.members.map((m) => [m.name, m.isLearner]).sort(), [[A.name, false], [B.name, false]]);
  // the new member serves clients over TLS too
  const viaB = client(credentialsOf(nodeA), clientUrl(B.ip));
  assert.equal(await viaB.get('warren/tls-probe').string(), 'hello');
  t.diagnostic(`memberAdd ${addedMs} ms; new member healthy ${healthyMs} ms after spawn; promoted ${promotedMs} ms after memberAdd (${attempts} promote attempts)`);
});
