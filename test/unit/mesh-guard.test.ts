/**
 * The guards of a stack container's internal ports: the pure plan (core/mesh/guard-plan.ts) and
 * the forwarder's member check and source address on real loopback sockets (127.70.1.x: this
 * helper's range; 127.70.1.9 plays a LAN machine that is not a member).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { admits, guardId, memberSources, normalizeAddr, planGuards, reportedPorts, sourceFor, type GuardedContainer } from '../../src/core/mesh/guard-plan.ts';
import { forwardKey, type Forward } from '../../src/core/mesh/forward-plan.ts';
import { L4Forwarder } from '../../src/routing/l4-forwarder.ts';
import { prng } from '../helpers/prng.ts';

const SELF = { id: 'node-a', addr: '10.0.0.1' };

const db: GuardedContainer = {
  id: 'c1',
  service: 'shop-db',
  ip: '172.18.0.2',
  ports: [{ container: 5432, protocol: 'tcp' }, { container: 53, protocol: 'udp' }, { container: 5432, protocol: 'tcp' }],
  published: [],
};

test('planGuards: one guard per internal port of each container with a known IP, on the node address, to the container IP', () => {
  const plan = planGuards(SELF, [db, { ...db, id: 'c2', ip: undefined }], new Map());
  assert.deepEqual(plan, [
    { kind: 'guard', id: 'c1/tcp/5432', protocol: 'tcp', ip: SELF.addr, port: 0, service: 'shop-db', targets: [{ host: '172.18.0.2', port: 5432, nodeId: SELF.id }] },
    { kind: 'guard', id: 'c1/udp/53', protocol: 'udp', ip: SELF.addr, port: 0, service: 'shop-db', targets: [{ host: '172.18.0.2', port: 53, nodeId: SELF.id }] },
  ]);
  assert.equal(new Set(plan.map(forwardKey)).size, 2, 'distinct keys although both ask for port 0');
});

test('planGuards: a guard keeps its port; a port Docker publishes on the node address itself needs none', () => {
  const plan = planGuards(SELF, [{ ...db, published: [{ container: 53, protocol: 'udp', hostPort: 40000 }] }], new Map([[guardId('c1', 'tcp', 5432), 41000]]));
  assert.deepEqual(plan.map((f) => [f.id, f.port]), [['c1/tcp/5432', 41000]]);
});

test('reportedPorts: Docker\'s own binding first, then the guards listening; a port without either is not reported', () => {
  const listening = new Map([[guardId('c1', 'tcp', 5432), 41000], [guardId('c1', 'udp', 53), 41001], [guardId('other', 'tcp', 80), 1]]);
  assert.deepEqual(reportedPorts('c1', [{ container: 53, protocol: 'udp', hostPort: 40000 }], [...db.ports, { container: 6379, protocol: 'tcp' }], listening), [
    { container: 5432, protocol: 'tcp', hostPort: 41000 },
    { container: 53, protocol: 'udp', hostPort: 40000 },
  ]);
});

test('memberSources: alive and suspect members\' specific addresses; dead, left and unbindable ones are not admitted', () => {
  assert.deepEqual(memberSources([
    { addr: '10.0.0.1', state: 'alive' },
    { addr: '10.0.0.2', state: 'suspect' },
    { addr: '10.0.0.3', state: 'dead' },
    { addr: '10.0.0.4', state: 'left' },
    { addr: '0.0.0.0', state: 'alive' },
    { addr: '?', state: 'alive' },
    { addr: '::ffff:10.0.0.5', state: 'alive' },
    { addr: 'FD00::1', state: 'alive' },
  ]), ['10.0.0.1', '10.0.0.2', '10.0.0.5', 'fd00::1']);
});

test('admits: exact member addresses only, IPv4-mapped peers normalised; randomized non-members never pass', () => {
  const allowed = new Set(['10.0.0.1', '10.0.0.2']);
  assert.ok(admits(allowed, '10.0.0.2'));
  assert.ok(admits(allowed, '::ffff:10.0.0.1'));
  assert.ok(!admits(allowed, undefined));
  assert.ok(!admits(allowed, '10.0.0.20'));
  assert.equal(normalizeAddr('::FFFF:1.2.3.4'), '1.2.3.4');
  const rand = prng(14);
  for (let i = 0; i < 2000; i++) {
    const a = `10.0.${Math.floor(rand() * 3)}.${Math.floor(rand() * 256)}`;
    assert.equal(admits(allowed, a), a === '10.0.0.1' || a === '10.0.0.2', a);
  }
});

test('sourceFor: this node\'s bind address towards another node; none when it cannot be the source', () => {
  assert.equal(sourceFor('192.168.1.5', '192.168.1.7'), '192.168.1.5');
  assert.equal(sourceFor('127.70.0.2', '127.70.0.1'), '127.70.0.2', 'loopback to loopback (agents on one machine)');
  assert.equal(sourceFor('127.70.0.2', '172.18.0.2'), undefined, 'a loopback source cannot leave the host');
  assert.equal(sourceFor('0.0.0.0', '192.168.1.7'), undefined);
  assert.equal(sourceFor('::', 'fd00::2'), undefined);
  assert.equal(sourceFor('fd00::1', '192.168.1.7'), undefined, 'another family');
  assert.equal(sourceFor('fd00::1', 'fd00::2'), 'fd00::1');
});

// --- the forwarder, on real sockets

const GUARD = '127.70.1.1';
const MEMBER = '127.70.1.2';
const STRANGER = '127.70.1.9';
const BACK = '127.70.1.3';
const quiet = { warn: () => {}, debug: () => {} };
const closers: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

/** A TCP backend that answers "hit" and counts its connections. */
async function tcpBackend(): Promise<{ port: number; hits: () => number; peers: string[] }> {
  let hits = 0;
  const peers: string[] = [];
  const s = net.createServer((c) => {
    hits++;
    peers.push(c.remoteAddress!);
    c.resume(); // reads what the client sent, so the client's end is seen and the socket closes
    c.end('hit');
  });
  s.listen(0, BACK);
  await once(s, 'listening');
  closers.push(() => new Promise((r) => s.close(r)));
  return { port: (s.address() as net.AddressInfo).port, hits: () => hits, peers };
}

