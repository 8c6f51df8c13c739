/**
 * The leader's admission and voter-set decisions as a pure function of a snapshot: etcd's member
 * list, the registry of admitted nodes, gossip's liveness view, the admission queue and the one
 * learner operation in flight. The driver builds the snapshot, performs the first action it
 * returns, and asks again. Every action is idempotent, so a new leader that takes over half-way
 * (after memberAdd, before promote) resumes from whatever etcd and the queue say.
 */
import type { LivenessMap } from './views.ts';

export type NodeRole = 'voter' | 'client';

export interface EtcdMemberInfo {
  memberId: string;
  /** the node id once the member has started (etcd names members by node id); '' before */
  name: string;
  peerUrl: string;
  isLearner: boolean;
}

export interface AdmittedNode {
  id: string;
  role: NodeRole;
  peerUrl: string;
  /** set by `warren leave` while a voter hands its seat over */
  leaving?: boolean;
}

export interface QueueEntry {
  id: string;
  state: 'waiting' | 'pending-approval';
  since: number;
  /** the last time the joiner (re)sent its request: joiners that stop asking are dropped */
  lastSeen: number;
  peerUrl: string;
}

/** The single learner operation in flight (etcd 3.4 allows one learner at a time). */
export interface Inflight {
  kind: 'join' | 'promote-client';
  nodeId: string;
  peerUrl: string;
  startedAt: number;
}

export interface PlanInput {
  now: number;
  selfId: string;
  voterTarget: 3 | 5;
  members: EtcdMemberInfo[];
  nodes: AdmittedNode[];
  /** gossip state of each node and since when (the leader itself counts as alive) */
  liveness: LivenessMap;
  queue: QueueEntry[];
  inflight: Inflight | undefined;
  /** how long a voter must be dead before it is removed */
  deadVoterGraceMs: number;
  /** how long a learner may take to start and catch up before it is given up */
  learnerTimeoutMs: number;
  /** a queued joiner not heard from for this long is dropped (it re-initiates if alive) */
  queueStaleMs: number;
  /** voter members gossip holds gone whose etcd member answered a health check this step */
  answering?: string[];
  /**
   * How long ago the joiner in flight last said hello (a joiner says it every second until it is a
   * member; Infinity: not heard for a minute). Undefined: not known, and the rule that uses it is off.
   */
  joinerHeardAgoMs?: number;
}

/**
 * A joiner in flight that is silent this long (no hello, not alive in gossip) while its learner
 * has not started is taken for dead: its learner is removed so that the next joiner need not wait
 * out the learner timeout. A live joiner starts its learner within a second or two of its grant,
 * and says hello every second until then.
 */
export const JOINER_SILENT_MS = 20_000;

export type Action =
  | { type: 'promote'; memberId: string; nodeId: string }
  | { type: 'remove-member'; memberId: string; nodeId: string | undefined; reason: 'stale-learner' | 'learner-timeout' | 'learner-gone' | 'dead-voter' | 'left' }
  | { type: 'clear-inflight'; reason: string }
  | { type: 'drop-joiner'; nodeId: string; reason: string }
  | { type: 'offer-voter'; nodeId: string; peerUrl: string }
  | { type: 'demote'; memberId: string; nodeId: string }
  /** name the head joiner; `batch`: further waiting joiners that may follow up now as client-only nodes */
  | { type: 'broadcast'; head: string; batch?: string[] }
  | { type: 'idle' };

/** 1 node: 1 voter; 2 nodes: still 1 (two voters are worse than one); from 3: 3; from the target: the target. */
export function desiredVoters(nodes: number, target: 3 | 5): number {
  if (nodes <= 2) return 1;
  if (nodes < target) return 3;
  return target;
}

function isAlive(input: PlanInput, id: string): boolean {
  if (id === input.selfId) return true;
  const l = input.liveness[id];
  return l?.state === 'alive' || l?.state === 'suspect';
}

/** Voter members gossip has held dead or left for the grace (never this node, never the last voter). */
export function goneVoters(input: PlanInput): (EtcdMemberInfo & { id: string })[] {
  const voterMembers = input.members.filter((m) => !m.isLearner);
  if (voterMembers.length <= 1) return [];
  return voterMembers.flatMap((m) => {
    const id = m.name || input.nodes.find((n) => n.peerUrl === m.peerUrl)?.id;
    if (!id || id === input.selfId) return [];
    const state = input.liveness[id]?.state;
    return (state === 'dead' || state === 'left') && deadFor(input, id) >= input.deadVoterGraceMs ? [{ ...m, id }] : [];
  });
}

