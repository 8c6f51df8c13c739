/**
 * Milliseconds on a clock that only moves forward, at the rate of real time (CLOCK_MONOTONIC
 * under performance.now()), starting near the wall clock's value at process start so that 0
 * still means "long ago". Every local duration, deadline, timeout and "how long since" uses it:
 * the wall clock (Date.now()) jumps when NTP steps it or a machine without a real-time clock
 * (a Raspberry Pi) boots hours behind, and a fence, a restart back-off or a snapshot schedule
 * that reads it would act an hour early or not for an hour. Date.now() stays for timestamps
 * that people read or that other nodes compare (records in etcd, events, signatures).
 * Only comparable within one thread: a worker's origin differs.
 */
export function monoNow(): number {
  return performance.timeOrigin + performance.now();
}

/** What to add to a monoNow() reading to put it on the wall clock as of now. */
export function wallOffset(): number {
  return Date.now() - monoNow();
}

export interface Timers {
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (handle: never) => void;
}

/**
 * Calls `due` once, when `clock` (monoNow) reaches `deadline`. A Node timer can fire up to a
 * millisecond before its time by another reading of the clock (libuv counts whole milliseconds of
 * its own loop time); one that fires early waits again for the rest instead of acting, or of
 * doing nothing for good. Returns the function that cancels it.
 */
export function atDeadline(deadline: number, due: () => void, clock: () => number = monoNow, timers: Timers = globalThis as unknown as Timers): () => void {
  let handle: unknown;
  let cancelled = false;
  const fire = (): void => {
    if (cancelled) return;
    const now = clock();
    if (now < deadline) handle = timers.setTimeout(fire, Math.max(1, Math.ceil(deadline - now)));
    else due();
  };
  handle = timers.setTimeout(fire, Math.max(0, Math.ceil(deadline - clock())));
  return () => {
    cancelled = true;
    timers.clearTimeout(handle as never);
  };
}
