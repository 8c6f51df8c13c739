/**
 * `warren volume snapshot` while a scheduled snapshot of the volume is under way: the ask waits
 * for it, then takes its own. When a scheduled cycle that made a new snapshot froze the volume at
 * or after the ask, that snapshot already holds every write made before the ask, and taking
 * another would capture and push the same data again (for a changed 1 GiB file, seconds): it
 * answers the ask instead. A cycle that found nothing changed (it returns the last snapshot) does
 * not: the ask gets a new snapshot, as one asked for expects.
 */
export interface CycleSeen {
  /** when the cycle's freeze began (monotonic ms); Infinity when it never froze */
  frozenAt: number;
}

/** `cycle`: the volume's last cycle that made a new snapshot */
export function cycleAnswersAsk(cycle: CycleSeen | undefined, askedAt: number): boolean {
  return !!cycle && Number.isFinite(cycle.frozenAt) && cycle.frozenAt >= askedAt;
}
