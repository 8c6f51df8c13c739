import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { goneVoters, type PlanInput } from '../core/admission-plan.ts';
import type { LivenessMap } from '../core/views.ts';
import type { ClusterStore, NodeRecord, QueueRecord } from './cluster-store.ts';

/** What the leader's reads need of their node. */
export interface ReadDeps {
  selfId: string;
  logger: Logger;
  client: Etcd3;
  voterTarget: 3 | 5;
  /** gossip's view: state and since (wall clock ms) of every node it knows */
  liveness: () => LivenessMap;
  /** how long ago a node last said hello (a joiner says it every second) */
  heardAgo?: (id: string) => number;
  deadVoterGraceMs?: number;
  /** whether an etcd member answers a health check at one of its client URLs */
  memberAnswers?: (clientUrls: string[]) => Promise<boolean>;
  learnerTimeoutMs?: number;
  queueStaleMs?: number;
}

export interface MemberListed {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export type Snapshot = { input: PlanInput; members: MemberListed[]; nodes: NodeRecord[]; queue: QueueRecord[] };

/** The leader's fresh read of everything its plan decides from (core/admission-plan.ts). */
export class LeaderReads {
  /** voters kept against gossip's verdict, noted once each */
  private readonly keptNoted = new Set<string>();

  constructor(
    private readonly d: ReadDeps,
    private readonly store: ClusterStore,
    /** confirms leadership: a leader deposed while cut off acts on nothing */
    private readonly confirm: () => Promise<unknown>,
  ) {}

  async read(): Promise<Snapshot> {
    const [members, nodes, queue, inflight] = await Promise.all([this.memberList(), this.store.nodes(), this.store.queue(), this.store.inflight(), this.confirm()]);
    const input: PlanInput = {
      now: Date.now(),
      selfId: this.d.selfId,
      voterTarget: this.d.voterTarget,
      members: members.map((m) => ({ memberId: m.ID, name: m.name, peerUrl: m.peerURLs[0] ?? '', isLearner: m.isLearner })),
      nodes,
      liveness: this.d.liveness(),
      queue,
      inflight,
      deadVoterGraceMs: this.d.deadVoterGraceMs ?? 10_000,
      learnerTimeoutMs: this.d.learnerTimeoutMs ?? 60_000,
      queueStaleMs: this.d.queueStaleMs ?? 15_000,
      ...(inflight?.kind === 'join' && this.d.heardAgo ? { joinerHeardAgoMs: this.d.heardAgo(inflight.nodeId) } : {}),
    };
    input.answering = await this.answering(input, members);
    return { members, nodes, queue, input };
  }

  private async memberList(): Promise<MemberListed[]> {
    const res = await this.d.client.cluster.memberList({ linearizable: true } as never);
    return (res.members ?? []) as unknown as MemberListed[];
  }

  /** The voters gossip holds gone whose etcd member answers all the same (they keep their seats). */
  private async answering(input: PlanInput, members: MemberListed[]): Promise<string[]> {
    const ask = this.d.memberAnswers;
    if (!ask) return [];
    const gone = goneVoters(input);
    const answers = await Promise.all(gone.map((m) => ask(members.find((x) => x.ID === m.memberId)?.clientURLs ?? [])));
    const kept = gone.filter((_, i) => answers[i]);
    for (const m of kept) {
      if (this.keptNoted.has(m.memberId)) continue;
      this.keptNoted.add(m.memberId);
      this.d.logger.warn({ memberId: m.memberId, node: m.id }, 'gossip holds a voter gone but its etcd member answers: it keeps its seat');
    }
    for (const id of this.keptNoted) if (!kept.some((m) => m.memberId === id)) this.keptNoted.delete(id);
    return kept.map((m) => m.memberId);
  }
}
