/**
 * The owner's word on a volume's data at risk: how long ago (ms) the owner's last snapshot cycle
 * found its live copy equal to a snapshot a peer holds too. An idle volume's unchanged cycles
 * count, which its copies' ages cannot show; volumeView (volume-view.ts) takes it as a bound on
 * the copies' figure, and every node's `volume ls`, `/metrics` and the heartbeats use this one rule.
 */

/** What a member's last heartbeat said of the volumes it owns, and how long ago it came. */
export interface VolumeWord {
  /** per volume: ms since its last cycle that a peer holds too, as of that heartbeat */
  safeAgoMs: Readonly<Record<string, number>>;
  /** ms since that heartbeat arrived */
  heardAgoMs: number;
}

export interface SafeAgoSources {
  self: string;
  now: number;
  /** when this node's last cycle of a volume it owns matched a snapshot a peer holds (ms) */
  ownSafeAt: (volume: string) => number | undefined;
  /** another owner's last word (its heartbeats); undefined: none heard, or an agent that sends none */
  heard: (node: string) => VolumeWord | undefined;
}

/**
 * The owner's safe-ago figure for `volume` as of `now`; undefined when the owner has not said (the
 * copies' ages are then the whole figure):
 *  - no owner (a clone, an import, no service ever ran on it): 0, no live copy can change;
 *  - owned here: since the own last safe cycle;
 *  - owned elsewhere: its heartbeat's figure plus the time since that heartbeat (the owner may
 *    have written ever since, whether it is alive, silent or dead).
 */
export function ownerSafeAgoMs(volume: string, owner: string | undefined, s: SafeAgoSources): number | undefined {
  if (!owner) return 0;
  if (owner === s.self) {
    const at = s.ownSafeAt(volume);
    return at === undefined ? undefined : Math.max(0, s.now - at);
  }
  const word = s.heard(owner);
  // own keys only: a volume named like an Object.prototype member must not read one
  if (!word || !Object.hasOwn(word.safeAgoMs, volume)) return undefined;
  return word.safeAgoMs[volume]! + Math.max(0, word.heardAgoMs);
}
