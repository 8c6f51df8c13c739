import { formatBytes } from '../core/format-bytes.ts';
/** Small display helpers. */
export function bytes(n: number | undefined): string {
  return n === undefined ? '-' : formatBytes(n, ' ');
}

export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function time(t: number): string {
  return new Date(t).toLocaleTimeString();
}

export function portsText(ports: { container: number; protocol: string; hostPort?: number }[]): string {
  return ports.map((p) => `${p.hostPort ? `${p.hostPort}→` : ''}${p.container}${p.protocol === 'udp' ? '/udp' : ''}`).join(', ') || '-';
}
