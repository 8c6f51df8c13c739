/**
 * Warren's DNS zone, pure: a decoded question in, the answer packet out (no sockets, no clock
 * other than the SOA serial). The server (dns-server.ts) only frames bytes around it.
 *
 * Names of the zone (say the domain is warren.internal):
 * - `warren.internal`                 apex: SOA and NS (one NS per alive node, ns-<node>.warren.internal)
 * - `<service>.warren.internal`       A/AAAA of every alive node (every node proxies every service)
 * - `<svc>.<stack>.warren.internal`   the same for the stack service's Warren service `<stack>-<svc>`
 * - `<node>.node.warren.internal`     that node's address
 * - `ns-<node>.warren.internal`       the address of an alive node, the target of its NS record
 * - `node.warren.internal`            exists (names below it do) but has no records
 *
 * Authoritative only: AA set, RA never set, no recursion; names outside the zone are REFUSED.
 */
import * as dnsPacket from 'dns-packet';
import type { Answer, OptAnswer, Packet, Question } from 'dns-packet';
import { isIP } from 'node:net';
import { serviceOfRelativeName } from '../core/mesh/stack-host.ts';

export interface ZoneSource {
  /** e.g. 'warren.internal' (lowercase, no trailing dot) */
  domain: string;
  /**
   * The addresses answering for a service (called with the label lowercased): undefined = no such
   * service (NXDOMAIN); [] = it exists but no node is alive (NOERROR, no data).
   */
  serviceAddrs(service: string): string[] | undefined;
  /** `<node>.node.<domain>` (called with the label lowercased) */
  nodeAddr(nodeName: string): string | undefined;
  /** alive nodes: NS records ns-<name>.<domain> and their glue A/AAAA */
  nameservers(): { name: string; addr: string }[];
}

export interface AnswerOptions {
  /**
   * The largest UDP answer sent even when the client's EDNS0 OPT offers more (default 1232, the
   * DNS Flag Day 2020 size that avoids IP fragmentation). Without OPT the limit is 512.
   */
  maxUdpSize?: number;
  /** over TCP: no 512-byte limit (only the 65535 of the length prefix) */
  tcp: boolean;
}

/** Every record Warren hands out lives this long (seconds), negative answers included. */
export const DNS_TTL = 5;
export const DEFAULT_MAX_UDP_SIZE = 1232;
const CLASSIC_UDP_SIZE = 512;
const MAX_TCP_SIZE = 65535;

// header bits (the 16-bit flags word; dns-packet adds QR from `type`)
const FLAG_AA = 1 << 10;
const FLAG_TC = 1 << 9;
const FLAG_RD = 1 << 8;
const FLAG_CD = 1 << 4;
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const BADVERS = 16; // extended RCODE: upper 8 bits in the OPT record, lower 4 in the header

/** ASCII-only lowercase: DNS names compare case-insensitively for A-Z only (RFC 4343). */
function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** The name without a trailing dot, lowercased; '' for the root. */
function normalize(name: string): string {
  return lowerAscii(name === '.' ? '' : name.replace(/\.$/, ''));
}

/**
 * A name dns-packet will encode back exactly as it arrived: every label 1-63 bytes, no
 * replacement characters (bytes that were not UTF-8), at most 255 bytes on the wire.
 */
function echoable(name: string): boolean {
  if (name === '.' || name === '') return true;
  const labels = name.replace(/\.$/, '').split('.');
  let wire = 1;
  for (const label of labels) {
    const len = Buffer.byteLength(label);
    if (len === 0 || len > 63 || label.includes('\uFFFD')) return false;
    wire += len + 1;
  }
  return wire <= 255;
}

function soaOf(zone: ZoneSource, domain: string): Answer {
  const ns = usableNameservers(zone);
  return {
    type: 'SOA',
    name: domain,
    ttl: DNS_TTL,
    class: 'IN',
    data: {
      mname: ns.length ? `ns-${ns[0]!.label}.${domain}` : domain,
      rname: `hostmaster.${domain}`,
      // any increasing number will do: nothing transfers this zone, it is made per query
      serial: Math.floor(Date.now() / 1000) >>> 0,
      refresh: 60,
      retry: 10,
      expire: 3600,
      minimum: DNS_TTL,
    },
  };
}

