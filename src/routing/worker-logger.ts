/**
 * A small pino-compatible JSON logger for the proxy worker (pino costs ~10 MB of RSS per
 * process): the same line format as the agent's (level number, time, pid, base fields, msg;
 * an `err` field serialized as pino does), synchronously to stdout. Only what proxy.ts and
 * proxy-worker.ts call: trace..fatal with (obj?, msg?), isLevelEnabled.
 */
import { writeSync } from 'node:fs';
import type { LogLevel } from '../core/agent-config.ts';
import type { Logger } from '../system/logger.ts';

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

function serializeErr(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const out: Record<string, unknown> = { type: e.name, message: e.message, stack: e.stack };
  const code = (e as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  return out;
}

export function createWorkerLogger(level: LogLevel, base: Record<string, unknown>): Logger {
  const min = LEVELS[level] ?? 30;
  const head = JSON.stringify({ pid: process.pid, ...base }).slice(1, -1);
  const write = (n: number, a?: unknown, b?: unknown): void => {
    if (n < min) return;
    let obj: Record<string, unknown> = {};
    let msg: unknown = b;
    if (typeof a === 'string') msg = a;
    else if (a instanceof Error) obj = { err: serializeErr(a) };
    else if (typeof a === 'object' && a !== null) obj = { ...(a as Record<string, unknown>) };
    if (obj.err !== undefined) obj.err = serializeErr(obj.err);
    let line = `{"level":${n},"time":${Date.now()},${head}`;
    const rest = JSON.stringify(obj).slice(1, -1);
    if (rest !== '') line += `,${rest}`;
    if (msg !== undefined) line += `,"msg":${JSON.stringify(String(msg))}`;
    try {
      writeSync(1, line + '}\n');
    } catch {
      // stdout gone: nothing to tell
    }
  };
  const log = {
    level,
    isLevelEnabled: (l: string) => (LEVELS[l] ?? Infinity) >= min,
    trace: (a?: unknown, b?: unknown) => write(10, a, b),
    debug: (a?: unknown, b?: unknown) => write(20, a, b),
    info: (a?: unknown, b?: unknown) => write(30, a, b),
    warn: (a?: unknown, b?: unknown) => write(40, a, b),
    error: (a?: unknown, b?: unknown) => write(50, a, b),
    fatal: (a?: unknown, b?: unknown) => write(60, a, b),
    child: (extra: Record<string, unknown>) => createWorkerLogger(level, { ...base, ...extra }),
  };
  return log as unknown as Logger;
}
