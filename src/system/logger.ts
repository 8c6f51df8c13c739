import { pino, type Logger } from 'pino';
import type { LogLevel } from '../core/agent-config.ts';

export type { Logger };

/** pino JSON to stdout (fd 1, synchronously, so a crash still flushes its last line). */
export function createLogger(level: LogLevel, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...base } }, pino.destination({ dest: 1, sync: true }));
}