/** Alive nodes whose name makes a DNS label and whose address is an IP. */
function usableNameservers(zone: ZoneSource): { label: string; addr: string }[] {
  const out: { label: string; addr: string }[] = [];
  const seen = new Set<string>();
  for (const ns of zone.nameservers()) {
    const label = lowerAscii(ns.name);
    if (!/^[a-z0-9_]([a-z0-9_-]{0,58})$/.test(label) || !isIP(ns.addr) || seen.has(label)) continue;
    seen.add(label);
    out.push({ label, addr: ns.addr });
  }
  return out;
}

function addressRecords(owner: string, addrs: readonly string[], type: 'A' | 'AAAA' | 'ANY'): Answer[] {
  const out: Answer[] = [];
  for (const addr of addrs) {
    const family = isIP(addr);
    if (family === 4 && (type === 'A' || type === 'ANY')) out.push({ type: 'A', name: owner, ttl: DNS_TTL, class: 'IN', data: addr });
    if (family === 6 && (type === 'AAAA' || type === 'ANY')) out.push({ type: 'AAAA', name: owner, ttl: DNS_TTL, class: 'IN', data: addr });
  }
  return out;
}

/** Rotates the list by the query id: clients take the first address, so spread them (pure: same query, same order). */
function rotate<T>(list: readonly T[], by: number): T[] {
  if (list.length < 2) return [...list];
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** What a name inside the zone holds. */
type Lookup =
  | { kind: 'apex' }
  | { kind: 'addrs'; addrs: string[] } // a service, a node, or a nameserver
  | { kind: 'empty' } // exists, no records (node.<domain>, or a service with no alive node)
  | { kind: 'nxdomain' };

function lookup(rel: string, zone: ZoneSource): Lookup {
  if (rel === '') return { kind: 'apex' };
  const labels = rel.split('.');
  if (labels.length === 1) {
    const label = labels[0]!;
    if (label.startsWith('ns-')) {
      const ns = usableNameservers(zone).find((n) => `ns-${n.label}` === label);
      if (ns) return { kind: 'addrs', addrs: [ns.addr] };
    }
    const addrs = zone.serviceAddrs(label);
    if (addrs !== undefined) return addrs.length ? { kind: 'addrs', addrs: [...new Set(addrs)] } : { kind: 'empty' };
    if (label === 'node') return { kind: 'empty' };
    return { kind: 'nxdomain' };
  }
  if (labels.length === 2 && labels[1] === 'node') {
    const addr = zone.nodeAddr(labels[0]!);
    return addr !== undefined && isIP(addr) ? { kind: 'addrs', addrs: [addr] } : { kind: 'nxdomain' };
  }
  // `<service>.<stack>`: the stack service's Warren service
  const service = labels.length === 2 ? serviceOfRelativeName(rel) : null;
  const addrs = service === null ? undefined : zone.serviceAddrs(service);
  if (addrs !== undefined) return addrs.length ? { kind: 'addrs', addrs: [...new Set(addrs)] } : { kind: 'empty' };
  return { kind: 'nxdomain' };
}

/** The OPT records of a query's additional section. */
function optsOf(query: Packet): OptAnswer[] {
  return (query.additionals ?? []).filter((a): a is OptAnswer => a.type === 'OPT');
}

/**
 * Answers one query; undefined = drop it (it is a response, not a query).
 * `query` is what dns-packet's decode returns (or any Packet with `flags` carrying the opcode).
 */
export function answerQuery(query: Packet, zone: ZoneSource, opts: AnswerOptions): Packet | undefined {
  if (query.type === 'response') return undefined;
  const qflags = query.flags ?? 0;
  const opcode = (qflags >> 11) & 0xf;
  const questions = query.questions ?? [];
  const domain = normalize(zone.domain);
  const opts0 = optsOf(query);
  const clientOpt = opts0[0];
  const maxUdp = Math.max(CLASSIC_UDP_SIZE, opts.maxUdpSize ?? DEFAULT_MAX_UDP_SIZE);

  const response = (rcode: number, o: { aa?: boolean; questions?: Question[]; answers?: Answer[]; authorities?: Answer[]; additionals?: Answer[]; extendedRcode?: number } = {}): Packet => {
    const additionals = [...(o.additionals ?? [])];
    // RFC 6891: answer EDNS with EDNS (our own size, no options, DO not echoed: no DNSSEC here)
    if (clientOpt) additionals.push({ type: 'OPT', name: '.', udpPayloadSize: maxUdp, extendedRcode: o.extendedRcode ?? 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] });
    return {
      id: query.id ?? 0,
      type: 'response',
      flags: (opcode << 11) | (o.aa ? FLAG_AA : 0) | (qflags & (FLAG_RD | FLAG_CD)) | (rcode & 0xf),
      questions: o.questions ?? [],
      answers: o.answers ?? [],
      authorities: o.authorities ?? [],
      additionals,
    };
  };

  const q = questions[0];
  const echo = questions.length === 1 && q !== undefined && typeof q.name === 'string' && echoable(q.name) ? [q] : [];
  if (opcode !== 0) return response(RCODE.NOTIMP, { questions: echo });
  if (questions.length !== 1 || echo.length === 0 || opts0.length > 1 || (clientOpt && clientOpt.name !== '.')) {
    return response(RCODE.FORMERR, { questions: echo });
  }
  if (clientOpt && (clientOpt.ednsVersion ?? 0) > 0) {
    return fit(response(BADVERS & 0xf, { questions: echo, extendedRcode: BADVERS >> 4 }), opts, clientOpt, maxUdp);
  }

  const qname = normalize(q!.name);
  const qclass = q!.class ?? 'IN';
  const qtype = String(q!.type).toUpperCase();
  const inZone = qname === domain || qname.endsWith(`.${domain}`);
  if (!inZone || (qclass !== 'IN' && qclass !== 'ANY')) return response(RCODE.REFUSED, { questions: echo });
  // zone transfers are not offered (there is nothing to transfer: the zone is made per query)
  if (qtype === 'AXFR' || qtype === 'IXFR') return response(RCODE.REFUSED, { questions: echo });

  const owner = q!.name.replace(/\.$/, ''); // answer with the name as asked (0x20-randomized case included)
  const rel = qname === domain ? '' : qname.slice(0, -(domain.length + 1));
  const found = lookup(rel, zone);
  const soa = soaOf(zone, domain);
  const noData = (): Packet => response(RCODE.NOERROR, { aa: true, questions: echo, authorities: [{ ...soa }] });

  if (found.kind === 'nxdomain') return fit(response(RCODE.NXDOMAIN, { aa: true, questions: echo, authorities: [soa] }), opts, clientOpt, maxUdp);

  if (found.kind === 'apex') {
    const ns = usableNameservers(zone);
    const nsRecords: Answer[] = ns.map((n) => ({ type: 'NS', name: owner, ttl: DNS_TTL, class: 'IN', data: `ns-${n.label}.${domain}` }));
    const glue = ns.flatMap((n) => addressRecords(`ns-${n.label}.${domain}`, [n.addr], 'ANY'));
    const soaAnswer: Answer = { ...soa, name: owner };
    if (qtype === 'SOA') return fit(response(RCODE.NOERROR, { aa: true, questions: echo, answers: [soaAnswer] }), opts, clientOpt, maxUdp);
    if (qtype === 'NS' && nsRecords.length) return fit(response(RCODE.NOERROR, { aa: true, questions: echo, answers: nsRecords, additionals: glue }), opts, clientOpt, maxUdp);
    if (qtype === 'ANY') return fit(response(RCODE.NOERROR, { aa: true, questions: echo, answers: [soaAnswer, ...nsRecords], additionals: glue }), opts, clientOpt, maxUdp);
    return fit(noData(), opts, clientOpt, maxUdp);
  }

  if (found.kind === 'empty') return fit(noData(), opts, clientOpt, maxUdp);

  if (qtype === 'A' || qtype === 'AAAA' || qtype === 'ANY') {
    const answers = addressRecords(owner, rotate(found.addrs, query.id ?? 0), qtype);
    if (answers.length) return fit(response(RCODE.NOERROR, { aa: true, questions: echo, answers }), opts, clientOpt, maxUdp);
  }
  // the other address family, or a type Warren does not serve: the name exists, no data
  return fit(noData(), opts, clientOpt, maxUdp);
}

