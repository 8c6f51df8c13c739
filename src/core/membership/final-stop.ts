/**
 * Whether the agent's next stop is final (the machine leaves the cluster) or a restart.
 *
 * Why: a SIGTERM is read as a restart (restart-hold.ts): the other nodes keep this node's replicas
 * for the restart grace. That is right for `systemctl restart` and a package upgrade, wrong for
 * `apt remove warren`: the node is not coming back, so its services would sit unavailable for the
 * whole grace before failing over. The package's prerm (on "remove" only) therefore runs
 * `warren leave --at-stop`, which leaves a marker in the data dir; the agent's signal handler asks
 * this function whether the marker is about the stop now under way, and if so drains and leaves
 * (as `warren leave` does) instead of announcing a restart.
 *
 * A marker counts only when it was written during the agent's present run and recently: one left
 * over from a removal whose stop never came (the agent was not running; a reinstall later) must
 * not turn a later ordinary restart into a leave.
 */

/** How long a marker stays good: prerm runs systemctl stop right after writing it. */
export const FINAL_STOP_MAX_AGE_MS = 10 * 60_000;

export interface FinalStopMarker {
  /** when it was written (wall clock, ms) */
  at: number;
}

/** Parses the marker file's text; undefined for anything that is not a marker. */
export function parseFinalStopMarker(text: string | undefined): FinalStopMarker | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as { at?: unknown };
    return typeof v?.at === 'number' && Number.isFinite(v.at) ? { at: v.at } : undefined;
  } catch {
    return undefined;
  }
}

/** The stop mode for a signal: 'leave' when a marker written in this run (and not too long ago) asks for it. */
export function stopModeFor(marker: FinalStopMarker | undefined, agentStartedAt: number, now: number): 'leave' | 'restart' {
  if (!marker) return 'restart';
  if (marker.at < agentStartedAt) return 'restart'; // written before this run: stale
  if (marker.at > now || now - marker.at > FINAL_STOP_MAX_AGE_MS) return 'restart';
  return 'leave';
}
