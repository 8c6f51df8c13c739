/** The pure parts of the stacks views (no DOM, no connection): unit-tested in test/unit/ui-stacks.test.ts. */
import type { Problem } from '../core/compose/diagnostics.ts';
import type { ServiceView } from '../core/service-types.ts';

export interface StackGroup {
  name: string;
  services: ServiceView[];
  running: number;
  desired: number;
}

/**
 * The stacks as the live snapshot shows them: services grouped by their spec's `stack` (what
 * GET /v1/stacks does on the agent, without a second poll).
 */
export function stacksOf(services: ServiceView[]): StackGroup[] {
  const by = new Map<string, StackGroup>();
  for (const s of services) {
    if (!s.spec.stack) continue;
    const g = by.get(s.spec.stack) ?? { name: s.spec.stack, services: [], running: 0, desired: 0 };
    g.services.push(s);
    g.running += s.running;
    g.desired += s.desired;
    by.set(g.name, g);
  }
  return [...by.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** "2 healthy, 1 unhealthy" over the replicas that run a healthcheck; '' when none does. */
export function healthSummary(services: ServiceView[]): string {
  const n: Record<string, number> = {};
  for (const r of services.flatMap((s) => s.replicas)) if (r.health) n[r.health] = (n[r.health] ?? 0) + 1;
  return Object.entries(n).map(([h, c]) => `${c} ${h}`).join(', ');
}

/** One problem of a compose check, with the pasted file and line it is about when known. */
export interface ProblemLine {
  file?: string;
  line?: number;
  text: string;
}

/**
 * The API's error message, one problem a line ("/compose.yaml:3: services.web.build: ..."), split
 * into lines that name one of `files` (the paths the page sent) and the rest.
 */
export function problemLines(message: string, files: readonly string[]): ProblemLine[] {
  return message.split('\n').filter(Boolean).map((l) => {
    const m = /^(\/[^:]*):(\d+): (.*)$/.exec(l);
    return m && files.includes(m[1]!) ? { file: m[1], line: Number(m[2]), text: m[3]! } : { text: l };
  });
}

export const warningLine = (w: Problem): ProblemLine => ({ file: w.at?.file, line: w.at?.line, text: [w.path, w.message].filter(Boolean).join(': ') });

/** Where line `line` (1-based) of `text` starts and ends, for a textarea's selection. */
export function lineRange(text: string, line: number): [number, number] {
  const lines = text.split('\n');
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  return [start, start + (lines[line - 1]?.length ?? 0)];
}
