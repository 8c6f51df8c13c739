/**
 * The failure detector's timings (see "Timing" and "Size" in src/core/membership.ts for why the
 * defaults are what they are) and the check that a configuration makes sense.
 */
export interface DetectorConfig {
  /** How often the driver sends heartbeats (the machine only uses it for validation/docs). */
  heartbeatIntervalMs: number;
  /** Silence (no evidence) after which probe rounds start; a failed round makes it suspect. */
  suspectAfterMs: number;
  /** Time allowed for each probe phase (direct, then indirect). */
  probeTimeoutMs: number;
  /** How many other alive members to ask for an indirect probe (0 = never indirect). */
  indirectProbes: number;
  /** Silence after which a suspect whose probes failed is declared dead. */
  deadAfterMs: number;
  /** Minimum time spent suspect before dead (lets the node refute). */
  minSuspectMs: number;
  /** Gap between consecutive ticks (or backwards jump) treated as a LOCAL pause. */
  maxTickGapMs: number;
  /**
   * Cluster size up to which the timings above hold as given. Beyond it the heartbeat interval
   * and the silence thresholds grow in proportion to the size (see "Size" in the module comment).
   * 0 turns the scaling off.
   */
  scaleFromMembers: number;
  /** The most the timings are stretched (bounds the detection time in big clusters). */
  maxScale: number;
}

/** Defaults: see "Timing" in the module comment for why they meet the 2 s / 1.5 s constraints. */
export const DEFAULT_DETECTOR_CONFIG: Readonly<DetectorConfig> = Object.freeze({
  heartbeatIntervalMs: 250,
  suspectAfterMs: 1000,
  probeTimeoutMs: 250,
  indirectProbes: 3,
  deadAfterMs: 1850,
  minSuspectMs: 200,
  maxTickGapMs: 5000,
  scaleFromMembers: 8,
  maxScale: 4,
});

/** Tick lags below this are timer jitter, not a stall. */
export const STALL_FLOOR_MS = 50;
/** How long a local stall keeps stretching the thresholds. */
export const STALL_MEMORY_MS = 10_000;

export function validateConfig(c: DetectorConfig): void {
  const positive: (keyof DetectorConfig)[] = [
    'heartbeatIntervalMs',
    'suspectAfterMs',
    'probeTimeoutMs',
    'deadAfterMs',
    'maxTickGapMs',
  ];
  for (const k of positive) {
    if (!(Number.isFinite(c[k]) && c[k] > 0)) throw new RangeError(`config.${k} must be a positive number`);
  }
  if (!(Number.isFinite(c.minSuspectMs) && c.minSuspectMs >= 0)) {
    throw new RangeError('config.minSuspectMs must be a non-negative number');
  }
  if (!(Number.isInteger(c.indirectProbes) && c.indirectProbes >= 0)) {
    throw new RangeError('config.indirectProbes must be a non-negative integer');
  }
  if (c.suspectAfterMs <= c.heartbeatIntervalMs) {
    throw new RangeError('config.suspectAfterMs must exceed heartbeatIntervalMs');
  }
  if (c.deadAfterMs <= c.suspectAfterMs) {
    throw new RangeError('config.deadAfterMs must exceed suspectAfterMs');
  }
  if (!(Number.isInteger(c.scaleFromMembers) && c.scaleFromMembers >= 0)) {
    throw new RangeError('config.scaleFromMembers must be a non-negative integer');
  }
  if (!(Number.isFinite(c.maxScale) && c.maxScale >= 1)) {
    throw new RangeError('config.maxScale must be a number >= 1');
  }
}
