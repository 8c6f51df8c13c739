import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
 *
 * NO_FAKE_STAT: files' times stay as stored (a real step does not move them), and libfaketime
 * then takes its semaphore shared with the agent's children only at a process's start. Faking
 * them, it took it around every stat: an agent killed -9 inside one left it taken for good, and
 * its fence watchdog (sh, tail) hung on its next stat for ever, holding the agent's log pipe open.
 */
export class SkewedClock {
  constructor(readonly file: string) {
    this.set(0);
  }

  env(): NodeJS.ProcessEnv {
    return { LD_PRELOAD: libfaketime(), FAKETIME_TIMESTAMP_FILE: this.file, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1', NO_FAKE_STAT: '1' };
  }

  /** The process's wall clock is `seconds` ahead of the true time from now on (behind when negative). */
  set(seconds: number): void {
    writeFileSync(this.file, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
  }
}

/**
 * Removes the shared memory and semaphore libfaketime made for the process tree started as `pid`
 * (named after the first process that loaded it: the agent's, as setpriv and bin/warren exec
 * into it); a process killed -9 never removes them itself.
 */
export function removeFaketimeState(pid: number): void {
  for (const name of [`faketime_shm_${pid}`, `sem.faketime_sem_${pid}`]) rmSync(join('/dev/shm', name), { force: true });
}
