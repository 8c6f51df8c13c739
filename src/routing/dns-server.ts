/**
 * The DNS server: UDP and TCP on one port, bytes framed around the pure zone (dns-zone.ts).
 * UDP: one datagram, one answer (truncated with TC when too big, so the client retries on TCP).
 * TCP: 2-byte length framing, several queries per connection (answered in order), partial reads,
 * closed after IDLE_MS without a query. Nothing a client sends can crash it: garbage is answered
 * FORMERR when its header is readable, dropped (and counted) otherwise.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Logger } from '../system/logger.ts';
import { onFirstFreePort } from '../system/ports.ts';
import { answerMessage, type ZoneSource } from './dns-zone.ts';

export interface DnsServer {
  port: number;
  close(): Promise<void>;
  stats(): { queries: number; dropped: number };
}

/** A TCP connection with no complete query for this long is closed. */
export const TCP_IDLE_MS = 10_000;
/** At most this many TCP connections at once (a DNS client needs one). */
const MAX_TCP_CONNECTIONS = 256;
/** A client that does not read its answers stops being read from beyond this many bytes queued. */
const MAX_TCP_BACKLOG = 256 * 1024;

interface BindError extends Error {
  code?: string;
}

function listenUdp(bind: string, port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: isIP(bind) === 6 ? 'udp6' : 'udp4' });
    const onError = (err: Error) => {
      sock.close();
      reject(err);
    };
    sock.once('error', onError);
    sock.bind({ address: bind, port, exclusive: true }, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

function listenTcp(server: Server, bind: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host: bind, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeUdp(sock: UdpSocket): Promise<void> {
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

function closeTcp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/**
 * Serves the zone on `bind`:`port`, UDP and TCP. Port 0 picks a free port (the same for both).
 * Rejects with the bind error (EACCES, EADDRINUSE, ...) when the port cannot be had.
 */
export async function startDns(o: { bind: string; port: number; zone: ZoneSource; logger: Logger; /** default TCP_IDLE_MS (tests) */ tcpIdleMs?: number }): Promise<DnsServer> {
  const log = o.logger;
  let queries = 0;
  let dropped = 0;
  const conns = new Set<Socket>();

  const handleUdp = (sock: UdpSocket) => (msg: Buffer, rinfo: { address: string; port: number }) => {
    queries++;
    let result;
    try {
      result = answerMessage(msg, o.zone, { tcp: false });
    } catch {
      result = { outcome: 'dropped' as const }; // answerMessage does not throw; belt and braces
    }
    if (!result.reply) {
      dropped++;
      return;
    }
    sock.send(result.reply, rinfo.port, rinfo.address, (err) => {
      if (err) log.debug({ err: err.message, to: rinfo.address }, 'dns: udp send failed');
    });
  };

  const handleTcp = (conn: Socket) => {
    conns.add(conn);
    let buf: Buffer = Buffer.alloc(0);
    conn.setNoDelay(true);
    conn.setTimeout(o.tcpIdleMs ?? TCP_IDLE_MS, () => conn.destroy()); // no traffic either way for this long
    conn.on('error', () => undefined); // ECONNRESET and friends: the close below cleans up
    conn.on('close', () => conns.delete(conn));
    conn.on('drain', () => conn.resume());
    conn.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        queries++;
        let result;
        try {
          result = answerMessage(msg, o.zone, { tcp: true });
        } catch {
          result = { outcome: 'dropped' as const };
        }
        if (!result.reply) {
          dropped++;
          continue;
        }
        const frame = Buffer.allocUnsafe(2 + result.reply.length);
        frame.writeUInt16BE(result.reply.length, 0);
        result.reply.copy(frame, 2);
        if (conn.destroyed) return;
        conn.write(frame);
        if (conn.writableLength > MAX_TCP_BACKLOG) conn.pause(); // resumed on 'drain'
      }
    });
  };

  // UDP first (it may pick the port), then TCP on the same port; with port 0 the TCP side can
  // find that port taken, so try a few ephemeral ports
  let udp: UdpSocket | undefined;
  let tcp: Server | undefined;
  for (let attempt = 0; ; attempt++) {
    udp = await listenUdp(o.bind, o.port);
    const port = udp.address().port;
    tcp = createServer({ pauseOnConnect: false }, handleTcp);
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    try {
      await listenTcp(tcp, o.bind, port);
      break;
    } catch (err) {
      await closeUdp(udp);
      if (o.port !== 0 || (err as BindError).code !== 'EADDRINUSE' || attempt >= 10) throw err;
    }
  }
  const udpSock = udp;
  const tcpServer = tcp;
  const port = udpSock.address().port;
  udpSock.on('message', handleUdp(udpSock));
  udpSock.on('error', (err) => log.warn({ err: err.message }, 'dns: udp socket error'));
  tcpServer.on('error', (err) => log.warn({ err: err.message }, 'dns: tcp server error'));
  log.info({ bind: o.bind, port, domain: o.zone.domain }, 'dns listening (udp+tcp)');

  let closing: Promise<void> | undefined;
  return {
    port,
    stats: () => ({ queries, dropped }),
    close() {
      closing ??= (async () => {
        for (const c of conns) c.destroy();
        await Promise.all([closeUdp(udpSock), closeTcp(tcpServer)]);
      })();
      return closing;
    },
  };
}

/**
 * `preferred` (53) when it can be bound, else `fallback` (7353) when 53 is privileged (EACCES)
 * or taken (EADDRINUSE, e.g. by systemd-resolved on 127.0.0.53 with a wildcard bind). UDP and TCP
 * always end up on the same port. Any other error, or the fallback failing too, rejects.
 */
export async function startDnsOnFirstFreePort(o: { bind: string; preferred: number; fallback: number; zone: ZoneSource; logger: Logger }): Promise<DnsServer> {
  return onFirstFreePort(o.preferred, o.fallback, (port) => startDns({ bind: o.bind, port, zone: o.zone, logger: o.logger }), (code) =>
    o.logger.warn(
      { bind: o.bind, port: o.preferred, code, fallback: o.fallback },
      `dns: cannot use port ${o.preferred} (${code}); serving DNS on port ${o.fallback} instead`,
    ));
}
