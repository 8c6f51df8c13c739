/**
 * The problems found in a compose project: errors (nothing is deployed) and warnings (a key is
 * ignored, or honoured with a caveat). Each is one line naming file:line when known.
 */
import { UserError } from '../errors.ts';
import { formatPosition, type Position } from './located.ts';

export interface Problem {
  at?: Position;
  /** where in the model, e.g. "services.web.ports[1]" */
  path?: string;
  message: string;
}

/** One line, whatever the message quotes (a value from the file may hold line breaks). */
export const formatProblem = (p: Problem): string =>
  [p.at ? formatPosition(p.at) + ':' : '', p.path ? `${p.path}:` : '', p.message].filter(Boolean).join(' ').replace(/\r?\n|\r/g, '\\n');

export class Diagnostics {
  readonly errors: Problem[] = [];
  readonly warnings: Problem[] = [];

  error(at: Position | undefined, path: string | undefined, message: string): void {
    this.errors.push({ at, path, message });
  }

  warn(at: Position | undefined, path: string | undefined, message: string): void {
    this.warnings.push({ at, path, message });
  }

  /** Throws every error collected so far, one line each, in one UserError. */
  throwIfErrors(): void {
    if (this.errors.length === 0) return;
    throw new UserError('invalid_stack', this.errors.map(formatProblem).join('\n'), 400);
  }
}

/** Levenshtein distance, for "did you mean" hints on typos. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** ' (did you mean "image"?)' when a known key is close to `key`, else ''. */
export function suggestion(key: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 3)) ? ` (did you mean "${best}"?)` : '';
}
