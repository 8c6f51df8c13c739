/**
 * `volume.at_risk`: one event when a volume's data at risk crosses its threshold, one more when it
 * is back under, never a flood. The clear point is lower than the raise point (hysteresis: a
 * figure hovering at the threshold would otherwise raise and clear on every check).
 */

export interface RiskSample {
  volume: string;
  /** how much of the volume's writes would be lost now (ms) */
  riskMs: number;
  thresholdMs: number;
}

export interface RiskChange {
  volume: string;
  atRisk: boolean;
  riskMs: number;
  thresholdMs: number;
}

/** raised above the threshold, cleared at or under this share of it */
export const CLEAR_RATIO = 2 / 3;

/**
 * One check: `raised` holds the volumes currently reported at risk (updated in place); `samples`
 * the volumes this node watches now. A volume no longer watched (removed, owned elsewhere) is
 * forgotten without an event: its new owner reports it.
 */
export function checkRisk(raised: Set<string>, samples: readonly RiskSample[]): RiskChange[] {
  const out: RiskChange[] = [];
  const seen = new Set<string>();
  for (const s of samples) {
    seen.add(s.volume);
    const was = raised.has(s.volume);
    if (!was && s.riskMs > s.thresholdMs) {
      raised.add(s.volume);
      out.push({ volume: s.volume, atRisk: true, riskMs: s.riskMs, thresholdMs: s.thresholdMs });
    } else if (was && s.riskMs <= s.thresholdMs * CLEAR_RATIO) {
      raised.delete(s.volume);
      out.push({ volume: s.volume, atRisk: false, riskMs: s.riskMs, thresholdMs: s.thresholdMs });
    }
  }
  for (const v of raised) if (!seen.has(v)) raised.delete(v);
  return out;
}

/**
 * The figure a check uses: the view's atRiskMs, or, while no second node holds any of the data
 * (null), everything since the owner took the volume (a new volume gets that long to reach a peer).
 */
export function riskOf(atRiskMs: number | null, ownedSince: number, now: number): number {
  return atRiskMs ?? Math.max(0, now - ownedSince);
}
