/**
 * The `.env` / `--env-file` / `env_file:` format as compose reads it: `KEY=VALUE` lines, blank
 * lines and `#` comments ignored, an optional `export ` prefix; single-quoted values are literal,
 * double-quoted ones understand \n \t \\ \" and may span lines; unquoted values end at " #" and
 * are trimmed. Values (unquoted and double-quoted) interpolate ${VAR} from the lines above and
 * then `lookup`. A bare `KEY` takes its value from `lookup` (skipped when unset).
 */
import { interpolateString, type Lookup } from './interpolate.ts';

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export class DotenvError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

export function parseDotenv(text: string, lookup: Lookup = () => undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const env: Lookup = (name) => (Object.hasOwn(out, name) ? out[name] : lookup(name));
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const body = line.startsWith('export ') ? line.slice(7).trimStart() : line;
    const eq = body.indexOf('=');
    const key = (eq < 0 ? body : body.slice(0, eq)).trim();
    if (!KEY_RE.test(key)) throw new DotenvError(n + 1, `"${key}" is not a variable name (letters, digits, "_", "." and "-", not starting with a digit)`);
    if (eq < 0) {
      const v = lookup(key);
      if (v !== undefined) out[key] = v;
      continue;
    }
    let rest = body.slice(eq + 1).trimStart();
    const quote = rest[0];
    if (quote === "'" || quote === '"') {
      // the value may go on over several lines until the closing quote
      let value = rest.slice(1);
      const startLine = n;
      let close = findClose(value, quote);
      while (close < 0 && n + 1 < lines.length) {
        n++;
        value += '\n' + lines[n]!;
        close = findClose(value, quote);
      }
      if (close < 0) throw new DotenvError(startLine + 1, `the value of ${key} opens a ${quote} quote that is never closed`);
      const inner = value.slice(0, close);
      out[key] = quote === "'" ? inner : interpolateAt(startLine + 1, unescape(inner), env);
      continue;
    }
    const hash = rest.search(/\s#/);
    if (hash >= 0) rest = rest.slice(0, hash);
    out[key] = interpolateAt(n + 1, rest.trim(), env);
  }
  return out;
}

/** A bad ${...} in a value is an error of that line. */
function interpolateAt(line: number, text: string, env: Lookup): string {
  try {
    return interpolateString(text, env);
  } catch (err) {
    throw new DotenvError(line, (err as Error).message);
  }
}

function findClose(value: string, quote: string): number {
  for (let i = 0; i < value.length; i++) {
    if (quote === '"' && value[i] === '\\') i++;
    else if (value[i] === quote) return i;
  }
  return -1;
}

function unescape(s: string): string {
  return s.replace(/\\([nrt"\\$])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c === '$' ? '$$' : c));
}
