/**
 * Which nodes receive a volume's snapshots: `count` alive nodes other than the owner, among those
 * where the scheduler could move the service (`eligible`), nodes already holding a copy first (only
 * the chunks they lack travel; for a stack, those holding most of its volumes, so that all of them
 * go to the same peers), then by id so the choice is stable from one snapshot to the next.
 */
export interface PeerCandidate {
  id: string;
  alive: boolean;
  /** could run the service (constraints, not draining) */
  eligible: boolean;
  /** holds a complete copy of this volume already; for a stack's volume, how many of the stack's volumes it holds */
  holds: boolean | number;
}

export function choosePeers(owner: string, nodes: readonly PeerCandidate[], count = 2): string[] {
  return nodes
    .filter((n) => n.id !== owner && n.alive && n.eligible)
    .sort((a, b) => Number(b.holds) - Number(a.holds) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, count)
    .map((n) => n.id);
}
