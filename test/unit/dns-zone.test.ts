import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, RecordType } from 'dns-packet';
import { answerMessage, answerQuery, DNS_TTL, type ZoneSource } from '../../src/routing/dns-zone.ts';
import { prng } from '../helpers/prng.ts';

// ------------------------------------------------------------------ fixtures

const DOMAIN = 'warren.internal';

function zoneOf(services: Record<string, string[]>, nodes: Record<string, string> = { alpha: '100.64.0.1', beta: 'fd7a:115c:a1e0::2' }): ZoneSource {
  return {
    domain: DOMAIN,
    serviceAddrs: (s) => services[s],
    nodeAddr: (n) => nodes[n],
    nameservers: () => Object.entries(nodes).map(([name, addr]) => ({ name, addr })),
  };
}

const ZONE = zoneOf({
  web: ['100.64.0.1', '100.64.0.3', 'fd7a:115c:a1e0::2'],
  v4only: ['192.168.1.5'],
  down: [],
});

const AA = 1 << 10;
const TC = 1 << 9;
const RD = 1 << 8;
const RA = 1 << 7;

/** Encodes then decodes, as the server does: the zone sees exactly what a client sent. */
function wire(p: Packet): DecodedPacket {
  return dnsPacket.decode(dnsPacket.encode(p));
}

function query(name: string, type: RecordType | string = 'A', extra: Partial<Packet> & { opcode?: number } = {}): DecodedPacket {
  const { opcode = 0, ...rest } = extra;
  return wire({ id: 4242, type: 'query', flags: RD | (opcode << 11), questions: [{ name, type: type as RecordType, class: 'IN' }], ...rest });
}

/** Runs answerQuery, then a round trip through the wire format (which is what clients get). */
function ask(q: Packet, opts: { tcp?: boolean; maxUdpSize?: number } = {}, zone: ZoneSource = ZONE): DecodedPacket & { rcode: string } {
  const answer = answerQuery(q, zone, { tcp: opts.tcp ?? false, maxUdpSize: opts.maxUdpSize });
  assert.ok(answer, 'expected an answer, got a drop');
  return wire(answer) as DecodedPacket & { rcode: string };
}

const data = (answers: Answer[] | undefined, type?: string) => (answers ?? []).filter((a) => !type || a.type === type).map((a) => (a as { data: unknown }).data);
const sorted = <T>(xs: T[]) => [...xs].sort();
const edns = (udpPayloadSize: number, extra: Partial<{ ednsVersion: number }> = {}): Answer[] => [
  { type: 'OPT', name: '.', udpPayloadSize, extendedRcode: 0, ednsVersion: extra.ednsVersion ?? 0, flags: 0, flag_do: false, options: [] } as Answer,
];

// ------------------------------------------------------------------ tests

