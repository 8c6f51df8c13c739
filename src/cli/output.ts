/** Output for people: aligned tables, colour only on a TTY (and never with NO_COLOR). */

const useColour = (stream: NodeJS.WriteStream = process.stdout) => Boolean(stream.isTTY) && !process.env.NO_COLOR;

const paint = (code: string) => (text: string) => (useColour() ? `\x1b[${code}m${text}\x1b[0m` : text);
export const bold = paint('1');
export const dim = paint('2');
export const green = paint('32');
export const yellow = paint('33');
export const red = paint('31');

const ANSI = /\x1b\[[0-9;]*m/g;
const width = (s: string) => s.replace(ANSI, '').length;

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c)))).join('  ').trimEnd();
  return [line(headers.map((h) => bold(h.toUpperCase()))), ...rows.map(line)].join('\n');
}

export function renderFields(fields: [string, string][]): string {
  const w = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${bold(k.padEnd(w))}  ${v}`).join('\n');
}

export function colourState(state: string): string {
  if (state === 'alive' || state === 'ok' || state === 'running') return green(state);
  if (state === 'suspect' || state === 'restarting' || state === 'pending' || state === 'starting') return yellow(state);
  if (state === 'dead' || state === 'failed' || state === 'unhealthy') return red(state);
  return state;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export { formatBytes } from '../core/format-bytes.ts';
