import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, RecordType } from 'dns-packet';
import { pino } from 'pino';
import type { Logger } from '../../src/system/logger.ts';
import { startDns, startDnsOnFirstFreePort, type DnsServer } from '../../src/routing/dns-server.ts';
import { answerMessage, type ZoneSource } from '../../src/routing/dns-zone.ts';
import { prng } from '../helpers/prng.ts';
import { waitFor } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const BIND = '127.0.0.1';
const silent = pino({ level: 'silent' });

const ZONE: ZoneSource = {
  domain: 'warren.internal',
  serviceAddrs: (s) =>
    ({
      web: ['100.64.0.1', '100.64.0.2', 'fd7a:115c:a1e0::2'],
      big: Array.from({ length: 40 }, (_, i) => `100.64.1.${i + 1}`),
    })[s],
  nodeAddr: (n) => ({ alpha: '100.64.0.1', beta: '100.64.0.2' })[n],
  nameservers: () => [
    { name: 'alpha', addr: '100.64.0.1' },
    { name: 'beta', addr: '100.64.0.2' },
  ],
};

type Reply = DecodedPacket & { rcode: string };

let nextId = 1;
function query(name: string, type: RecordType = 'A', extra: Partial<Packet> = {}): Packet {
  return { id: nextId++ & 0xffff, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }], ...extra };
}

const addrs = (r: Packet) => (r.answers ?? []).map((a: Answer) => (a as { data: string }).data).sort();