describe('answerQuery: services and nodes', () => {
  it('answers A for a service with the alive nodes IPv4 addresses, AA set, RA clear, TTL 5', () => {
    const r = ask(query('web.warren.internal', 'A'));
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.id, 4242);
    assert.equal(r.type, 'response');
    assert.ok(r.flag_aa, 'AA');
    assert.ok(!r.flag_ra, 'RA must be 0: never recursive');
    assert.ok(r.flag_rd, 'RD is copied from the query');
    assert.deepEqual(sorted(data(r.answers, 'A') as string[]), ['100.64.0.1', '100.64.0.3']);
    assert.equal(r.answers!.length, 2);
    for (const a of r.answers!) {
      assert.equal((a as { ttl: number }).ttl, DNS_TTL);
      assert.equal(a.name, 'web.warren.internal');
    }
    assert.deepEqual(r.questions, [{ name: 'web.warren.internal', type: 'A', class: 'IN' }]);
    assert.equal(DNS_TTL, 5);
  });

  it('answers AAAA with the IPv6 addresses only', () => {
    const r = ask(query('web.warren.internal', 'AAAA'));
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual(data(r.answers), ['fd7a:115c:a1e0::2']);
    assert.equal(r.answers![0]!.type, 'AAAA');
  });

  it('gives NOERROR with no data (SOA in authority) for the other address family', () => {
    const r = ask(query('v4only.warren.internal', 'AAAA'));
    assert.equal(r.rcode, 'NOERROR');
    assert.ok(r.flag_aa, 'r.flag_aa');
    assert.equal(r.answers!.length, 0);
    assert.equal(r.authorities!.length, 1);
    assert.equal(r.authorities![0]!.type, 'SOA');
    assert.equal(r.authorities![0]!.name, DOMAIN);
  });

  it('gives NOERROR with no data for a service that exists with no alive node', () => {
    const r = ask(query('down.warren.internal', 'A'));
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.answers!.length, 0);
    assert.equal(r.authorities![0]!.type, 'SOA');
  });

  it('answers ANY for a service with both families', () => {
    const r = ask(query('web.warren.internal', 'ANY'));
    assert.deepEqual(sorted(data(r.answers) as string[]), ['100.64.0.1', '100.64.0.3', 'fd7a:115c:a1e0::2']);
  });

  it('gives NOERROR/no data with the SOA for unsupported types inside the zone', () => {
    for (const type of ['MX', 'TXT', 'SRV', 'CNAME', 'PTR', 'CAA', 'UNKNOWN_999']) {
      const r = ask(query('web.warren.internal', type));
      assert.equal(r.rcode, 'NOERROR', type);
      assert.ok(r.flag_aa, type);
      assert.equal(r.answers!.length, 0, type);
      assert.equal(r.authorities![0]!.type, 'SOA', type);
    }
  });

  it('answers <node>.node.<domain> with that node address (A or AAAA by family)', () => {
    const a = ask(query('alpha.node.warren.internal', 'A'));
    assert.equal(a.rcode, 'NOERROR');
    assert.deepEqual(data(a.answers), ['100.64.0.1']);
    const b = ask(query('beta.node.warren.internal', 'AAAA'));
    assert.deepEqual(data(b.answers), ['fd7a:115c:a1e0::2']);
    const bA = ask(query('beta.node.warren.internal', 'A'));
    assert.equal(bA.rcode, 'NOERROR');
    assert.equal(bA.answers!.length, 0);
    assert.equal(bA.authorities![0]!.type, 'SOA');
    const none = ask(query('gamma.node.warren.internal', 'A'));
    assert.equal(none.rcode, 'NXDOMAIN');
  });

  it('treats node.<domain> as an existing name without records', () => {
    const r = ask(query('node.warren.internal', 'A'));
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.answers!.length, 0);
  });

  it('answers NXDOMAIN with the SOA for unknown names inside the zone', () => {
    for (const name of ['nope.warren.internal', 'a.web.warren.internal', 'x.alpha.node.warren.internal', 'ns-gamma.warren.internal']) {
      const r = ask(query(name, 'A'));
      assert.equal(r.rcode, 'NXDOMAIN', name);
      assert.ok(r.flag_aa, name);
      assert.equal(r.answers!.length, 0, name);
      assert.equal(r.authorities!.length, 1, name);
      assert.equal(r.authorities![0]!.type, 'SOA', name);
      assert.equal((r.authorities![0] as { ttl: number }).ttl, DNS_TTL, name);
    }
  });

  it('is case-insensitive, and answers with the name as it was asked', () => {
    const r = ask(query('WeB.WARREN.Internal', 'A'));
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.answers!.length, 2);
    assert.equal(r.answers![0]!.name, 'WeB.WARREN.Internal');
    assert.equal(r.questions![0]!.name, 'WeB.WARREN.Internal');
    assert.equal(ask(query('ALPHA.Node.warren.INTERNAL', 'A')).answers!.length, 1);
    assert.equal(ask(query('WARREN.INTERNAL', 'SOA')).answers![0]!.type, 'SOA');
  });

  it('calls the zone source with lowercased labels', () => {
    const seen: string[] = [];
    const zone: ZoneSource = { ...ZONE, serviceAddrs: (s) => (seen.push(s), ZONE.serviceAddrs(s)), nodeAddr: (n) => (seen.push(n), ZONE.nodeAddr(n)) };
    ask(query('WEB.warren.internal'), {}, zone);
    ask(query('ALPHA.node.warren.internal'), {}, zone);
    assert.deepEqual(seen, ['web', 'alpha']);
  });

  it('rotates the addresses by query id, always the same set', () => {
    const many = zoneOf({ svc: ['100.64.0.1', '100.64.0.2', '100.64.0.3'] });
    const firsts = new Set<unknown>();
    for (let id = 0; id < 6; id++) {
      const r = ask(query('svc.warren.internal', 'A', { id }), {}, many);
      assert.deepEqual(sorted(data(r.answers) as string[]), ['100.64.0.1', '100.64.0.2', '100.64.0.3']);
      firsts.add(data(r.answers)[0]);
    }
    assert.equal(firsts.size, 3);
  });
});

