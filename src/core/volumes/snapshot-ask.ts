/**
 * `warren volume snapshot` while a scheduled snapshot of the volume is under way: the ask waits
 * for it, then takes its own. When that cycle froze the volume at or after the ask, its snapshot
 * (a new one, or the last one when nothing had changed since) already holds every write made
 * before the ask, and taking another would capture and push the same data again (for a changed
 * 1 GiB file, seconds): the cycle's snapshot answers the ask instead. This also ends the wait
 * when cycles follow one another at once (a loaded machine runs the next as soon as one ends).
 */
export interface CycleSeen {
  /** when the cycle's freeze began (monotonic ms); Infinity when it never froze */
  frozenAt: number;
}

export function cycleAnswersAsk(cycle: CycleSeen | undefined, askedAt: number): boolean {
  return !!cycle && Number.isFinite(cycle.frozenAt) && cycle.frozenAt >= askedAt;
}
