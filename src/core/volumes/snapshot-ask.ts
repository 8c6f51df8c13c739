/**
 * `warren volume snapshot` while a scheduled snapshot of the volume is under way: the ask waits
 * for it, then takes its own. When that cycle froze the volume at or after the ask, it already
 * holds every write made before the ask, and taking another would capture and push the same data
 * again (for a changed 1 GiB file, seconds): the cycle's snapshot answers the ask instead.
 */
export interface CycleSeen {
  /** when the cycle's freeze began (monotonic ms); Infinity when it never froze */
  frozenAt: number;
  /** it made a new snapshot (an unchanged volume's cycle returns the previous one) */
  created: boolean;
}

export function cycleAnswersAsk(cycle: CycleSeen | undefined, askedAt: number): boolean {
  return !!cycle && cycle.created && Number.isFinite(cycle.frozenAt) && cycle.frozenAt >= askedAt;
}
