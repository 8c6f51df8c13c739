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
