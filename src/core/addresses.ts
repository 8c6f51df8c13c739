import { isIP } from 'node:net';
import { UserError } from './errors.ts';

/** An address as it goes into a URL: IPv6 in brackets. */
export function urlHost(addr: string): string {
  return isIP(addr) === 6 ? `[${addr}]` : addr;
}

export function httpUrl(addr: string, port: number): string {
  return `http://${urlHost(addr)}:${port}`;
}

export interface HostPort {
  host: string;
  port: number;
}

/** Parses `HOST[:PORT]` (IPv6 as `[::1]:7370`); the port defaults to `defaultPort`. */
export function parseHostPort(text: string, defaultPort: number): HostPort {
  const s = text.trim();
  if (s === '') throw new UserError('bad_address', 'empty address');
  let host = s;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if ((s.match(/:/g) ?? []).length === 1) {
    [host, portText] = s.split(':') as [string, string];
  }
  if (host === '' || /[\s/]/.test(host)) throw new UserError('bad_address', `bad address "${text}": expected HOST[:PORT]`);
  const port = portText === undefined ? defaultPort : parsePort(portText, `port in "${text}"`);
  return { host, port };
}

export function parsePort(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new UserError('bad_port', `${what} must be a number from 1 to 65535, got "${text}"`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new UserError('bad_port', `${what} must be from 1 to 65535, got ${port}`);
  return port;
}