/** Connects from `from`; what came back before the close, or the error code. */
async function tcpFrom(from: string, host: string, port: number): Promise<string> {
  const c = net.connect({ host, port, localAddress: from });
  c.on('connect', () => c.write('hello'));
  let out = '';
  c.on('data', (d) => (out += d));
  return new Promise((resolve) => {
    c.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    c.on('close', () => resolve(out));
  });
}

async function udpFrom(from: string, host: string, port: number): Promise<string | undefined> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, from, () => r()));
  try {
    return await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 500);
      s.on('message', (m) => {
        clearTimeout(timer);
        resolve(String(m));
      });
      s.send('ping', port, host);
    });
  } finally {
    s.close();
  }
}

const guard = (protocol: 'tcp' | 'udp', port: number, target: number): Forward => ({ kind: 'guard', id: `c/${protocol}/x`, protocol, ip: GUARD, port, service: 'svc', targets: [{ host: BACK, port: target, nodeId: 'a' }] });

test('a TCP guard: a member\'s connection reaches the target; any other address is reset before the target sees it; it keeps its port', async () => {
  const back = await tcpBackend();
  const f = new L4Forwarder(quiet);
  closers.push(() => f.close());
  const ports = await f.apply([guard('tcp', 0, back.port)], { allowed: [MEMBER] });
  const port = ports['c/tcp/x']!;
  assert.ok(port > 0, 'the kernel picked a port');
  assert.equal(await tcpFrom(MEMBER, GUARD, port), 'hit');
  assert.equal(back.hits(), 1);
  const refused = await tcpFrom(STRANGER, GUARD, port);
  assert.ok(refused === 'ECONNRESET' || refused === '', `reset or closed with nothing, got ${refused}`);
  assert.equal(back.hits(), 1, 'the target never saw the stranger');
  assert.equal(f.stats.guardRefused, 1);
  // the next plan: same guard (its wish is 0 again) keeps its port; the stranger becomes a member
  assert.deepEqual(await f.apply([guard('tcp', 0, back.port)], { allowed: [MEMBER, STRANGER] }), { 'c/tcp/x': port });
  assert.equal(await tcpFrom(STRANGER, GUARD, port), 'hit');
  // a member no more: refused again
  await f.apply([guard('tcp', 0, back.port)], { allowed: [MEMBER] });
  assert.notEqual(await tcpFrom(STRANGER, GUARD, port), 'hit');
});

test('a guard that wishes for a port taken now takes another one', async () => {
  const back = await tcpBackend();
  const blocker = net.createServer().listen(0, GUARD);
  await once(blocker, 'listening');
  closers.push(() => new Promise((r) => blocker.close(r)));
  const taken = (blocker.address() as net.AddressInfo).port;
  const f = new L4Forwarder(quiet);
  closers.push(() => f.close());
  const ports = await f.apply([guard('tcp', taken, back.port)], { allowed: [MEMBER] });
  assert.ok(ports['c/tcp/x']! > 0 && ports['c/tcp/x'] !== taken);
  assert.equal(await tcpFrom(MEMBER, GUARD, ports['c/tcp/x']!), 'hit');
});

test('a UDP guard answers a member and drops any other address\'s datagrams', async () => {
  const echo = dgram.createSocket('udp4');
  await new Promise<void>((r) => echo.bind(0, BACK, () => r()));
  closers.push(() => new Promise<void>((r) => echo.close(() => r())));
  let seen = 0;
  echo.on('message', (m, rinfo) => {
    seen++;
    echo.send(`echo ${m}`, rinfo.port, rinfo.address);
  });
  const f = new L4Forwarder(quiet);
  closers.push(() => f.close());
  const port = (await f.apply([guard('udp', 0, echo.address().port)], { allowed: [MEMBER] }))['c/udp/x']!;
  assert.equal(await udpFrom(MEMBER, GUARD, port), 'echo ping');
  assert.equal(await udpFrom(STRANGER, GUARD, port), undefined);
  assert.equal(seen, 1, 'the stranger\'s datagram never reached the target');
  assert.equal(f.stats.guardRefused, 1);
});

test('forwards to another node\'s address leave from this node\'s address; to a container\'s, from where the kernel says', async () => {
  const back = await tcpBackend();
  const f = new L4Forwarder(quiet);
  closers.push(() => f.close());
  const probe = net.createServer().listen(0, GUARD);
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const published = (node: boolean): Forward => ({ kind: 'published', protocol: 'tcp', ip: GUARD, port, service: 's', targets: [{ host: BACK, port: back.port, nodeId: 'b', ...(node ? { node: true as const } : {}) }] });
  await f.apply([published(true)], { source: MEMBER });
  assert.equal(await tcpFrom(STRANGER, GUARD, port), 'hit');
  assert.equal(back.peers.at(-1), MEMBER, 'a node target: from the source address');
  await f.apply([published(false)], { source: MEMBER });
  assert.equal(await tcpFrom(STRANGER, GUARD, port), 'hit');
  assert.equal(back.peers.at(-1), '127.0.0.1', 'a container target: the kernel\'s choice (on loopback, 127.0.0.1)');
});
