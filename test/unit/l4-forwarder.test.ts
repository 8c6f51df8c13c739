/** The mesh's forwarder on real loopback sockets (127.61.1.x: this helper's range). */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { L4Forwarder } from '../../src/routing/l4-forwarder.ts';
import type { Forward } from '../../src/core/mesh/forward-plan.ts';

const LISTEN = '127.61.1.1';
const BACK = '127.61.1.2';
const quiet = { warn: () => {}, debug: () => {} };
const closers: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

async function tcpBackend(reply: string): Promise<number> {
  const s = net.createServer((c) => c.on('data', (d) => c.end(`${reply}:${d}`)));
  s.listen(0, BACK);
  await once(s, 'listening');
  closers.push(() => new Promise((r) => s.close(r)));
  return (s.address() as net.AddressInfo).port;
}

async function tcpAsk(port: number, text: string): Promise<string> {
  const c = net.connect(port, LISTEN);
  c.end(text);
  let out = '';
  c.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    c.on('close', () => resolve());
    c.on('error', reject);
  });
  return out;
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, LISTEN);
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const fwd = (protocol: 'tcp' | 'udp', port: number, targets: { port: number }[]): Forward => ({
  protocol,
  ip: LISTEN,
  port,
  service: 'svc',
  kind: 'published',
  targets: targets.map((t) => ({ host: BACK, port: t.port, nodeId: 'n' })),
});

test('TCP: forwards round-robin, skips a target that refuses, follows target changes without re-listening, closes what leaves the plan', async () => {
  const f = new L4Forwarder(quiet);
  closers.push(() => f.close());
  const one = await tcpBackend('one');
  const two = await tcpBackend('two');
  const dead = await freePort();
  const port = await freePort();
  await f.apply([fwd('tcp', port, [{ port: one }, { port: two }])]);
  const answers = [await tcpAsk(port, 'a'), await tcpAsk(port, 'b')].sort();
  assert.deepEqual(answers, ['one:a', 'two:b']);
  await f.apply([fwd('tcp', port, [{ port: dead }, { port: two }])]);
  for (let i = 0; i < 3; i++) assert.equal(await tcpAsk(port, 'c'), 'two:c', 'a refusing target is skipped');
  assert.equal(f.stats.tcpConnections, 5);
  await f.apply([fwd('tcp', port, [])]);
  await assert.rejects(tcpAsk(port, 'x'), /ECONNRESET/, 'no target: the client is reset');
  await f.apply([]);
  assert.deepEqual(f.keys(), []);
  await assert.rejects(tcpAsk(port, 'x'), /ECONNREFUSED/, 'closed when it leaves the plan');
});

test('TCP: a port already taken is retried on the next apply', async () => {
  const f = new L4Forwarder(quiet);
  closers.push(() => f.close());
  const back = await tcpBackend('b');
  const blocker = net.createServer().listen(0, LISTEN);
  await once(blocker, 'listening');
  const port = (blocker.address() as net.AddressInfo).port;
  await f.apply([fwd('tcp', port, [{ port: back }])]);
  assert.deepEqual(f.keys(), []);
  await new Promise((r) => blocker.close(r));
  await f.apply([fwd('tcp', port, [{ port: back }])]);
  assert.deepEqual(f.keys(), [`tcp/${LISTEN}:${port}`]);
  assert.equal(await tcpAsk(port, 'z'), 'b:z');
});

/** UDP backends that answer `<name>:<datagram>`; their ports, in order. */
async function udpEchoes(names: string[]): Promise<number[]> {
  const ports: number[] = [];
  for (const name of names) {
    const s = dgram.createSocket('udp4');
    s.on('message', (m, r) => s.send(`${name}:${m}`, r.port, r.address));
    s.bind(0, BACK);
    await once(s, 'listening');
    closers.push(() => new Promise((r) => s.close(() => r(undefined))));
    ports.push(s.address().port);
  }
  return ports;
}