/**
 * Keeps an answer within what the transport allows: first without the optional additional
 * records (glue), then truncated (TC, no records but the OPT) so the client retries over TCP.
 */
function fit(packet: Packet, opts: AnswerOptions, clientOpt: OptAnswer | undefined, maxUdp: number): Packet {
  const limit = opts.tcp ? MAX_TCP_SIZE : clientOpt ? Math.min(Math.max(clientOpt.udpPayloadSize || 0, CLASSIC_UDP_SIZE), maxUdp) : CLASSIC_UDP_SIZE;
  if (dnsPacket.encodingLength(packet) <= limit) return packet;
  const optOnly = (packet.additionals ?? []).filter((a) => a.type === 'OPT');
  const withoutGlue: Packet = { ...packet, additionals: optOnly };
  if (dnsPacket.encodingLength(withoutGlue) <= limit) return withoutGlue;
  return { ...packet, flags: (packet.flags ?? 0) | FLAG_TC, answers: [], authorities: [], additionals: optOnly };
}

/** A header-only answer (no sections) to bytes that did not decode; undefined = drop. */
function headerOnly(msg: Buffer, rcode: number): Buffer | undefined {
  if (msg.length < 12) return undefined; // not even a header: nobody to answer
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response: never answer those (no loops)
  const opcode = (flags >> 11) & 0xf;
  const out = Buffer.alloc(12);
  out.writeUInt16BE(msg.readUInt16BE(0), 0);
  out.writeUInt16BE(0x8000 | (opcode << 11) | (flags & (FLAG_RD | FLAG_CD)) | ((opcode === 0 ? rcode : RCODE.NOTIMP) & 0xf), 2);
  return out;
}

