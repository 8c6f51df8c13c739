import { readFile, writeFile } from 'node:fs/promises';

export interface Metric {
  value: number;
  unit: string;
  goal?: string;
  [extra: string]: unknown;
}

export const RESULTS_FILE = new URL('./results.json', import.meta.url).pathname;

/** Merges a group's figures into bench/results.json (other groups' figures are kept). */
export async function recordMetrics(metrics: Record<string, Metric>): Promise<void> {
  let all: Record<string, Metric> = {};
  try {
    all = JSON.parse(await readFile(RESULTS_FILE, 'utf8'));
  } catch {
    // first run
  }
  await writeFile(RESULTS_FILE, JSON.stringify({ ...all, ...metrics }, null, 2) + '\n');
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export function printTable(group: string, metrics: Record<string, Metric>): void {
  console.log(`\n${group}`);
  for (const [name, m] of Object.entries(metrics)) {
    console.log(`  ${name.padEnd(34)} ${String(Math.round(m.value * 10) / 10).padStart(10)} ${m.unit.padEnd(6)} ${m.goal ? `goal ${m.goal}` : ''}`);
  }
}
