/**
 * Automatic quorum recovery: whether this node should rebuild etcd from its own data
 * (`--force-new-cluster`) after voters were lost, decided from this node's view alone. Pure: the
 * driver (src/consensus/recovery.ts) feeds it gossip's liveness, the last known voter set and
 * registry, the reports other nodes gossip, and performs what it decides.
 *
 * Safety rests on three rules:
 * 1. Only an even split: exactly half of the voters are lost. The lost half is then fewer than a
 *    quorum of the old voter set, so wherever those machines are (dead, or alive behind a
 *    partition), they cannot accept a write or change the membership. With an odd voter set a
 *    lost majority might be alive elsewhere with a working quorum: that is a person's call
 *    (`warren recover`), never an automatic one. The even case is the one growth from 1 to 3
 *    voters passes through (2 voters), and the one a 3-voter cluster passes through while it
 *    replaces a dead voter.
 * 2. A majority of the admitted nodes endorse the same candidate. Each node endorses at most one
 *    candidate for a voter set, ever (the driver keeps its endorsement), so two candidates can
 *    never both gather a majority: no two clusters are ever rebuilt from one.
 * 3. Every other surviving voter has stopped its etcd member before it endorses, and never starts
 *    it again in the old membership; so the old cluster keeps fewer than a quorum for good.
 * The candidate is the surviving voter with the highest raft index (its log holds every entry the
 * others have), ties to the lowest id.
 */
import type { LivenessMap } from './views.ts';

/** What a node gossips about a lost quorum (on warren/admission, signed by the sender). */
export interface RecoveryReport {
  type: 'recovery';
  clusterId: string;
  /** the etcd voter set (node ids, sorted) the sender last knew */
  voters: string[];
  /** the voters the sender has seen dead or left for at least the grace (sorted) */
  lost: string[];
  /** the sender's raft index, when it is a surviving voter */
  index?: number;
  /** a surviving voter that has stopped its etcd member for good (rule 3) */
  memberStopped?: boolean;
  /** admitted nodes in the sender's registry */
  registrySize: number;
  /** the surviving voter the sender endorses, or null while it cannot choose */
  candidate: string | null;
}

export interface ReceivedReport {
  from: string;
  report: RecoveryReport;
  receivedAt: number;
}

export interface RecoveryInput {
  now: number;
  selfId: string;
  clusterId: string;
  /** admitted node ids as this node's registry last read them (self included) */
  registry: string[];
  /** etcd voting members (node ids) as last read */
  voters: string[];
  /** this node's raft index when it holds a voter's etcd data */
  selfIndex?: number;
  /** this node has stopped its etcd member for a candidate (rule 3) */
  selfMemberStopped: boolean;
  /** since when this node has had no etcd quorum (null: it has one) */
  quorumLostSince: number | null;
  liveness: LivenessMap;
  /** the latest report of each other node */
  reports: ReceivedReport[];
  /** the candidate this node endorsed for this voter set earlier, if any (sticky: rule 2) */
  endorsed?: { voters: string[]; candidate: string };
  graceMs: number;
  /** a report older than this is not counted */
  freshMs: number;
}

export type RecoveryAction =
  /** nothing to do; `report` (if any) is gossiped so others learn this node's view */
  | { type: 'wait'; why: string; report?: RecoveryReport }
  /** a surviving voter that is not the candidate: stop the etcd member for good, then report */
  | { type: 'stop-member'; candidate: string; report: RecoveryReport }
  /** the candidate with a majority's endorsement: rebuild etcd from this node's data */
  | { type: 'recover'; lost: string[]; endorsedBy: string[] };

const sorted = (ids: Iterable<string>): string[] => [...new Set(ids)].sort();
const same = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function aliveFor(input: RecoveryInput, id: string): boolean {
  if (id === input.selfId) return true;
  const l = input.liveness[id];
  return l?.state === 'alive';
}

function lostFor(input: RecoveryInput, id: string): boolean {
  const l = input.liveness[id];
  return id !== input.selfId && l !== undefined && (l.state === 'dead' || l.state === 'left') && input.now - l.since >= input.graceMs;
}