test('UDP: each client flow goes to one target and gets its answers back', async () => {
  const f = new L4Forwarder(quiet);
  closers.push(() => f.close());
  const backs = await udpEchoes(['u1', 'u2']);
  const port = await freePort();
  await f.apply([fwd('udp', port, backs.map((p) => ({ port: p })))]);
  const ask = async (c: dgram.Socket, text: string) => {
    c.send(text, port, LISTEN);
    const [m] = (await once(c, 'message')) as [Buffer];
    return String(m);
  };
  const c1 = dgram.createSocket('udp4');
  const c2 = dgram.createSocket('udp4');
  closers.push(() => void c1.close(), () => void c2.close());
  const a1 = await ask(c1, 'x');
  const a2 = await ask(c1, 'y');
  assert.equal(a1.split(':')[0], a2.split(':')[0], 'one flow, one target');
  assert.equal(a2.split(':')[1], 'y');
  const b1 = await ask(c2, 'z');
  assert.notEqual(b1.split(':')[0], a1.split(':')[0], 'the next flow goes to the next target');
  assert.equal(f.stats.udpFlows, 2);
});

test('UDP: a flow whose target leaves the plan is ended, and the client\'s next datagram goes to a live target', async () => {
  const f = new L4Forwarder(quiet);
  closers.push(() => f.close());
  const backs = await udpEchoes(['old', 'new']);
  const port = await freePort();
  const c = dgram.createSocket('udp4');
  closers.push(() => void c.close());
  const ask = async (text: string) => {
    c.send(text, port, LISTEN);
    const [m] = (await once(c, 'message')) as [Buffer];
    return String(m);
  };
  await f.apply([fwd('udp', port, [{ port: backs[0]! }])]);
  assert.equal(await ask('a'), 'old:a');
  await f.apply([fwd('udp', port, [{ port: backs[1]! }])]);
  assert.equal(await ask('b'), 'new:b');
});

test('the mesh worker process: forwards the plan it is sent, and after it is killed comes back with the last plan', async () => {
  const { MeshProcess } = await import('../../src/routing/mesh-process.ts');
  const logger = { warn: () => {}, info: () => {}, debug: () => {}, error: () => {}, child: () => logger } as never;
  const p = new MeshProcess({ logLevel: 'warn', name: 'mesh-unit', logger });
  closers.push(() => p.close());
  const back = await tcpBackend('w');
  const port = await freePort();
  await p.apply([fwd('tcp', port, [{ port: back }])]);
  assert.deepEqual(p.keys, [`tcp/${LISTEN}:${port}`]);
  assert.equal(await tcpAsk(port, '1'), 'w:1');
  const pid = (p as unknown as { child: { pid: number } }).child.pid;
  process.kill(pid, 'SIGKILL');
  const { waitFor } = await import('../helpers/wait.ts');
  await waitFor('the restarted worker forwarding again', async () => (await tcpAsk(port, '2').catch(() => '')) === 'w:2', 15_000, 100);
  assert.notEqual((p as unknown as { child: { pid: number } }).child.pid, pid);
});

test('the mesh worker process runs only while the plan forwards something', async () => {
  const { MeshProcess } = await import('../../src/routing/mesh-process.ts');
  const { waitFor } = await import('../helpers/wait.ts');
  const logger = { warn: () => {}, info: () => {}, debug: () => {}, error: () => {}, child: () => logger } as never;
  let restarts = 0;
  const p = new MeshProcess({ logLevel: 'warn', name: 'mesh-unit-idle', logger, restarted: () => restarts++ });
  closers.push(() => p.close());
  const childOf = () => (p as unknown as { child?: { pid: number } }).child;
  assert.deepEqual(await p.apply([]), {});
  assert.equal(childOf(), undefined, 'an empty plan starts no worker');
  const back = await tcpBackend('i');
  const port = await freePort();
  await p.apply([fwd('tcp', port, [{ port: back }])]);
  const pid = childOf()!.pid;
  assert.equal(await tcpAsk(port, '1'), 'i:1');
  await p.apply([]);
  assert.equal(childOf(), undefined);
  assert.deepEqual(p.keys, []);
  await waitFor('the stopped worker gone', () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 10_000, 50);
  await assert.rejects(tcpAsk(port, '2'), /ECONNREFUSED/);
  await p.apply([fwd('tcp', port, [{ port: back }])]);
  assert.notEqual(childOf()!.pid, pid);
  assert.equal(await tcpAsk(port, '3'), 'i:3');
  assert.equal(restarts, 0, 'a stop for an empty plan is not a crash');
});