function deadFor(input: PlanInput, id: string): number {
  const l = input.liveness[id];
  return l && (l.state === 'dead' || l.state === 'left') ? input.now - l.since : 0;
}

/** Nodes that count towards the voter set: admitted, alive, not leaving. */
function eligible(input: PlanInput): AdmittedNode[] {
  return input.nodes.filter((n) => !n.leaving && isAlive(input, n.id));
}

/** The role a joiner gets when it is admitted now. */
export function roleForJoiner(input: PlanInput): NodeRole {
  const voters = input.members.filter((m) => !m.isLearner).length;
  const wanted = desiredVoters(eligible(input).length + 1, input.voterTarget);
  return voters < wanted ? 'voter' : 'client';
}

/**
 * How many waiting joiners one broadcast may name when they would be admitted as client-only
 * nodes. A client-only admission changes no etcd membership (only voter changes must go one at a
 * time), so a burst of new machines comes in together instead of one broadcast round each.
 */
export const CLIENT_BATCH = 8;

/** Waiting joiners, oldest first (the queue's order of service). */
function waitingInOrder(input: PlanInput): QueueEntry[] {
  return input.queue.filter((q) => q.state === 'waiting').sort((a, b) => a.since - b.since || (a.id < b.id ? -1 : 1));
}

/**
 * Whether the joiner that follows up now may be admitted, and on what ground:
 * - 'resume': its voter admission was recorded by a leader that died before finishing it;
 * - 'head': it is the oldest waiting joiner and no learner operation is in flight;
 * - 'batch': it is among the first CLIENT_BATCH waiting joiners, nothing is in flight, and it
 *   would be admitted as a client-only node (a joiner that would take a voter seat waits its turn).
 * null: not its turn (the caller answers 409 and the joiner waits for the next broadcast).
 */
export function admissionTurn(input: PlanInput, joinerId: string): 'resume' | 'head' | 'batch' | null {
  if (input.inflight?.kind === 'join' && input.inflight.nodeId === joinerId) return 'resume';
  if (input.inflight !== undefined || input.members.some((m) => m.isLearner)) return null;
  const waiting = waitingInOrder(input);
  const at = waiting.findIndex((q) => q.id === joinerId);
  if (at === 0) return 'head';
  if (at > 0 && at < CLIENT_BATCH && roleForJoiner(input) === 'client') return 'batch';
  return null;
}

/** A joiner killed before its learner started: never heard since, by hello or gossip (JOINER_SILENT_MS). */
function joinerSilent(input: PlanInput, inflight: Inflight, learner: EtcdMemberInfo): boolean {
  if (inflight.kind !== 'join' || learner.name !== '' || input.joinerHeardAgoMs === undefined) return false;
  if (input.liveness[inflight.nodeId] !== undefined) return false;
  return input.now - inflight.startedAt > JOINER_SILENT_MS && input.joinerHeardAgoMs > JOINER_SILENT_MS;
}

