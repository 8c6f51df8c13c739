/**
 * Which etcd endpoints a node's client should use, and when to reconnect to them (the driver:
 * consensus/etcd-session.ts followVoters). Voters come and go (replaced, handed over), and a
 * client that only knows departed ones would lose the cluster.
 */

export interface VoterRecord {
  role: string;
  leaving?: boolean;
  clientUrl: string;
}

/** The client URLs of the voters that stay, and this node's own member's when it runs one; sorted. */
export function voterEndpoints(nodes: readonly VoterRecord[], ownMember: string | undefined): string[] {
  const urls = nodes.filter((n) => n.role === 'voter' && !n.leaving).map((n) => n.clientUrl);
  return [...new Set([...urls, ...(ownMember ? [ownMember] : [])])].sort();
}

/**
 * Whether a client on `current` should reconnect to `wanted` (both sorted). The admission leader
 * reconnects only when a voter it uses has departed, or when its client fails (it cannot read
 * etcd, so it has lost its campaign anyway): each reconnect restarts its campaign, and new voters
 * alone do not make a working client worse.
 */
export function shouldReconnect(current: readonly string[], wanted: readonly string[], o: { leader: boolean; failing: boolean }): boolean {
  if (wanted.length === 0 || wanted.join() === current.join()) return false;
  const departed = current.some((e) => !wanted.includes(e));
  return !o.leader || departed || o.failing;
}
