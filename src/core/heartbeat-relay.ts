/**
 * Which heartbeats a node relays. Every agent floods its heartbeat to every peer it is connected
 * to, and gossipsub then forwards each copy once more through every receiver's mesh: with every
 * link up, half of what an idle agent receives (and decrypts, decodes and drops) is a duplicate.
 * The relay is only needed where a link is missing or cut one way, so each heartbeat says which
 * members' heartbeats reached its sender straight from them lately (`hears`), and a node relays
 * a heartbeat only when a mesh peer did not say it hears the author directly (or has said nothing
 * lately: an older agent, a peer just connected, one whose own heartbeats are late).
 *
 * A link that breaks costs one report: the peer behind it stops listing the author after
 * HEARD_WITHIN intervals, its next heartbeat says so, and the next copy of the author's heartbeat
 * is relayed again (~1 s in all with 250 ms heartbeats; the failure detector only starts probing
 * after 1 s of silence, and a probe through a helper answers for a one-way cut meanwhile).
 *
 * Pure: the driver (gossip/gossip-intake.ts) feeds it what arrived and asks before forwarding.
 */

/** A direct heartbeat older than this many intervals no longer counts as heard. */
export const HEARD_WITHIN = 2.2;
/** A peer's report older than this many intervals is stale: relay to it as before. */
export const REPORT_FRESH = 3;
/** Reports longer than this are cut (a heartbeat stays small however large the cluster). */
export const MAX_HEARS = 256;

export class HeartbeatRelay {
  /** author → when its heartbeat last came straight from it */
  private readonly direct = new Map<string, number>();
  /** member → what its last heartbeat said it hears, and when that heartbeat came */
  private readonly reports = new Map<string, { hears: ReadonlySet<string>; at: number }>();

  /** A heartbeat of `author` arrived from `source` (the peer that passed it on). */
  heard(author: string, source: string, now: number): void {
    if (author === source) this.direct.set(author, now);
  }

  /** What `member`'s heartbeat says it hears (undefined: an agent that does not say). */
  report(member: string, hears: readonly string[] | undefined, now: number): void {
    if (hears === undefined) this.reports.delete(member);
    else this.reports.set(member, { hears: new Set(hears), at: now });
  }

  /** The members whose heartbeats reached this node straight from them within the window, for its own heartbeat. */
  hears(now: number, intervalMs: number): string[] {
    const out: string[] = [];
    for (const [id, at] of this.direct) {
      if (now - at <= HEARD_WITHIN * intervalMs) out.push(id);
      if (out.length === MAX_HEARS) break;
    }
    return out;
  }

  /**
   * Should `author`'s heartbeat, received from `source`, go on to this node's mesh peers? Yes
   * unless every mesh peer other than those two said lately that it hears the author directly.
   */
  shouldRelay(author: string, source: string, meshPeers: Iterable<string>, now: number, intervalMs: number): boolean {
    for (const peer of meshPeers) {
      if (peer === author || peer === source) continue;
      const r = this.reports.get(peer);
      if (!r || now - r.at > REPORT_FRESH * intervalMs || !r.hears.has(author)) return true;
    }
    return false;
  }

  /** A member that left or died: its entries go (they would only be stale). */
  forget(id: string): void {
    this.direct.delete(id);
    this.reports.delete(id);
  }
}