/**
 * Whether the header's section counts could fit in the message: a question takes at least 5 bytes
 * (the root name, type, class), a record at least 11 (name, type, class, TTL, rdata length).
 * dns-packet allocates an array of each count before reading a record, so 12 bytes of noise
 * claiming 4 x 65,535 entries cost it ~3 ms of CPU; decoding them would fail anyway.
 */
function countsFit(msg: Buffer): boolean {
  if (msg.length < 12) return true; // the decoder's own error (no header) applies
  const least = 5 * msg.readUInt16BE(4) + 11 * (msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10));
  return 12 + least <= msg.length;
}

export interface MessageResult {
  /** the bytes to send back, or undefined to drop */
  reply?: Buffer;
  /** answered by the zone; malformed: a header-only FORMERR (or SERVFAIL); dropped: no reply */
  outcome: 'answered' | 'malformed' | 'dropped';
}

/**
 * Bytes in, bytes out: decodes a DNS message, answers it, encodes the answer. Malformed input
 * never throws: FORMERR when the header is readable, dropped otherwise (and responses are
 * always dropped).
 */
export function answerMessage(msg: Buffer, zone: ZoneSource, opts: AnswerOptions): MessageResult {
  let query: Packet;
  try {
    if (!countsFit(msg)) throw new RangeError('section counts exceed the message');
    query = dnsPacket.decode(msg);
  } catch {
    const reply = headerOnly(msg, RCODE.FORMERR);
    return reply ? { reply, outcome: 'malformed' } : { outcome: 'dropped' };
  }
  let answer: Packet | undefined;
  try {
    answer = answerQuery(query, zone, opts);
  } catch {
    const reply = headerOnly(msg, RCODE.SERVFAIL);
    return reply ? { reply, outcome: 'malformed' } : { outcome: 'dropped' };
  }
  if (!answer) return { outcome: 'dropped' };
  try {
    const reply = dnsPacket.encode(answer);
    return { reply, outcome: 'answered' };
  } catch {
    const reply = headerOnly(msg, RCODE.SERVFAIL);
    return reply ? { reply, outcome: 'malformed' } : { outcome: 'dropped' };
  }
}
