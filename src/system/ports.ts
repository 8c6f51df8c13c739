import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { UserError } from '../core/errors.ts';

export interface PortCheck {
  port: number;
  flag: string;
  what: string;
  udp?: boolean;
}

function tryTcp(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}

function tryUdp(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    sock.bind({ address: host, port, exclusive: true }, () => sock.close(() => resolve(undefined)));
  });
}

/** Fails with one clear line naming the port and its flag when any port cannot be bound. */
export async function assertPortsFree(host: string, checks: PortCheck[]): Promise<void> {
  for (const c of checks) {
    const err = c.udp ? await tryUdp(host, c.port) : await tryTcp(host, c.port);
    if (!err) continue;
    if (err.code === 'EADDRINUSE') {
      throw new UserError('port_in_use', `port ${c.port} (${c.what}) on ${host} is already in use: stop what uses it or choose another with ${c.flag}`);
    }
    if (err.code === 'EADDRNOTAVAIL') {
      throw new UserError('bad_bind', `cannot bind ${host}: no network interface has that address (check --bind)`);
    }
    if (err.code === 'EACCES') {
      throw new UserError('port_denied', `not allowed to bind port ${c.port} (${c.what}) on ${host}: choose another with ${c.flag}`);
    }
    throw new UserError('port_error', `cannot bind port ${c.port} (${c.what}) on ${host}: ${err.message}`);
  }
}

/**
 * Starts a listener on `preferred` (80, 443, 53); when that port cannot be bound (EACCES: no
 * privilege, EPERM, EADDRINUSE: taken), on `fallback` (7380, 7443, 7353), after `onFallback`.
 * Any other error, or the fallback failing too, rejects.
 */
export async function onFirstFreePort<T>(preferred: number, fallback: number, start: (port: number) => Promise<T>, onFallback: (code: string) => void): Promise<T> {
  try {
    return await start(preferred);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EADDRINUSE' && code !== 'EPERM') throw err;
    onFallback(code);
    return start(fallback);
  }
}
