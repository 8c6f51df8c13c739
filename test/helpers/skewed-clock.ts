import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** libfaketime's multi-threaded build (Debian package `faketime`), under the machine's multiarch dir. */
export function libfaketime(): string {
  const dirs = readdirSync('/usr/lib').map((d) => join('/usr/lib', d, 'faketime', 'libfaketimeMT.so.1'));
  const found = dirs.find((p) => existsSync(p));
  if (!found) throw new Error('libfaketime is not installed: run `bash scripts/setup.sh --test` (it installs the Debian package faketime)');
  return found;
}

/**
 * A process's wall clock, moved at will while it runs, as an NTP step or a machine booted with a
 * wrong clock moves it: libfaketime (LD_PRELOAD) adds the offset in `file` to what the process
 * reads from the real-time clock, re-read every second. The monotonic clock is left alone
 * (FAKETIME_DONT_FAKE_MONOTONIC), as a real jump leaves it. Go programs (etcd) read the clock
 * without libc and keep the true time: only the Node processes of the agent jump.
 */
export class SkewedClock {
  constructor(readonly file: string) {
    this.set(0);
  }

  env(): NodeJS.ProcessEnv {
    return { LD_PRELOAD: libfaketime(), FAKETIME_TIMESTAMP_FILE: this.file, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
  }

  /** The process's wall clock is `seconds` ahead of the true time from now on (behind when negative). */
  set(seconds: number): void {
    writeFileSync(this.file, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
  }
}
