/**
 * The DNS server on a stack network's gateway (see core/mesh/forward-plan.ts): answers the
 * stack's service names (compose name, container_name, aliases, hostname, Warren name) with this
 * node's address for that service, AAAA with no data; everything else is REFUSED, so Docker's
 * embedded DNS moves on to the host's resolvers. UDP only (Docker's embedded DNS asks over UDP
 * first and these answers are small).
 */
import dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import type { Packet } from 'dns-packet';

const TTL = 5;
const FLAG_AA = 1 << 10;
const FLAG_RD = 1 << 8;
const REFUSED = 5;

/** The answer to one query message, or undefined for what cannot be parsed or is not a query. */
export function answerMeshQuery(msg: Buffer, table: ReadonlyMap<string, string>): Buffer | undefined {
  let q: Packet;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    return undefined;
  }
  if (q.type !== 'query' || !q.questions || q.questions.length !== 1) return undefined;
  const question = q.questions[0]!;
  const name = question.name.toLowerCase().replace(/\.$/, '');
  const ip = table.get(name);
  const rd = (q.flags ?? 0) & FLAG_RD;
  if (ip === undefined || question.class !== 'IN') return dnsPacket.encode({ type: 'response', id: q.id, flags: rd | REFUSED, questions: q.questions });
  const answers = question.type === 'A' ? [{ type: 'A' as const, name: question.name, ttl: TTL, data: ip }] : [];
  return dnsPacket.encode({ type: 'response', id: q.id, flags: FLAG_AA | rd, questions: q.questions, answers });
}

/** One UDP server on `ip`:53 whose table can be replaced. */
export class MeshDns {
  table: ReadonlyMap<string, string> = new Map();
  private constructor(private readonly sock: dgram.Socket) {}

  static async start(ip: string, port = 53): Promise<MeshDns> {
    const sock = dgram.createSocket('udp4');
    const server = new MeshDns(sock);
    sock.on('message', (msg, r) => {
      const out = answerMeshQuery(msg, server.table);
      if (out) sock.send(out, r.port, r.address);
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: ip, port, exclusive: true }, () => {
        sock.off('error', reject);
        sock.on('error', () => undefined); // a send to a vanished client: nothing to do
        resolve();
      });
    });
    return server;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
