/**
 * Whether a node with an empty data dir founds a cluster, joins one, or waits. Pure: the driver
 * feeds what it has heard on the admission topic ("hello" from every node, with its cluster id
 * once it has one) and the clock.
 *
 * Rule: join any cluster that is seen; a node given --join never founds; otherwise, once the
 * settle window has passed, the node with the lowest id among the fresh nodes heard recently
 * founds and the others wait for it (and join it as soon as its hello carries a cluster id).
 * A node does not found while discovery knows of a node it has not heard (for a while), nor while
 * another node says it is founding one (from its decision until its etcd is up, 1-2 s, its hellos
 * carry no cluster id yet: a lower node starting then would otherwise found a second cluster).
 */
export interface PeerHello {
  id: string;
  api: string;
  clusterId: string | null;
  /** it has decided to found a cluster and has no cluster id to say yet */
  founding?: boolean;
  lastSeen: number;
}

export interface FoundingInput {
  selfId: string;
  now: number;
  startedAt: number;
  settleMs: number;
  /** hellos older than this are forgotten (the node went away) */
  helloTtlMs: number;
  /** the --join targets' APIs; non-empty means "never found" */
  joinTargets: string[];
  peers: PeerHello[];
  /**
   * Nodes discovery says are there now (found by mDNS or on the tailnet lately, or connected),
   * heard or not. A node founds only once it has heard them all (a lower fresh node would found
   * instead; a higher one may be a member of a cluster already), waiting up to DISCOVERED_WAIT_MS
   * past the settle window: on a loaded machine gossip took seconds longer than mDNS to carry the
   * first hellos, and three of five nodes started together founded clusters of their own.
   */
  discovered?: string[];
}

/** How long past the settle window a node waits at most to hear the nodes discovery found. */
export const DISCOVERED_WAIT_MS = 15_000;

export type FoundingDecision =
  | { type: 'found' }
  | { type: 'join'; targets: string[]; clusterId: string | null }
  | { type: 'wait'; reason: string };

export function decideFounding(input: FoundingInput): FoundingDecision {
  const recent = input.peers.filter((p) => p.id !== input.selfId && input.now - p.lastSeen <= input.helloTtlMs);
  const clustered = recent.filter((p) => p.clusterId !== null);
  if (clustered.length > 0) {
    // several clusters should never exist; if they do, always pick the same one (lowest id)
    const clusterId = clustered.map((p) => p.clusterId!).sort()[0]!;
    const targets = clustered.filter((p) => p.clusterId === clusterId).sort((a, b) => (a.id < b.id ? -1 : 1)).map((p) => p.api);
    return { type: 'join', targets: [...new Set([...targets, ...input.joinTargets])], clusterId };
  }
  if (input.joinTargets.length > 0) return { type: 'join', targets: input.joinTargets, clusterId: null };
  const founder = recent.filter((p) => p.founding).map((p) => p.id).sort()[0];
  if (founder !== undefined) return { type: 'wait', reason: `waiting for ${founder}, which is founding the cluster` };
  if (input.now - input.startedAt < input.settleMs) return { type: 'wait', reason: 'settling: listening for other nodes' };
  const lowest = [input.selfId, ...recent.map((p) => p.id)].sort()[0]!;
  if (lowest !== input.selfId) return { type: 'wait', reason: `waiting for ${lowest} to found the cluster` };
  const unheard = (input.discovered ?? []).filter((id) => id !== input.selfId && !recent.some((p) => p.id === id)).sort();
  if (unheard.length > 0 && input.now - input.startedAt < input.settleMs + DISCOVERED_WAIT_MS) {
    return { type: 'wait', reason: `waiting to hear from ${unheard[0]}, found on the network` };
  }
  return { type: 'found' };
}

/** hellos older than this no longer count in founding decisions */
export const HELLO_TTL_MS = 3000;

/** How often members say hello when nobody is looking for a cluster (others: every second). */
export const MEMBER_HELLO_EVERY_MS = 10_000;

/**
 * Whether this node's periodic hello (checked every second) is due. A node still looking for a
 * cluster says it every second; a member only every MEMBER_HELLO_EVERY_MS, except while a node
 * without a cluster said hello within `helloTtlMs`: that node decides from hellos heard within
 * that window, so the members stay audible to it (or it could found a second cluster).
 */
export function helloDue(input: { now: number; lastSentAt: number; member: boolean; helloTtlMs: number; peers: PeerHello[] }): boolean {
  if (!input.member) return true;
  if (input.now - input.lastSentAt >= MEMBER_HELLO_EVERY_MS) return true;
  return input.peers.some((p) => p.clusterId === null && input.now - p.lastSeen <= input.helloTtlMs);
}

/**
 * Whether a hello deserves an answer at once: the first from a node, or the first in a while from
 * a node looking for a cluster (a wiped machine coming back under its old id). Members' own
 * periodic hellos are never answered, or each would set off a round of them.
 */
export function answerHelloAtOnce(hello: { clusterId: string | null }, previous: PeerHello | undefined, now: number, helloTtlMs: number): boolean {
  return previous === undefined || (hello.clusterId === null && now - previous.lastSeen > helloTtlMs);
}
