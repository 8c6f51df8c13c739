/**
 * Whether a node with an empty data dir founds a cluster, joins one, or waits. Pure: the driver
 * feeds what it has heard on the admission topic ("hello" from every node, with its cluster id
 * once it has one) and the clock.
 *
 * Rule: join any cluster that is seen; a node given --join never founds; otherwise, once the
 * settle window has passed, the node with the lowest id among the fresh nodes heard recently
 * founds and the others wait for it (and join it as soon as its hello carries a cluster id).
 */
export interface PeerHello {
  id: string;
  api: string;
  clusterId: string | null;
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
}

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
  if (input.now - input.startedAt < input.settleMs) return { type: 'wait', reason: 'settling: listening for other nodes' };
  const lowest = [input.selfId, ...recent.map((p) => p.id)].sort()[0]!;
  if (lowest === input.selfId) return { type: 'found' };
  return { type: 'wait', reason: `waiting for ${lowest} to found the cluster` };
}