/** The next step of this node. */
export function planRecovery(input: RecoveryInput): RecoveryAction {
  const { now, selfId } = input;
  if (input.quorumLostSince === null) return { type: 'wait', why: 'the quorum is healthy' };
  if (now - input.quorumLostSince < input.graceMs) return { type: 'wait', why: 'the quorum was lost only moments ago' };
  const voters = sorted(input.voters);
  if (voters.length < 2) return { type: 'wait', why: 'a single voter: nothing to recover from' };
  const lost = voters.filter((v) => lostFor(input, v));
  const survivors = voters.filter((v) => !lost.includes(v));
  const undecided = survivors.filter((v) => !aliveFor(input, v));
  if (undecided.length) return { type: 'wait', why: `voters neither alive nor lost for the grace yet: ${undecided.join(', ')}` };
  if (lost.length === 0) return { type: 'wait', why: 'every voter is alive: etcd elects a leader by itself' };
  if (lost.length * 2 !== voters.length) {
    return { type: 'wait', why: `${lost.length} of ${voters.length} voters lost: they could still hold a quorum elsewhere; only a person can decide (warren recover)` };
  }
  const fresh = input.reports.filter(
    (r) => now - r.receivedAt <= input.freshMs && r.report.clusterId === input.clusterId && same(sorted(r.report.voters), voters) && input.registry.includes(r.from),
  );
  const reportOf = (id: string) => fresh.find((r) => r.from === id)?.report;
  // every survivor's index, its own or as it reported it
  const indexes = new Map<string, number>();
  for (const s of survivors) {
    const index = s === selfId ? input.selfIndex : reportOf(s)?.index;
    if (index !== undefined) indexes.set(s, index);
  }
  let candidate: string | null = null;
  if (input.endorsed && same(sorted(input.endorsed.voters), voters)) candidate = input.endorsed.candidate;
  else if (indexes.size === survivors.length) {
    candidate = [...indexes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  }
  const selfSurvivor = survivors.includes(selfId);
  const report: RecoveryReport = {
    type: 'recovery',
    clusterId: input.clusterId,
    voters,
    lost,
    ...(selfSurvivor && input.selfIndex !== undefined ? { index: input.selfIndex } : {}),
    ...(input.selfMemberStopped ? { memberStopped: true } : {}),
    registrySize: input.registry.length,
    candidate,
  };
  if (candidate === null) return { type: 'wait', why: 'waiting for every surviving voter to report its raft index', report };
  if (candidate !== selfId) {
    if (selfSurvivor && !input.selfMemberStopped) return { type: 'stop-member', candidate, report: { ...report, memberStopped: true } };
    return { type: 'wait', why: `endorsing ${candidate}`, report };
  }
  // the candidate: every other survivor stopped its member, and a majority of the registry agrees
  const endorsers = fresh.filter((r) => r.report.candidate === selfId && same(sorted(r.report.lost), lost));
  const stopped = survivors.filter((s) => s !== selfId).every((s) => endorsers.some((r) => r.from === s && r.report.memberStopped));
  if (!stopped) return { type: 'wait', why: 'waiting for the other surviving voters to stop their etcd members', report };
  const registrySize = Math.max(input.registry.length, ...endorsers.map((r) => r.report.registrySize));
  const votes = sorted([selfId, ...endorsers.map((r) => r.from)]);
  if (votes.length * 2 <= registrySize) return { type: 'wait', why: `endorsed by ${votes.length} of ${registrySize} admitted nodes: a majority is needed`, report };
  return { type: 'recover', lost, endorsedBy: votes };
}

/** A gossiped report, checked field by field (anything else is ignored). */
export function parseRecoveryReport(msg: Record<string, unknown>): RecoveryReport | undefined {
  const ids = (v: unknown): v is string[] => Array.isArray(v) && v.length <= 64 && v.every((x) => typeof x === 'string' && x.length <= 128);
  if (msg.type !== 'recovery' || typeof msg.clusterId !== 'string' || !ids(msg.voters) || !ids(msg.lost)) return undefined;
  if (typeof msg.registrySize !== 'number' || !Number.isInteger(msg.registrySize) || msg.registrySize < 0 || msg.registrySize > 100_000) return undefined;
  if (msg.candidate !== null && (typeof msg.candidate !== 'string' || msg.candidate.length > 128)) return undefined;
  if (msg.index !== undefined && (typeof msg.index !== 'number' || !Number.isSafeInteger(msg.index) || msg.index < 0)) return undefined;
  if (msg.memberStopped !== undefined && typeof msg.memberStopped !== 'boolean') return undefined;
  return {
    type: 'recovery',
    clusterId: msg.clusterId,
    voters: msg.voters,
    lost: msg.lost,
    registrySize: msg.registrySize,
    candidate: msg.candidate as string | null,
    ...(msg.index !== undefined ? { index: msg.index as number } : {}),
    ...(msg.memberStopped ? { memberStopped: true } : {}),
  };
}
