/** Small display helpers. */
export function bytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
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
