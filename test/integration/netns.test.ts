import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createLan, cleanupAllLans, sweepStaleLans, type Lan } from '../helpers/netns.ts';
import { waitFor, pidAlive } from '../helpers/wait.ts';

after(cleanupAllLans);

const PREFIX = 'wnt';

/** Collects a child's stdout lines (and stderr, for failure messages). */
function watch(child: ChildProcess): { lines: string[]; stderr: () => string } {
  const lines: string[] = [];
  let err = '';
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { lines, stderr: () => err };
}

function netnsList(): string {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
}

function linkExists(name: string): boolean {
  return spawnSync('ip', ['link', 'show', name], { stdio: 'ignore' }).status === 0;
}

const TCP_SERVER = `
const [ip, port] = process.argv.slice(1);
require('node:net').createServer((c) => c.end('pong from ' + ip + '\\n')).listen(Number(port), ip, () => console.log('LISTENING'));
`;

const TCP_CLIENT = `
const [ip, port] = process.argv.slice(1);
const deadline = Date.now() + 5000;
(function attempt() {
  const c = require('node:net').connect(Number(port), ip);
  let data = '';
  c.setEncoding('utf8').on('data', (d) => (data += d)).on('end', () => { console.log('REPLY ' + data.trim() + ' local ' + c.localAddress); process.exit(0); });
  c.on('error', (e) => { if (Date.now() > deadline) { console.error(e.message); process.exit(1); } setTimeout(attempt, 50); });
})();
`;

const MDNS_RECEIVER = `
const s = require('node:dgram').createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (m, r) => { console.log('GOT ' + m + ' from ' + r.address); process.exit(0); });
s.bind(5353, () => { s.addMembership('224.0.0.251'); console.log('JOINED'); });
`;

const MDNS_SENDER = `
const s = require('node:dgram').createSocket({ type: 'udp4', reuseAddr: true });
s.bind(() => { let n = 0; setInterval(() => s.send('hello-' + n++, 5353, '224.0.0.251'), 100); });
`;

test('netns LAN: TCP across the bridge and mDNS multicast between namespaces', { timeout: 20_000 }, async () => {
  const lan: Lan = await createLan({ prefix: PREFIX, hosts: 3 });
  assert.equal(lan.hosts.length, 3);
  const [h0, h1, h2] = lan.hosts as [Lan['hosts'][0], Lan['hosts'][0], Lan['hosts'][0]];
  assert.ok(lan.bridge.length <= 15 && lan.hosts.every((h) => h.veth.length <= 15));
  assert.match(h0.ip, /^198\.18\.\d+\.10$/);
  assert.equal(h2.ip, `${lan.subnet}.12`);
  assert.match(netnsList(), new RegExp(h1.ns));

  const eth0 = await lan.exec(h1.ns, 'ip', ['-4', '-o', 'addr', 'show', 'eth0']);
  assert.equal(eth0.code, 0, eth0.stderr);
  assert.match(eth0.stdout, new RegExp(`inet ${h1.ip.replaceAll('.', '\\.')}/24`));
  const routes = await lan.exec(h1.ns, 'ip', ['route', 'show']);
  assert.match(routes.stdout, /^224\.0\.0\.0\/4 dev eth0/m);

  // TCP: server in ns 2, client in ns 0
  const server = lan.spawnIn(h2.ns, process.execPath, ['-e', TCP_SERVER, h2.ip, '7000']);
  const serverOut = watch(server);
  await waitFor('TCP server listening in ns 2', () => serverOut.lines.includes('LISTENING'), 5000);
  const client = lan.spawnIn(h0.ns, process.execPath, ['-e', TCP_CLIENT, h2.ip, '7000']);
  const clientOut = watch(client);
  const reply = await waitFor('TCP reply in ns 0', () => {
    if (client.exitCode !== null && client.exitCode !== 0) throw new Error(`client failed: ${clientOut.stderr()}`);
    return clientOut.lines.find((l) => l.startsWith('REPLY'));
  }, 6000);
  assert.equal(reply, `REPLY pong from ${h2.ip} local ${h0.ip}`);

  // multicast: ns 1 and ns 2 join 224.0.0.251:5353, ns 0 sends
  const receivers = [h1, h2].map((h) => {
    const child = lan.spawnIn(h.ns, process.execPath, ['-e', MDNS_RECEIVER]);
    return { child, out: watch(child) };
  });
  await waitFor('both receivers joined 224.0.0.251', () => receivers.every((r) => {
    if (r.child.exitCode !== null) throw new Error(`receiver exited: ${r.out.stderr()}`);
    return r.out.lines.includes('JOINED');
  }), 5000);
  const sender = lan.spawnIn(h0.ns, process.execPath, ['-e', MDNS_SENDER]);
  const senderOut = watch(sender);
  const got = await waitFor('both receivers got a datagram', () => {
    if (sender.exitCode !== null) throw new Error(`sender exited: ${senderOut.stderr()}`);
    const lines = receivers.map((r) => r.out.lines.find((l) => l.startsWith('GOT')));
    return lines.every(Boolean) ? lines : undefined;
  }, 5000);
  for (const line of got) assert.match(line!, new RegExp(`^GOT hello-\\d+ from ${h0.ip.replaceAll('.', '\\.')}$`));

  // cleanup kills what spawnIn started and removes every namespace, link and the FORWARD rule
  const pids = [server.pid!, sender.pid!];
  assert.ok(pids.every(pidAlive));
  await lan.cleanup();
  await lan.cleanup(); // idempotent
  assert.ok(lan.cleanedUp);
  const list = netnsList();
  for (const h of lan.hosts) {
    assert.doesNotMatch(list, new RegExp(`^${h.ns}\\b`, 'm'));
    assert.equal(linkExists(h.veth), false, `${h.veth} still exists`);
  }
  assert.equal(linkExists(lan.bridge), false, `${lan.bridge} still exists`);
  assert.doesNotMatch(execFileSync('iptables', ['-S', 'FORWARD'], { encoding: 'utf8' }), new RegExp(lan.bridge));
  await waitFor('spawned processes gone', () => pids.every((p) => !pidAlive(p)), 3000);
  assert.throws(() => lan.spawnIn(h0.ns, 'true'), /cleaned up/);
});

