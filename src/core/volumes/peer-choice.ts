/**
 * Which nodes receive a volume's snapshots: `count` alive nodes other than the owner, among those
 * where the scheduler could move the service (`eligible`), nodes already holding a copy first (only
 * the chunks they lack travel), then by id so the choice is stable from one snapshot to the next.
 */
export interface PeerCandidate {
  id: string;
  alive: boolean;
  /** could run the service (constraints, not draining) */
  eligible: boolean;
  /** holds a complete copy of this volume already */
  holds: boolean;
}

export function choosePeers(owner: string, nodes: readonly PeerCandidate[], count = 2): string[] {
  return nodes
    .filter((n) => n.id !== owner && n.alive && n.eligible)
    .sort((a, b) => Number(b.holds) - Number(a.holds) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, count)
    .map((n) => n.id);
}
