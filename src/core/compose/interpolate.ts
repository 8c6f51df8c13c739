/**
 * Compose variable interpolation, as the compose specification defines it: `$VAR`, `${VAR}`,
 * `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?error}`, `${VAR?error}`,
 * `${VAR:+alt}`, `${VAR+alt}`, nesting inside the default/error/alt word, and `$$` for a literal
 * `$`. A `$` not followed by a name or `{` stays as it is. An unset variable without a default
 * becomes "" with a warning. Applied to every string value (never keys) of each file before the
 * files are merged.
 */
import { Diagnostics } from './diagnostics.ts';
import { itemPosition, keyPosition, type Position } from './located.ts';
import { Tagged } from './yaml-tree.ts';

export type Lookup = (name: string) => string | undefined;

/** Why interpolation failed: a required variable is missing, or the expression is malformed. */
export class InterpolationError extends Error {}

const NAME_START = /[_a-zA-Z]/;
const NAME_CHAR = /[_a-zA-Z0-9]/;
const OPERATORS = [':-', ':?', ':+', '-', '?', '+'] as const;

/** Interpolates one string. `unset` is told every variable read while unset and without a default. */
export function interpolateString(text: string, lookup: Lookup, unset: (name: string) => void = () => {}): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next !== undefined && NAME_START.test(next)) {
      let j = i + 1;
      while (j < text.length && NAME_CHAR.test(text[j]!)) j++;
      const name = text.slice(i + 1, j);
      const value = lookup(name);
      if (value === undefined) unset(name);
      out += value ?? '';
      i = j;
      continue;
    }
    if (next !== '{') {
      out += '$';
      i++;
      continue;
    }
    const end = matchingBrace(text, i + 2);
    if (end < 0) throw new InterpolationError(`invalid interpolation format in "${text}": "\${" is never closed with "}"`);
    out += expand(text.slice(i + 2, end), text, lookup, unset);
    i = end + 1;
  }
  return out;
}

/** The index of the "}" closing a "${" whose body starts at `from`, counting nested "${...}". */
function matchingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '$') i++;
    else if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function expand(body: string, whole: string, lookup: Lookup, unset: (name: string) => void): string {
  let j = 0;
  if (!NAME_START.test(body[0] ?? '')) throw new InterpolationError(`invalid interpolation format in "${whole}": "\${${body}}" does not start with a variable name`);
  while (j < body.length && NAME_CHAR.test(body[j]!)) j++;
  const name = body.slice(0, j);
  const value = lookup(name);
  if (j === body.length) {
    if (value === undefined) unset(name);
    return value ?? '';
  }
  const op = OPERATORS.find((o) => body.startsWith(o, j));
  if (!op) throw new InterpolationError(`invalid interpolation format in "${whole}": "\${${body}}" (supported: \${VAR}, \${VAR:-default}, \${VAR-default}, \${VAR:?error}, \${VAR?error}, \${VAR:+alt}, \${VAR+alt})`);
  const word = () => interpolateString(body.slice(j + op.length), lookup, unset);
  const set = value !== undefined;
  const nonEmpty = set && value !== '';
  switch (op) {
    case ':-':
      return nonEmpty ? value! : word();
    case '-':
      return set ? value! : word();
    case ':+':
      return nonEmpty ? word() : '';
    case '+':
      return set ? word() : '';
    case ':?':
    case '?': {
      if (op === ':?' ? nonEmpty : set) return value!;
      const message = word();
      throw new InterpolationError(`required variable ${name} is ${set ? 'empty' : 'missing'}${message ? `: ${message}` : ''}`);
    }
  }
  return '';
}

/**
 * Interpolates every string value of a file's tree in place. Problems go to `diag` with the
 * position of the value; each unset variable is warned about once per file.
 */
export function interpolateTree(tree: Record<string, unknown>, lookup: Lookup, diag: Diagnostics, file: string): void {
  const warned = new Set<string>();
  const one = (value: string, at: Position | undefined, path: string): string => {
    try {
      return interpolateString(value, lookup, (name) => {
        if (warned.has(name)) return;
        warned.add(name);
        diag.warn(at, path, `variable ${name} is not set; using "" (set it in the environment, in .env or with --env-file)`);
      });
    } catch (err) {
      diag.error(at ?? { file, line: 1 }, path, (err as Error).message);
      return value;
    }
  };
  const walk = (node: unknown, path: string): unknown => {
    if (typeof node === 'string') return node;
    if (node instanceof Tagged) {
      walkInto(node.value, path);
      return node;
    }
    walkInto(node, path);
    return node;
  };
  const walkInto = (node: unknown, path: string): void => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => {
        const p = `${path}[${i}]`;
        if (typeof v === 'string') node[i] = one(v, itemPosition(node, i), p);
        else walk(v, p);
      });
    } else if (typeof node === 'object' && node !== null) {
      const obj = node as Record<string, unknown>;
      for (const [k, v] of Object.entries(obj)) {
        const p = path ? `${path}.${k}` : k;
        if (typeof v === 'string') obj[k] = one(v, keyPosition(obj, k), p);
        else if (v instanceof Tagged && typeof v.value === 'string') obj[k] = new Tagged(v.tag, one(v.value, keyPosition(obj, k), p));
        else walk(v, p);
      }
    }
  };
  walkInto(tree, '');
}

/** Every variable name a text refers to (so the CLI sends the agent only those from its environment). */
export function referencedVariables(text: string): string[] {
  const names = new Set<string>();
  const re = /\$(\$|\{([_a-zA-Z][_a-zA-Z0-9]*)|([_a-zA-Z][_a-zA-Z0-9]*))/g;
  for (const m of text.matchAll(re)) {
    const name = m[2] ?? m[3];
    if (name) names.add(name);
  }
  return [...names].sort();
}