describe('answerQuery: the apex', () => {
  it('answers SOA at the apex, MNAME ns-<first node>', () => {
    const r = ask(query('warren.internal', 'SOA'));
    assert.equal(r.rcode, 'NOERROR');
    assert.ok(r.flag_aa, 'r.flag_aa');
    assert.equal(r.answers!.length, 1);
    const soa = r.answers![0] as Answer & { ttl: number; data: { mname: string; rname: string; serial: number; minimum: number } };
    assert.equal(soa.type, 'SOA');
    assert.equal(soa.ttl, DNS_TTL);
    assert.equal(soa.data.mname, 'ns-alpha.warren.internal');
    assert.equal(soa.data.rname, 'hostmaster.warren.internal');
    assert.ok(soa.data.serial > 0, 'soa.data.serial > 0');
    assert.equal(soa.data.minimum, DNS_TTL);
  });

  it('answers NS at the apex, one per alive node, with glue A/AAAA', () => {
    const r = ask(query('warren.internal', 'NS'));
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual(sorted(data(r.answers, 'NS') as string[]), ['ns-alpha.warren.internal', 'ns-beta.warren.internal']);
    const glue = (r.additionals ?? []).map((a) => `${a.name} ${a.type} ${(a as { data: string }).data}`);
    assert.deepEqual(sorted(glue), ['ns-alpha.warren.internal A 100.64.0.1', 'ns-beta.warren.internal AAAA fd7a:115c:a1e0::2']);
  });

  it('resolves the NS targets', () => {
    assert.deepEqual(data(ask(query('ns-alpha.warren.internal', 'A')).answers), ['100.64.0.1']);
    assert.deepEqual(data(ask(query('ns-beta.warren.internal', 'AAAA')).answers), ['fd7a:115c:a1e0::2']);
  });

  it('gives no data for A at the apex', () => {
    const r = ask(query('warren.internal', 'A'));
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.answers!.length, 0);
    assert.equal(r.authorities![0]!.type, 'SOA');
  });
});