test('netns LAN: sweeps stale LANs of dead processes, rootAddress reaches hosts from the test process', { timeout: 15_000 }, async () => {
  // leftovers of a "crashed" run: a pid that no longer exists
  const dead = spawnSync('true').pid!;
  assert.equal(pidAlive(dead), false);
  const staleNs = `${PREFIX}-${dead}-0-h0`;
  const staleBr = `${PREFIX}${dead.toString(36)}zb`;
  execFileSync('ip', ['netns', 'add', staleNs]);
  execFileSync('ip', ['link', 'add', staleBr, 'type', 'bridge']);
  execFileSync('ip', ['link', 'set', staleBr, 'alias', `netns-lan pid=${dead}`]);
  const rule = ['FORWARD', '-i', staleBr, '-o', staleBr, '-m', 'comment', '--comment', `netns-lan pid=${dead}`, '-j', 'ACCEPT'];
  execFileSync('iptables', ['-w', '5', '-I', ...rule]);
  try {
    const lan = await createLan({ prefix: PREFIX, hosts: 1, rootAddress: true });
    assert.ok(!existsSync(`/run/netns/${staleNs}`), 'stale namespace swept');
    assert.equal(linkExists(staleBr), false, 'stale bridge swept');
    assert.doesNotMatch(execFileSync('iptables', ['-S', 'FORWARD'], { encoding: 'utf8' }), new RegExp(staleBr));
    // a live LAN is never swept
    assert.deepEqual(sweepStaleLans(PREFIX), { namespaces: [], links: [], rules: [] });

    const [h] = lan.hosts;
    assert.equal(lan.rootIp, `${lan.subnet}.1`);
    const server = lan.spawnIn(h!.ns, process.execPath, ['-e', `require('node:http').createServer((q, s) => s.end('hi ' + q.socket.remoteAddress)).listen(8080, '${h!.ip}', () => console.log('LISTENING'))`]);
    const out = watch(server);
    await waitFor('HTTP server listening', () => out.lines.includes('LISTENING'), 5000);
    const res = await fetch(`http://${h!.ip}:8080/`, { signal: AbortSignal.timeout(3000) });
    assert.equal(await res.text(), `hi ${lan.rootIp}`);
    await lan.cleanup();
    assert.equal(linkExists(lan.bridge), false);
  } finally {
    spawnSync('iptables', ['-w', '5', '-D', ...rule], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', staleNs], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', staleBr], { stdio: 'ignore' });
  }
});