/** One UDP query: sends, waits for the answer with the same id (or rejects after timeoutMs). */
async function udpQuery(port: number, packet: Packet, timeoutMs = 3000): Promise<Reply> {
  const sock = createSocket('udp4');
  try {
    return await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no UDP answer to ${packet.questions?.[0]?.name}`)), timeoutMs);
      sock.on('message', (msg) => {
        const r = dnsPacket.decode(msg) as Reply;
        if (r.id !== packet.id) return;
        clearTimeout(timer);
        resolve(r);
      });
      sock.on('error', reject);
      sock.send(dnsPacket.encode(packet), port, BIND);
    });
  } finally {
    sock.close();
  }
}

/** A DNS-over-TCP client: 2-byte length framing, answers read as they come. */
class TcpDns {
  private buf = Buffer.alloc(0);
  private readonly replies: Reply[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly sock: Socket) {
    sock.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
        const len = this.buf.readUInt16BE(0);
        this.replies.push(dnsPacket.decode(this.buf.subarray(2, 2 + len)) as Reply);
        this.buf = this.buf.subarray(2 + len);
      }
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static open(port: number): Promise<TcpDns> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: BIND, port }, () => resolve(new TcpDns(sock)));
      sock.once('error', reject);
    });
  }

  static frame(packet: Packet | Buffer): Buffer {
    const body = Buffer.isBuffer(packet) ? packet : dnsPacket.encode(packet);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(body.length);
    return Buffer.concat([len, body]);
  }

  async write(data: Buffer): Promise<void> {
    await new Promise<void>((resolve, reject) => this.sock.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** Waits for n answers in all (or rejects after timeoutMs). */
  async read(n: number, timeoutMs = 3000): Promise<Reply[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length < n) {
      if (this.closed) throw new Error(`connection closed after ${this.replies.length} of ${n} answers`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${this.replies.length} of ${n} TCP answers`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.replies.splice(0, n);
  }

  /** Resolves when the server closes the connection. */
  async closedByPeer(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the server did not close the connection');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

async function tcpQuery(port: number, packet: Packet): Promise<Reply> {
  const c = await TcpDns.open(port);
  try {
    await c.write(TcpDns.frame(packet));
    return (await c.read(1))[0]!;
  } finally {
    c.close();
  }
}

async function hasDig(): Promise<boolean> {
  try {
    await execFileP('sh', ['-c', 'command -v dig']);
    return true;
  } catch {
    return false;
  }
}

describe('DNS server over UDP and TCP', () => {
  let dns: DnsServer;

  before(async () => {
    dns = await startDns({ bind: BIND, port: 0, zone: ZONE, logger: silent, tcpIdleMs: 500 });
  });
  after(async () => {
    await dns?.close();
  });

  it('answers a service over UDP: A records of the alive nodes, AA, TTL 5', async () => {
    const r = await udpQuery(dns.port, query('web.warren.internal'));
    assert.equal(r.rcode, 'NOERROR');
    assert.ok(r.flag_aa, 'AA set');
    assert.ok(!r.flag_ra, 'RA clear');
    assert.ok(!r.flag_tc, 'not truncated');
    assert.deepEqual(addrs(r), ['100.64.0.1', '100.64.0.2']);
    for (const a of r.answers!) assert.equal((a as { ttl: number }).ttl, 5);
  });

  it('answers AAAA, node names, SOA and NS, NXDOMAIN and REFUSED over UDP', async () => {
    assert.deepEqual(addrs(await udpQuery(dns.port, query('WEB.warren.internal', 'AAAA'))), ['fd7a:115c:a1e0::2']);
    assert.deepEqual(addrs(await udpQuery(dns.port, query('beta.node.warren.internal'))), ['100.64.0.2']);
    const soa = await udpQuery(dns.port, query('warren.internal', 'SOA'));
    assert.equal(soa.answers![0]!.type, 'SOA');
    const ns = await udpQuery(dns.port, query('warren.internal', 'NS'));
    assert.deepEqual(addrs(ns), ['ns-alpha.warren.internal', 'ns-beta.warren.internal']);
    const nx = await udpQuery(dns.port, query('nope.warren.internal'));
    assert.equal(nx.rcode, 'NXDOMAIN');
    assert.equal(nx.authorities![0]!.type, 'SOA');
    const refused = await udpQuery(dns.port, query('example.com'));
    assert.equal(refused.rcode, 'REFUSED');
    assert.ok(!refused.flag_aa, 'no AA outside the zone');
    assert.equal(refused.answers!.length, 0);
  });

  it('answers over TCP', async () => {
    const r = await tcpQuery(dns.port, query('web.warren.internal'));
    assert.equal(r.rcode, 'NOERROR');
    assert.ok(r.flag_aa, 'AA set');
    assert.deepEqual(addrs(r), ['100.64.0.1', '100.64.0.2']);
  });

  it('truncates a large answer over UDP, and gives it whole over TCP (40 addresses)', async () => {
    const q = query('big.warren.internal');
    const udp = await udpQuery(dns.port, q);
    assert.ok(udp.flag_tc, 'TC set over UDP');
    assert.equal(udp.answers!.length, 0);
    const tcp = await tcpQuery(dns.port, { ...q, id: nextId++ });
    assert.ok(!tcp.flag_tc, 'no TC over TCP');
    assert.equal(tcp.answers!.length, 40);
    assert.deepEqual(addrs(tcp), Array.from({ length: 40 }, (_, i) => `100.64.1.${i + 1}`).sort());
  });

  it('answers several queries on one TCP connection, in order, across partial reads', async () => {
    const c = await TcpDns.open(dns.port);
    try {
      const qs = [query('web.warren.internal'), query('alpha.node.warren.internal'), query('nope.warren.internal'), query('big.warren.internal'), query('example.org')];
      // all five in one write
      await c.write(Buffer.concat(qs.map((q) => TcpDns.frame(q))));
      const first = await c.read(5);
      assert.deepEqual(first.map((r) => r.id), qs.map((q) => q.id));
      assert.deepEqual(first.map((r) => r.rcode), ['NOERROR', 'NOERROR', 'NXDOMAIN', 'NOERROR', 'REFUSED']);
      assert.equal(first[3]!.answers!.length, 40);
      // then byte by byte, the length prefix split too
      const again = [query('web.warren.internal', 'AAAA'), query('warren.internal', 'SOA')];
      const bytes = Buffer.concat(again.map((q) => TcpDns.frame(q)));
      for (let i = 0; i < bytes.length; i++) {
        await c.write(bytes.subarray(i, i + 1));
        if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      const second = await c.read(2);
      assert.deepEqual(second.map((r) => r.id), again.map((q) => q.id));
      assert.deepEqual(addrs(second[0]!), ['fd7a:115c:a1e0::2']);
      assert.equal(second[1]!.answers![0]!.type, 'SOA');
    } finally {
      c.close();
    }
  });

  it('keeps a TCP connection through garbage frames (FORMERR or nothing) and still answers on it', async () => {
    const c = await TcpDns.open(dns.port);
    try {
      const cut = dnsPacket.encode(query('web.warren.internal')).subarray(0, 20); // header + part of the name
      const garbage = Buffer.concat([TcpDns.frame(Buffer.from([1, 2, 3])), TcpDns.frame(Buffer.alloc(0)), TcpDns.frame(cut)]);
      const good = query('web.warren.internal');
      await c.write(Buffer.concat([garbage, TcpDns.frame(good)]));
      const replies = await c.read(2); // FORMERR for `cut`, then the answer
      assert.equal(replies[0]!.rcode, 'FORMERR');
      assert.equal(replies[0]!.id, cut.readUInt16BE(0));
      assert.equal(replies[1]!.id, good.id);
      assert.deepEqual(addrs(replies[1]!), ['100.64.0.1', '100.64.0.2']);
    } finally {
      c.close();
    }
  });

  it('closes an idle TCP connection', async () => {
    const c = await TcpDns.open(dns.port);
    try {
      await c.write(TcpDns.frame(query('web.warren.internal')));
      await c.read(1);
      await c.closedByPeer(3000); // tcpIdleMs is 500 here (10 s by default)
    } finally {
      c.close();
    }
  });

  it('survives 10,000 random, malformed and truncated UDP packets, then answers correctly', async () => {
    const rnd = prng(0x5eed_d25);
    const byte = () => Math.floor(rnd() * 256);
    const templates = [
      dnsPacket.encode(query('web.warren.internal')),
      dnsPacket.encode(query('big.warren.internal', 'A', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as Answer] })),
      dnsPacket.encode(query('alpha.node.warren.internal', 'AAAA')),
      dnsPacket.encode(query('example.com', 'MX')),
    ];
    const makePacket = (i: number): Buffer => {
      const kind = i % 5;
      const t = templates[Math.floor(rnd() * templates.length)]!;
      if (kind === 0) return Buffer.from(Array.from({ length: Math.floor(rnd() * 600) }, byte)); // pure noise
      if (kind === 1) return Buffer.from(t.subarray(0, Math.floor(rnd() * t.length))); // truncated
      if (kind === 2) {
        const m = Buffer.from(t); // a few bytes flipped
        for (let f = 0, n = 1 + Math.floor(rnd() * 6); f < n; f++) m[Math.floor(rnd() * m.length)] = byte();
        return m;
      }
      if (kind === 3) {
        const m = Buffer.from(t); // header counts made absurd
        m.writeUInt16BE(Math.floor(rnd() * 65536), 4 + 2 * Math.floor(rnd() * 4));
        return m;
      }
      // a name of compression pointers / bad label lengths after a valid header
      const m = Buffer.alloc(12 + Math.floor(rnd() * 40));
      t.copy(m, 0, 0, 12);
      for (let j = 12; j < m.length; j++) m[j] = rnd() < 0.5 ? 0xc0 | (byte() & 0x3f) : byte();
      return m;
    };

    const client = createSocket('udp4');
    let replies = 0;
    let badReplies = 0;
    client.on('message', (msg) => {
      replies++;
      try {
        if (!dnsPacket.decode(msg).flag_qr) badReplies++; // every reply is a well-formed response
      } catch {
        badReplies++;
      }
    });
    try {
      await new Promise<void>((resolve) => client.bind(0, BIND, () => resolve()));
      const before = dns.stats();
      let expectedDrops = 0;
      const total = 10_000;
      const batch = 100;
      for (let sent = 0; sent < total; ) {
        for (let k = 0; k < batch; k++, sent++) {
          const pkt = makePacket(sent);
          if (!answerMessage(pkt, ZONE, { tcp: false }).reply) expectedDrops++;
          client.send(pkt, dns.port, BIND);
        }
        // pace on what the server has seen, so the kernel never drops a datagram
        await waitFor(`server saw ${sent} packets`, () => dns.stats().queries - before.queries >= sent, 5000, 2);
      }
      const after = dns.stats();
      assert.equal(after.queries - before.queries, total);
      assert.equal(after.dropped - before.dropped, expectedDrops);
      assert.ok(expectedDrops > 0 && expectedDrops < total, `some dropped, some answered (${expectedDrops} dropped)`);
      await waitFor('all replies in', () => replies === total - expectedDrops, 5000, 10);
      assert.equal(badReplies, 0);

      const r = await udpQuery(dns.port, query('web.warren.internal'));
      assert.equal(r.rcode, 'NOERROR');
      assert.deepEqual(addrs(r), ['100.64.0.1', '100.64.0.2']);
      const t = await tcpQuery(dns.port, query('big.warren.internal'));
      assert.equal(t.answers!.length, 40);
    } finally {
      client.close();
    }
  });

  it('answers dig over UDP and TCP (when dig is installed)', async (t) => {
    if (!(await hasDig())) return t.skip('dig is not installed (Debian: bind9-dnsutils)');
    const dig = async (...args: string[]) => (await execFileP('dig', [`@${BIND}`, '-p', String(dns.port), '+tries=1', '+time=2', ...args])).stdout;
    const short = await dig('+short', 'web.warren.internal', 'A');
    assert.deepEqual(short.trim().split('\n').sort(), ['100.64.0.1', '100.64.0.2']);
    const full = await dig('web.warren.internal', 'A');
    assert.match(full, /flags: qr aa rd;/);
    assert.match(full, /status: NOERROR/);
    const tcp = await dig('+tcp', '+short', 'big.warren.internal', 'A');
    assert.equal(tcp.trim().split('\n').length, 40);
    // dig retries a truncated UDP answer over TCP by itself
    const fallback = await dig('+noedns', '+short', 'big.warren.internal', 'A');
    assert.equal(fallback.trim().split('\n').length, 40);
    assert.match(await dig('nope.warren.internal'), /status: NXDOMAIN/);
    assert.match(await dig('example.com'), /status: REFUSED/);
    assert.match(await dig('warren.internal', 'SOA'), /ns-alpha\.warren\.internal\. hostmaster\.warren\.internal\./);
  });
});

describe('DNS server lifecycle and ports', () => {
  /** Holds a port: UDP, TCP, or both. */
  async function holdPort(kind: 'udp' | 'tcp'): Promise<{ port: number; close: () => Promise<void> }> {
    if (kind === 'udp') {
      const s: UdpSocket = createSocket('udp4');
      await new Promise<void>((resolve) => s.bind(0, BIND, () => resolve()));
      return { port: s.address().port, close: () => new Promise((r) => s.close(() => r())) };
    }
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, BIND, () => resolve()));
    return { port: (srv.address() as { port: number }).port, close: () => new Promise((r) => srv.close(() => r())) };
  }

  function capture(): { logger: Logger; lines: () => Record<string, unknown>[] } {
    const out: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        out.push(String(chunk));
        cb();
      },
    });
    return { logger: pino({ level: 'info' }, stream), lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
  }

  /**
   * A port number free for both UDP and TCP now: an ephemeral UDP port's number can be in use
   * over TCP (the suite's other connections), and a test that took that for free failed once.
   */
  async function freeOnBoth(): Promise<number> {
    for (;;) {
      const tcp = await holdPort('tcp');
      const udp = createSocket('udp4');
      const ok = await new Promise<boolean>((resolve) => {
        udp.once('error', () => resolve(false));
        udp.bind(tcp.port, BIND, () => resolve(true));
      });
      await tcp.close();
      if (ok) {
        await new Promise<void>((r) => udp.close(() => r()));
        return tcp.port;
      }
    }
  }

  it('uses the preferred port when it is free (UDP and TCP on it)', async () => {
    const port = await freeOnBoth();
    const dns = await startDnsOnFirstFreePort({ bind: BIND, preferred: port, fallback: 0, zone: ZONE, logger: silent });
    try {
      assert.equal(dns.port, port);
      assert.deepEqual(addrs(await udpQuery(dns.port, query('web.warren.internal'))), ['100.64.0.1', '100.64.0.2']);
      assert.deepEqual(addrs(await tcpQuery(dns.port, query('web.warren.internal'))), ['100.64.0.1', '100.64.0.2']);
    } finally {
      await dns.close();
    }
  });

  for (const kind of ['udp', 'tcp'] as const) {
    it(`falls back when the preferred port is taken (${kind}), with UDP and TCP on the fallback`, async () => {
      const held = await holdPort(kind);
      const log = capture();
      let dns: DnsServer | undefined;
      try {
        dns = await startDnsOnFirstFreePort({ bind: BIND, preferred: held.port, fallback: 0, zone: ZONE, logger: log.logger });
        assert.notEqual(dns.port, held.port);
        assert.deepEqual(addrs(await udpQuery(dns.port, query('web.warren.internal'))), ['100.64.0.1', '100.64.0.2']);
        assert.deepEqual(addrs(await tcpQuery(dns.port, query('web.warren.internal'))), ['100.64.0.1', '100.64.0.2']);
        const warn = log.lines().find((l) => l.level === 40);
        assert.ok(warn, 'a warning names the fallback');
        assert.equal(warn.code, 'EADDRINUSE');
      } finally {
        await dns?.close();
        await held.close();
      }
      // the half that did bind on the taken port (UDP: bound before TCP failed) was released. Only
      // UDP is checked: the number of a port held over one protocol can be in use over the other by
      // the suite's other sockets (a TCP check of a UDP port's number failed once)
      const again = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject);
        again.bind(held.port, BIND, () => resolve());
      });
      await new Promise<void>((r) => again.close(() => r()));
    });
  }

  it('rejects when the port is taken and there is no fallback to take', async () => {
    const held = await holdPort('tcp');
    try {
      await assert.rejects(startDns({ bind: BIND, port: held.port, zone: ZONE, logger: silent }), /EADDRINUSE/);
      await assert.rejects(startDnsOnFirstFreePort({ bind: BIND, preferred: held.port, fallback: held.port, zone: ZONE, logger: silent }), /EADDRINUSE/);
    } finally {
      await held.close();
    }
  });

  it('close() frees the port and ends open TCP connections', async () => {
    const dns = await startDns({ bind: BIND, port: 0, zone: ZONE, logger: silent });
    const c = await TcpDns.open(dns.port);
    try {
      await c.write(TcpDns.frame(query('web.warren.internal')));
      await c.read(1);
      await dns.close();
      await dns.close(); // twice is fine
      await c.closedByPeer(2000);
      const again = await startDns({ bind: BIND, port: dns.port, zone: ZONE, logger: silent });
      await again.close();
    } finally {
      c.close();
      await dns.close();
    }
  });

  it('serves on IPv6 loopback', async (t) => {
    let dns: DnsServer;
    try {
      dns = await startDns({ bind: '::1', port: 0, zone: ZONE, logger: silent });
    } catch {
      return t.skip('no IPv6 loopback here');
    }
    const sock = createSocket('udp6');
    try {
      const q = query('web.warren.internal', 'AAAA');
      const reply = await new Promise<Reply>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer over IPv6')), 3000);
        sock.on('message', (msg) => {
          clearTimeout(timer);
          resolve(dnsPacket.decode(msg) as Reply);
        });
        sock.send(dnsPacket.encode(q), dns.port, '::1');
      });
      assert.deepEqual(addrs(reply), ['fd7a:115c:a1e0::2']);
    } finally {
      sock.close();
      await dns.close();
    }
  });
});