describe('answerQuery: refusals and errors', () => {
  it('REFUSED for names outside the zone, without AA, never recursing', () => {
    for (const name of ['example.com', 'internal', 'xwarren.internal', 'warren.internal.evil.com', '.']) {
      const r = ask(query(name, 'A'));
      assert.equal(r.rcode, 'REFUSED', name);
      assert.ok(!r.flag_aa, name);
      assert.ok(!r.flag_ra, name);
      assert.equal(r.answers!.length, 0, name);
    }
  });

  it('REFUSED for classes other than IN (e.g. version.bind CH TXT) and for zone transfers', () => {
    const ch = ask(wire({ id: 1, type: 'query', questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] }));
    assert.equal(ch.rcode, 'REFUSED');
    const chIn = ask(wire({ id: 1, type: 'query', questions: [{ name: 'web.warren.internal', type: 'A', class: 'CH' }] }));
    assert.equal(chIn.rcode, 'REFUSED');
    assert.equal(ask(query('warren.internal', 'AXFR')).rcode, 'REFUSED');
  });

  it('NOTIMP for opcodes other than QUERY', () => {
    for (const opcode of [1, 2, 4, 5, 15]) {
      const r = ask(query('web.warren.internal', 'A', { opcode }));
      assert.equal(r.rcode, 'NOTIMP', `opcode ${opcode}`);
      assert.equal((r.flags! >> 11) & 0xf, opcode, 'the opcode is echoed');
      assert.equal(r.answers!.length, 0);
    }
  });

  it('FORMERR unless there is exactly one question', () => {
    const none = ask(wire({ id: 9, type: 'query', questions: [] }));
    assert.equal(none.rcode, 'FORMERR');
    assert.equal(none.id, 9);
    const two = ask(wire({ id: 9, type: 'query', questions: [{ name: 'web.warren.internal', type: 'A' }, { name: 'web.warren.internal', type: 'AAAA' }] }));
    assert.equal(two.rcode, 'FORMERR');
    assert.equal(two.answers!.length, 0);
  });

  it('FORMERR for two OPT records; BADVERS for EDNS version > 0', () => {
    const twoOpt = ask(query('web.warren.internal', 'A', { additionals: [...edns(1232), ...edns(1232)] }));
    assert.equal(twoOpt.rcode, 'FORMERR');
    const v1 = ask(query('web.warren.internal', 'A', { additionals: edns(1232, { ednsVersion: 1 }) }));
    const opt = v1.additionals!.find((a) => a.type === 'OPT') as { extendedRcode: number } | undefined;
    assert.ok(opt, 'opt');
    assert.equal(((opt.extendedRcode << 4) | (v1.flags! & 0xf)), 16, 'BADVERS');
    assert.equal(v1.answers!.length, 0);
  });

  it('drops responses (never answers an answer)', () => {
    const resp = wire({ id: 1, type: 'response', questions: [{ name: 'web.warren.internal', type: 'A' }] });
    assert.equal(answerQuery(resp, ZONE, { tcp: false }), undefined);
  });
});

