/**
 * `ports:` entries, short syntax ("8080:80", "127.0.0.1:53:53/udp", "9090-9091:8080-8081",
 * "[::1]:6001:6001", 3000) and long syntax ({ target, published, host_ip, protocol, mode }).
 * Ranges become one StackPort per port; a range of host ports for one container port
 * ("8000-8010:80") stays a range (Docker picks a free one). Errors are thrown as PortError.
 */
import type { StackPort } from './model.ts';

export class PortError extends Error {}

/** Which item of the service's ports: list each StackPort came from (for error lines). */
export const portItems = new WeakMap<StackPort, number>();

const MAX_RANGE = 1024;

function port(text: string, what: string, whole: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new PortError(`"${whole}": ${what} "${text}" is not a port from 1 to 65535`);
  return Number(text);
}

function range(text: string, what: string, whole: string): [number, number] {
  const dash = text.indexOf('-');
  if (dash < 0) {
    const p = port(text, what, whole);
    return [p, p];
  }
  const from = port(text.slice(0, dash), what, whole);
  const to = port(text.slice(dash + 1), what, whole);
  if (to < from) throw new PortError(`"${whole}": the ${what} range ${text} ends before it starts`);
  if (to - from >= MAX_RANGE) throw new PortError(`"${whole}": the ${what} range ${text} is longer than ${MAX_RANGE} ports`);
  return [from, to];
}

function protocolOf(text: string, whole: string): 'tcp' | 'udp' {
  const p = text.toLowerCase();
  if (p === 'tcp' || p === 'udp') return p;
  throw new PortError(`"${whole}": protocol "${text}" is not supported (tcp or udp${p === 'sctp' ? '; SCTP is not' : ''})`);
}

function checkIp(ip: string, whole: string): string {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4 && v4.slice(1).every((o) => Number(o) <= 255)) return ip;
  if (/^[0-9a-fA-F:]+$/.test(ip) && ip.includes(':')) return ip.toLowerCase();
  throw new PortError(`"${whole}": "${ip}" is not an IP address`);
}

function expand(target: [number, number], published: [number, number] | undefined, protocol: 'tcp' | 'udp', hostIp: string | undefined, whole: string): StackPort[] {
  const out: StackPort[] = [];
  const base = (t: number): StackPort => ({ target: t, protocol, ...(hostIp ? { hostIp } : {}) });
  const tLen = target[1] - target[0];
  if (!published) {
    for (let t = target[0]; t <= target[1]; t++) out.push(base(t));
    return out;
  }
  const pLen = published[1] - published[0];
  if (tLen === 0 && pLen > 0) return [{ ...base(target[0]), publishedRange: published }];
  if (tLen !== pLen) throw new PortError(`"${whole}": the host range and the container range have different lengths`);
  for (let i = 0; i <= tLen; i++) out.push({ ...base(target[0] + i), published: published[0] + i });
  return out;
}

/** One short-syntax entry. */
export function parseShortPort(value: string | number): StackPort[] {
  const whole = String(value);
  let text = whole.trim();
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = text.lastIndexOf('/');
  if (slash >= 0) {
    protocol = protocolOf(text.slice(slash + 1), whole);
    text = text.slice(0, slash);
  }
  let hostIp: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') throw new PortError(`"${whole}": an IPv6 host address is written [ADDR]:HOST:CONTAINER`);
    hostIp = checkIp(text.slice(1, close), whole);
    text = text.slice(close + 2);
  }
  const parts = text.split(':');
  if (!hostIp && parts.length > 3) {
    // an unbracketed IPv6 address: everything before the last two parts
    hostIp = checkIp(parts.slice(0, -2).join(':'), whole);
    parts.splice(0, parts.length - 2);
  } else if (!hostIp && parts.length === 3) {
    hostIp = checkIp(parts.shift()!, whole);
  }
  if (parts.length > 2) throw new PortError(`"${whole}" is not a port mapping (expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL])`);
  const target = range(parts[parts.length - 1]!, 'container port', whole);
  const published = parts.length === 2 && parts[0] !== '' ? range(parts[0]!, 'host port', whole) : undefined;
  return expand(target, published, protocol, hostIp === '0.0.0.0' ? undefined : hostIp, whole);
}

/** One long-syntax entry (keys already checked against the schema). */
export function parseLongPort(value: Record<string, unknown>): StackPort[] {
  const whole = JSON.stringify(value);
  if (value.target === undefined) throw new PortError(`${whole}: target (the container port) is required`);
  const target = range(String(value.target), 'target', whole);
  if (target[0] !== target[1]) throw new PortError(`${whole}: target must be one port`);
  const protocol = value.protocol === undefined ? 'tcp' : protocolOf(String(value.protocol), whole);
  const hostIp = value.host_ip === undefined || value.host_ip === '' || value.host_ip === '0.0.0.0' ? undefined : checkIp(String(value.host_ip), whole);
  const published = value.published === undefined || value.published === '' ? undefined : range(String(value.published), 'published', whole);
  return expand(target, published, protocol, hostIp, whole);
}

export const formatStackPort = (p: StackPort): string => {
  const host = p.published !== undefined ? String(p.published) : p.publishedRange ? `${p.publishedRange[0]}-${p.publishedRange[1]}` : '';
  const ip = p.hostIp ? (p.hostIp.includes(':') ? `[${p.hostIp}]:` : `${p.hostIp}:`) : '';
  return `${ip}${host ? host + ':' : ''}${p.target}/${p.protocol}`;
};