/** The next step for the leader. */
export function planLeaderStep(input: PlanInput): Action {
  const learner = input.members.find((m) => m.isLearner);
  const { inflight } = input;

  // 1. the learner in flight: promote it once caught up, or give it up
  if (learner) {
    const matches = inflight !== undefined && inflight.peerUrl === learner.peerUrl;
    if (!matches) return { type: 'remove-member', memberId: learner.memberId, nodeId: learner.name || undefined, reason: 'stale-learner' };
    if (deadFor(input, inflight.nodeId) > 0 || joinerSilent(input, inflight, learner)) {
      return { type: 'remove-member', memberId: learner.memberId, nodeId: inflight.nodeId, reason: 'learner-gone' };
    }
    if (input.now - inflight.startedAt > input.learnerTimeoutMs) {
      return { type: 'remove-member', memberId: learner.memberId, nodeId: inflight.nodeId, reason: 'learner-timeout' };
    }
    return { type: 'promote', memberId: learner.memberId, nodeId: inflight.nodeId };
  }
  if (inflight) {
    const member = input.members.find((m) => m.peerUrl === inflight.peerUrl);
    // promoted already (finish the bookkeeping), or never added / removed (forget it)
    if (member) return { type: 'clear-inflight', reason: 'promoted' };
    if (inflight.kind === 'join' && input.now - inflight.startedAt > input.learnerTimeoutMs) {
      return { type: 'drop-joiner', nodeId: inflight.nodeId, reason: 'joiner did not finish its admission in time' };
    }
    if (input.now - inflight.startedAt > input.learnerTimeoutMs) return { type: 'clear-inflight', reason: 'timed out before the learner was added' };
    // a leader died between recording the admission and adding the learner: name the joiner
    // again so it follows up with the new leader, which resumes the admission
    if (inflight.kind === 'join' && input.queue.some((q) => q.id === inflight.nodeId)) return { type: 'broadcast', head: inflight.nodeId };
    return { type: 'idle' };
  }

  // 2. voters that are gone: dead or left (an agent stopped with SIGTERM says it left) beyond the
  // grace period. A stop is often a restart or a reboot, and a whole cluster powered off stops its
  // agents within a second of each other: removing a voter at its leave removed live voters. A
  // voter that really leaves (`warren leave`) is marked leaving and handed over below. A voter that
  // announced a restart reads 'restarting' (neither dead nor left) for its whole restart grace, so
  // it keeps its seat however long the grace; once the grace runs out it reads 'dead' since it fell
  // silent, and is removed at once if that is longer ago than this grace.
  // A voter whose etcd member still answers keeps its seat whatever gossip says: gossip alone can
  // fail (a link that carries etcd but not gossip, gossip streams lost at a heal), and removing a
  // working voter over it shrank a healthy 3-voter cluster to one voter.
  const voterMembers = input.members.filter((m) => !m.isLearner);
  for (const m of goneVoters(input)) {
    if (!input.answering?.includes(m.memberId)) {
      return { type: 'remove-member', memberId: m.memberId, nodeId: m.id, reason: 'dead-voter' };
    }
  }

  // 3. joiners that stopped asking (gone before their turn)
  const stale = input.queue.find((q) => input.now - q.lastSeen > input.queueStaleMs);
  if (stale) return { type: 'drop-joiner', nodeId: stale.id, reason: 'the joiner stopped asking' };

  // 4. the queue: its head is admitted through its own request; the leader keeps asking for it
  const waiting = waitingInOrder(input);
  const head = waiting[0];
  if (head) {
    const batch = roleForJoiner(input) === 'client' ? waiting.slice(1, CLIENT_BATCH).map((q) => q.id) : [];
    return batch.length > 0 ? { type: 'broadcast', head: head.id, batch } : { type: 'broadcast', head: head.id };
  }

  // 5. the voter set below its size: promote a healthy client (lowest id, deterministic). A leaving
  // voter's seat counts as empty already: its replacement comes in before it goes (below).
  const wanted = desiredVoters(eligible(input).length, input.voterTarget);
  const leavingVoters = input.nodes.filter((n) => n.leaving && n.role === 'voter');
  const seated = voterMembers.filter((v) => !leavingVoters.some((n) => v.name === n.id || v.peerUrl === n.peerUrl)).length;
  if (seated < wanted) {
    const candidate = eligible(input)
      .filter((n) => n.role === 'client')
      .sort((a, b) => (a.id < b.id ? -1 : 1))[0];
    if (candidate) return { type: 'offer-voter', nodeId: candidate.id, peerUrl: candidate.peerUrl };
  }
  // a voter that is leaving: hand its seat over once a replacement is in (or none can be)
  const leaving = input.nodes.find((n) => n.leaving && n.role === 'voter');
  if (leaving) {
    const m = voterMembers.find((v) => v.name === leaving.id || v.peerUrl === leaving.peerUrl);
    const replacementPossible = eligible(input).some((n) => n.role === 'client');
    if (m && leaving.id !== input.selfId && (!replacementPossible || voterMembers.length > wanted)) {
      return { type: 'remove-member', memberId: m.memberId, nodeId: leaving.id, reason: 'left' };
    }
  }
  // 6. more voters than the nodes call for (a 3-node cluster that lost one for good): demote one,
  // so the set stays odd and never 2. Only when every seated voter is alive and nothing is in flight.
  if (!leaving && seated > wanted) {
    const seatedVoters = voterMembers.map((v) => ({ v, node: input.nodes.find((n) => n.id === v.name || n.peerUrl === v.peerUrl) }));
    if (seatedVoters.every((x) => x.node && isAlive(input, x.node.id))) {
      const victim = seatedVoters.filter((x) => x.node!.id !== input.selfId).sort((a, b) => (a.node!.id < b.node!.id ? 1 : -1))[0];
      if (victim) return { type: 'demote', memberId: victim.v.memberId, nodeId: victim.node!.id };
    }
  }
  return { type: 'idle' };
}