describe('answerQuery: sizes and truncation', () => {
  // dns-packet does not compress names: an A record of big.warren.internal takes 35 bytes
  const big = zoneOf({
    big: Array.from({ length: 40 }, (_, i) => `100.64.1.${i + 1}`), // ~1430 bytes
    mid: Array.from({ length: 20 }, (_, i) => `100.64.1.${i + 1}`), // ~730 bytes
    huge: Array.from({ length: 60 }, (_, i) => `100.64.2.${i + 1}`), // ~2140 bytes
  });

  it('truncates a UDP answer over 512 bytes without EDNS (TC, no answers)', () => {
    const r = ask(query('big.warren.internal', 'A'), {}, big);
    assert.ok(r.flag_tc, 'TC');
    assert.ok(r.flag_aa, 'r.flag_aa');
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.answers!.length, 0);
    assert.deepEqual(r.questions, [{ name: 'big.warren.internal', type: 'A', class: 'IN' }]);
    assert.ok(dnsPacket.encode(answerQuery(query('big.warren.internal', 'A'), big, { tcp: false })!).length <= 512, 'the truncated answer fits 512 bytes');
  });

  it('sends the whole answer over TCP', () => {
    const r = ask(query('big.warren.internal', 'A'), { tcp: true }, big);
    assert.ok(!r.flag_tc, '!r.flag_tc');
    assert.equal(r.answers!.length, 40);
  });

  it('sends it over UDP when the client EDNS size allows, with an OPT record back', () => {
    const r = ask(query('mid.warren.internal', 'A', { additionals: edns(1232) }), {}, big);
    assert.ok(!r.flag_tc, '!r.flag_tc');
    assert.equal(r.answers!.length, 20);
    const opt = r.additionals!.find((a) => a.type === 'OPT') as { udpPayloadSize: number } | undefined;
    assert.ok(opt, 'EDNS is answered with EDNS');
    assert.equal(opt.udpPayloadSize, 1232);
  });

  it('truncates at the client EDNS size when it is smaller than the answer', () => {
    // 20 A records are ~730 bytes: over 600, under 1232
    const small = ask(query('mid.warren.internal', 'A', { additionals: edns(600) }), {}, big);
    assert.ok(small.flag_tc, 'small.flag_tc');
    assert.equal(small.answers!.length, 0);
    assert.ok(small.additionals!.some((a) => a.type === 'OPT'), 'the OPT stays in a truncated answer');
    // an EDNS size under 512 counts as 512
    assert.ok(ask(query('mid.warren.internal', 'A', { additionals: edns(100) }), {}, big).flag_tc, 'an EDNS size under 512 counts as 512');
  });

  it('never sends more than maxUdpSize over UDP, whatever the client offers', () => {
    const capped = ask(query('huge.warren.internal', 'A', { additionals: edns(4096) }), {}, big);
    assert.ok(capped.flag_tc, 'over the default 1232');
    const raised = ask(query('huge.warren.internal', 'A', { additionals: edns(4096) }), { maxUdpSize: 4096 }, big);
    assert.ok(!raised.flag_tc, '!raised.flag_tc');
    assert.equal(raised.answers!.length, 60);
  });

  it('drops NS glue before truncating', () => {
    // 6 NS records are ~420 bytes, their AAAA glue ~370 more
    const names = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`node-number-${i}`, `fd7a:115c:a1e0::${i + 1}`]));
    const r = ask(query('warren.internal', 'NS'), {}, zoneOf({}, names));
    assert.ok(!r.flag_tc, '!r.flag_tc');
    assert.equal(r.answers!.length, 6);
    assert.equal(r.additionals!.length, 0, 'glue dropped to fit 512 bytes');
  });
});

