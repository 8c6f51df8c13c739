import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the last start's gossip incarnation is kept, in the data dir. */
export const INCARNATION_FILE = 'incarnation';

/**
 * The gossip incarnation of this start (membership.ts, "States and incarnations"): the wall
 * clock, or one above the last start's when the clock is not past it. A restarted node must come
 * back with a higher incarnation or the others ignore its heartbeats until they have declared it
 * dead; a clock set back (a machine with no real-time clock that boots at 1970, a wrong clock
 * corrected downwards) would otherwise give it a lower one. Written before gossip starts.
 */
export function nextIncarnation(dataDir: string, now = Date.now()): number {
  const file = join(dataDir, INCARNATION_FILE);
  let last = 0;
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    if (Number.isSafeInteger(n) && n > 0) last = n;
  } catch {
    // first start (or an unreadable file): the clock alone
  }
  const next = Math.max(Math.floor(now), last + 1);
  writeFileSync(`${file}.tmp`, `${next}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return next;
}
