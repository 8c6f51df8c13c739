/**
 * Small typed readers for compose values. Each returns the value, or reports one error (naming the
 * key and its line) to the Field's diagnostics and returns undefined, so normalising carries on
 * and every problem of a file is listed at once.
 */
import { Diagnostics } from './diagnostics.ts';
import { itemPosition, keyPosition, type Position } from './located.ts';
import { parseBytes, parseDuration } from './units.ts';

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const show = (v: unknown): string => {
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
};

/** One key of a mapping: its value, where it is, and how to report a problem with it. */
export class Field {
  constructor(
    readonly diag: Diagnostics,
    readonly parent: Obj,
    readonly key: string,
    readonly path: string,
  ) {}

  get value(): unknown {
    return this.parent[this.key];
  }

  get at(): Position | undefined {
    return keyPosition(this.parent, this.key);
  }

  error(message: string): undefined {
    this.diag.error(this.at, this.path, message);
    return undefined;
  }

  warn(message: string): void {
    this.diag.warn(this.at, this.path, message);
  }

  /** A child field of a mapping value. */
  child(key: string): Field {
    return new Field(this.diag, this.value as Obj, key, `${this.path}.${key}`);
  }

  itemAt(i: number): Position | undefined {
    return itemPosition(this.value, i);
  }

  string(): string | undefined {
    const v = this.value;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return this.error(`must be a string, got ${show(v)}`);
  }

  bool(): boolean | undefined {
    const v = this.value;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    return this.error(`must be true or false, got ${show(v)}`);
  }

  int(min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.value;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) return this.error(`must be a whole number from ${min} to ${max}, got ${show(v)}`);
    return n;
  }

  number(min = 0): number | undefined {
    const v = this.value;
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (!Number.isFinite(n) || n < min) return this.error(`must be a number of at least ${min}, got ${show(v)}`);
    return n;
  }

  durationMs(): number | undefined {
    const ms = parseDuration(this.value);
    return ms === undefined ? this.error(`must be a duration such as 30s, 1m30s or 500ms, got ${show(this.value)}`) : ms;
  }

  bytes(): number | undefined {
    const b = parseBytes(this.value);
    return b === undefined ? this.error(`must be a size such as 64m, 1g or a number of bytes, got ${show(this.value)}`) : b;
  }

  /** A list of strings (numbers become strings); a single string when `allowOne`. */
  strings(allowOne = false): string[] | undefined {
    const v = this.value;
    if (allowOne && (typeof v === 'string' || typeof v === 'number')) return [String(v)];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' && typeof x !== 'number')) {
      return this.error(`must be a list of strings${allowOne ? ' (or one string)' : ''}, got ${show(v)}`);
    }
    return v.map(String);
  }

  /** A mapping of scalar values, as strings (null stays null: "take it from the environment"). */
  stringMap(): Record<string, string | null> | undefined {
    const v = this.value;
    if (!isObj(v)) return this.error(`must be a mapping (KEY: VALUE) or a list of "KEY=VALUE", got ${show(v)}`);
    const out: Record<string, string | null> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === null) out[k] = null;
      else if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
      else this.child(k).error(`must be a string, number or boolean, got ${show(x)}`);
    }
    return out;
  }
}

/**
 * A command as compose reads a string form: split like a POSIX shell does words (quotes and
 * backslashes), without running a shell. Undefined when a quote is never closed.
 */
export function shellSplit(text: string): string[] | undefined {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return undefined;
      cur += text.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && '"\\$`'.includes(text[j + 1] ?? '')) j++;
        cur += text[j];
      }
      if (j >= text.length) return undefined;
      i = j;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 < text.length) cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}
