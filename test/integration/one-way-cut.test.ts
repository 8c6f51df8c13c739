/**
 * cutOneWay (test/helpers/partition.ts), the chaos suite's one-way link cut: every packet one
 * process group sends to the other is dropped, the other way still arrives. Two real processes on
 * 127.73.3.1-2 (the resil helper's range), real iptables and conntrack; UDP shows each direction
 * on its own, TCP shows that no connection survives either way.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cutOneWay, healAll } from '../helpers/partition.ts';
import { waitFor } from '../helpers/wait.ts';

const A = '127.73.3.1';
const B = '127.73.3.2';
const PORT = 7399;

/** A peer: a UDP and a TCP server on its address; "udp"/"tcp" on stdin sends to the other one; it prints what it gets. */
function peer(ip: string, other: string): { proc: ChildProcess; out: () => string } {
  const code = `
const dgram = require('node:dgram'), net = require('node:net');
const u = dgram.createSocket('udp4');
u.on('message', (m) => console.log('udp got ' + m));
// ready once both sockets listen: a datagram sent before the other peer's bind is lost
u.bind(${PORT}, '${ip}', () => net.createServer((s) => s.on('data', (d) => { console.log('tcp got ' + d); s.end('ack'); })).listen(${PORT}, '${ip}', () => console.log('ready')));
let n = 0;
process.stdin.on('data', (d) => String(d).split('\\n').filter(Boolean).forEach((what) => {
  const tag = what + '-' + (++n) + '-from-${ip}';
  if (what === 'udp') u.send(tag, ${PORT}, '${other}');
  else {
    const c = net.connect(${PORT}, '${other}', () => c.write(tag));
    c.setTimeout(1500, () => { console.log('tcp timeout ' + tag); c.destroy(); });
    c.on('data', () => { console.log('tcp answered ' + tag); c.destroy(); });
    c.on('error', () => {});
  }
}));`;
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += String(d)));
  return { proc, out: () => out };
}

const peers: ChildProcess[] = [];
after(async () => {
  await healAll();
  for (const p of peers) p.kill('SIGKILL');
});

test('a one-way cut drops every packet from A to B, B to A still arrives; healed, both ways work again', { timeout: 30_000 }, async () => {
  const a = peer(A, B);
  const b = peer(B, A);
  peers.push(a.proc, b.proc);
  await waitFor('both peers ready', () => a.out().includes('ready') && b.out().includes('ready'), 5000);
  const send = (p: ChildProcess, what: 'udp' | 'tcp') => p.stdin!.write(`${what}\n`);

  send(a.proc, 'udp');
  send(b.proc, 'udp');
  await waitFor('datagrams both ways before the cut', () => b.out().includes(`udp-1-from-${A}`) && a.out().includes(`udp-1-from-${B}`), 5000);

  const heal = await cutOneWay({ pids: [a.proc.pid!], ip: A }, { pids: [b.proc.pid!], ip: B });
  send(b.proc, 'udp');
  await waitFor("B's datagram arrives at A during the cut", () => a.out().includes(`udp-2-from-${B}`), 5000);
  send(a.proc, 'udp');
  // TCP needs both ways: A cannot connect to B, and B's connection to A gets no answer
  send(a.proc, 'tcp');
  send(b.proc, 'tcp');
  await waitFor('both connections timed out', () => a.out().includes(`tcp timeout tcp-3-from-${A}`) && b.out().includes(`tcp timeout tcp-3-from-${B}`), 5000);
  assert.doesNotMatch(b.out(), /udp-2-from-127\.73\.3\.1/, "A's datagram to B was dropped");
  assert.doesNotMatch(b.out(), /tcp got/, 'nothing of A reached B');

  await heal();
  send(a.proc, 'udp');
  send(a.proc, 'tcp');
  send(b.proc, 'tcp');
  await waitFor('both ways work again', () => b.out().includes(`udp-4-from-${A}`) && a.out().includes(`tcp answered tcp-5-from-${A}`) && b.out().includes(`tcp answered tcp-4-from-${B}`), 5000);
});