describe('answerMessage: bytes in, bytes out', () => {
  it('answers FORMERR to bytes with a readable header and an unreadable body', () => {
    const good = dnsPacket.encode({ id: 0xbeef, type: 'query', flags: RD, questions: [{ name: 'web.warren.internal', type: 'A' }] });
    const cut = good.subarray(0, good.length - 3);
    const r = answerMessage(cut, ZONE, { tcp: false });
    assert.equal(r.outcome, 'malformed');
    const d = dnsPacket.decode(r.reply!) as DecodedPacket & { rcode: string };
    assert.equal(d.id, 0xbeef);
    assert.equal(d.rcode, 'FORMERR');
    assert.ok(d.flag_qr, 'd.flag_qr');
    assert.ok(d.flag_rd, 'd.flag_rd');
    assert.ok(!d.flag_ra, '!d.flag_ra');
  });

  it('section counts the bytes cannot hold are FORMERR; the smallest sections that fit still decode', () => {
    // a question takes at least 5 bytes (root name, type, class), a record at least 11
    const header = (qd: number, ar: number) => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(0x1234, 0);
      h.writeUInt16BE(qd, 4);
      h.writeUInt16BE(ar, 10);
      return h;
    };
    const rootA = Buffer.from([0, 0, 1, 0, 1]);
    const rootOpt = Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]); // OPT, 1232 bytes, no options
    const fits = answerMessage(Buffer.concat([header(1, 1), rootA, rootOpt]), ZONE, { tcp: false });
    assert.equal(fits.outcome, 'answered');
    assert.notEqual((dnsPacket.decode(fits.reply!) as DecodedPacket & { rcode: string }).rcode, 'FORMERR');
    for (const msg of [Buffer.concat([header(1, 2), rootA, rootOpt]), Buffer.concat([header(2, 1), rootA, rootOpt]), header(65535, 65535)]) {
      const r = answerMessage(msg, ZONE, { tcp: false });
      assert.equal(r.outcome, 'malformed');
      const d = dnsPacket.decode(r.reply!) as DecodedPacket & { rcode: string };
      assert.equal(d.id, 0x1234);
      assert.equal(d.rcode, 'FORMERR');
    }
  });

  it('drops fewer than 12 bytes and anything that is a response', () => {
    assert.deepEqual(answerMessage(Buffer.from([1, 2, 3]), ZONE, { tcp: false }), { outcome: 'dropped' });
    assert.deepEqual(answerMessage(Buffer.alloc(0), ZONE, { tcp: false }), { outcome: 'dropped' });
    const resp = Buffer.alloc(20, 0xff); // QR set, garbage after
    assert.equal(answerMessage(resp, ZONE, { tcp: false }).outcome, 'dropped');
  });

  it('answers a good query', () => {
    const q = dnsPacket.encode({ id: 7, type: 'query', questions: [{ name: 'web.warren.internal', type: 'A' }] });
    const r = answerMessage(q, ZONE, { tcp: false });
    assert.equal(r.outcome, 'answered');
    assert.equal(dnsPacket.decode(r.reply!).answers!.length, 2);
  });

  it('never throws on random and mutated bytes, and every reply decodes', () => {
    const rnd = prng(0xd15);
    const base = dnsPacket.encode({ id: 7, type: 'query', flags: RD, questions: [{ name: 'web.warren.internal', type: 'A' }], additionals: edns(1232) });
    for (let i = 0; i < 5000; i++) {
      let msg: Buffer;
      if (i % 2 === 0) {
        msg = Buffer.from(base);
        const flips = 1 + Math.floor(rnd() * 4);
        for (let f = 0; f < flips; f++) msg[Math.floor(rnd() * msg.length)] = Math.floor(rnd() * 256);
        if (rnd() < 0.3) msg = msg.subarray(0, Math.floor(rnd() * msg.length));
      } else {
        msg = Buffer.from(Array.from({ length: Math.floor(rnd() * 80) }, () => Math.floor(rnd() * 256)));
      }
      const r = answerMessage(msg, ZONE, { tcp: rnd() < 0.5 });
      if (r.reply) {
        const d = dnsPacket.decode(r.reply);
        assert.ok(d.flag_qr, `reply ${i} is a response`);
        assert.ok(!d.flag_ra, `reply ${i} has RA clear`);
        assert.equal(d.id, msg.readUInt16BE(0));
      }
    }
  });
});

describe('answerQuery: <service>.<stack> names', () => {
  const stacked = zoneOf({ 'shop-web': ['100.64.0.1'], 'shop-db': [] });
  it('answers <service>.<stack> with the stack service <stack>-<service>', () => {
    const r = ask(query('Web.Shop.warren.internal', 'A'), {}, stacked);
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual(data(r.answers, 'A'), ['100.64.0.1']);
  });
  it('a stack service with no alive node is NOERROR without data; an unknown one NXDOMAIN; <node>.node stays a node', () => {
    assert.equal(ask(query('db.shop.warren.internal', 'A'), {}, stacked).answers!.length, 0);
    assert.equal(ask(query('db.shop.warren.internal', 'A'), {}, stacked).rcode, 'NOERROR');
    assert.equal(ask(query('cache.shop.warren.internal', 'A'), {}, stacked).rcode, 'NXDOMAIN');
    assert.deepEqual(data(ask(query('alpha.node.warren.internal', 'A'), {}, stacked).answers, 'A'), ['100.64.0.1']);
    assert.equal(ask(query('a.web.shop.warren.internal', 'A'), {}, stacked).rcode, 'NXDOMAIN');
  });
});
