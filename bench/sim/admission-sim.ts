import { admissionTurn, desiredVoters, planLeaderStep, roleForJoiner, type AdmittedNode, type EtcdMemberInfo, type Inflight, type PlanInput, type QueueEntry } from '../../src/core/admission-plan.ts';
import { decideFounding, HELLO_TTL_MS, type PeerHello } from '../../src/core/founding.ts';
import type { MemberState } from '../../src/core/views.ts';
import { EventQueue } from './queue.ts';
import { Network } from './network.ts';

/**
 * Admission at scale: the real leader planner (planLeaderStep, admissionTurn, roleForJoiner)
 * driven as src/consensus/leader.ts drives it — a step every 250 ms, a broadcast naming the head
 * joiner (and a batch of client-only ones) at most once a second unless an admission just
 * finished, follow-ups served one at a time unless batched — and joiners as joiner.ts runs them
 * (POST /v1/join, re-sent every 5 s; a named joiner follows up at once). etcd: a learner starts
 * in LEARNER_START_MS, catches up in LEARNER_CATCHUP_MS, and after a promotion etcd refuses the
 * next member change for ETCD_SETTLE_MS. Each admission costs the leader ADMIT_MS (etcd writes,
 * a certificate).
 */

const STEP_MS = 250;
const BROADCAST_EVERY_MS = 1000;
const REJOIN_EVERY_MS = 5000;
const ADMIT_MS = 30;
const LEARNER_START_MS = 1000;
const LEARNER_CATCHUP_MS = 1500;
const ETCD_SETTLE_MS = 5000;

type Ev = { k: 'step' } | { k: 'join'; j: string } | { k: 'named'; j: string } | { k: 'admit'; j: string } | { k: 'granted'; j: string };

export interface AdmissionFigures {
  existing: number;
  joiners: number;
  voterTarget: 3 | 5;
  /** from the joiners' start until the last was admitted */
  allAdmittedMs: number;
  medianAdmittedMs: number;
  broadcasts: number;
  refusedFollowUps: number;
  voters: number;
}

interface Member extends EtcdMemberInfo {
  startedAt: number;
  caughtUpAt: number;
}

export function admitSimultaneous(existing: number, joiners: number, voterTarget: 3 | 5, seed: number): AdmissionFigures {
  const q = new EventQueue<Ev>();
  const net = new Network({ loss: 0.05, latencyMs: [1, 20], seed });
  const peer = (id: string) => `https://${id}:2380`;
  const ids = Array.from({ length: existing }, (_, i) => `m${String(i).padStart(5, '0')}`);
  const voters = desiredVoters(existing, voterTarget);
  const nodes: AdmittedNode[] = ids.map((id, i) => ({ id, role: i < voters ? 'voter' : 'client', peerUrl: peer(id) }));
  const members: Member[] = ids.slice(0, voters).map((id) => ({ memberId: `e-${id}`, name: id, peerUrl: peer(id), isLearner: false, startedAt: 0, caughtUpAt: 0 }));
  const liveness: Record<string, { state: MemberState; since: number }> = {};
  for (const id of ids) liveness[id] = { state: 'alive', since: 0 };
  const queue = new Map<string, QueueEntry>();
  let inflight: Inflight | undefined;
  let lastBroadcast = -Infinity;
  let etcdBusyUntil = 0;
  let leaderFreeAt = 0;
  let broadcasts = 0;
  let refused = 0;
  const following = new Set<string>();
  const admittedAt = new Map<string, number>();
  const joinerIds = Array.from({ length: joiners }, (_, i) => `j${String(i).padStart(5, '0')}`);

  const input = (): PlanInput => ({
    now: q.now,
    selfId: ids[0]!,
    voterTarget,
    members: members.map(({ memberId, name, peerUrl, isLearner }) => ({ memberId, name, peerUrl, isLearner })),
    nodes,
    liveness,
    queue: [...queue.values()],
    inflight,
    deadVoterGraceMs: 10_000,
    learnerTimeoutMs: 60_000,
    queueStaleMs: 15_000,
  });

  for (const j of joinerIds) q.push(net.random() * 1000, { k: 'join', j });
  q.push(0, { k: 'step' });

  const handle = (e: Ev) => {
    const now = q.now;
    if (e.k === 'join') {
      if (admittedAt.has(e.j)) return;
      q.push(now + REJOIN_EVERY_MS, e);
      if (!net.delivers(1, 0)) return;
      const prev = queue.get(e.j);
      queue.set(e.j, { id: e.j, state: 'waiting', since: prev?.since ?? now, lastSeen: now, peerUrl: peer(e.j) });
    } else if (e.k === 'step') {
      q.push(now + STEP_MS, e);
      for (const m of members) if (m.isLearner && m.name === '' && now >= m.startedAt) m.name = nodes.find((n) => n.peerUrl === m.peerUrl)!.id;
      const a = planLeaderStep(input());
      if (a.type === 'broadcast') {
        if (now - lastBroadcast < BROADCAST_EVERY_MS) return;
        lastBroadcast = now;
        broadcasts++;
        for (const j of [a.head, ...(a.batch ?? [])]) if (net.delivers(0, 1)) q.push(now + net.latency(), { k: 'named', j });
      } else if (a.type === 'promote') {
        const m = members.find((x) => x.memberId === a.memberId)!;
        if (now >= m.caughtUpAt && now >= etcdBusyUntil) {
          m.isLearner = false;
          etcdBusyUntil = now + ETCD_SETTLE_MS;
          const n = nodes.find((x) => x.id === a.nodeId)!;
          n.role = 'voter';
          queue.delete(a.nodeId);
          inflight = undefined;
          m.name = a.nodeId;
          lastBroadcast = -Infinity;
        }
      } else if (a.type === 'offer-voter') {
        // the client takes the offer: it is added as a learner, to be promoted as above
        if (inflight || now < etcdBusyUntil) return;
        inflight = { kind: 'promote-client', nodeId: a.nodeId, peerUrl: a.peerUrl, startedAt: now };
        members.push({ memberId: `e-${a.nodeId}`, name: '', peerUrl: a.peerUrl, isLearner: true, startedAt: now + LEARNER_START_MS, caughtUpAt: now + LEARNER_START_MS + LEARNER_CATCHUP_MS });
      } else if (a.type === 'clear-inflight') inflight = undefined;
      else if (a.type === 'drop-joiner') queue.delete(a.nodeId);
      else if (a.type !== 'idle') throw new Error(`admission sim: unexpected action ${a.type}`);
    } else if (e.k === 'named') {
      // joiner.ts follows up on a broadcast naming it, one follow-up at a time
      if (admittedAt.has(e.j) || following.has(e.j)) return;
      following.add(e.j);
      q.push(now + net.latency(), { k: 'admit', j: e.j });
    } else if (e.k === 'admit') {
      const snap = input();
      const turn = admissionTurn(snap, e.j);
      // batch admissions run side by side; the others one at a time
      const start = turn === 'batch' ? now : Math.max(now, leaderFreeAt);
      if (turn !== 'batch') leaderFreeAt = start + ADMIT_MS;
      const done = start + ADMIT_MS;
      const ok = turn !== null && queue.has(e.j) && (roleForJoiner(snap) === 'client' || done >= etcdBusyUntil);
      if (!ok) {
        refused++;
        following.delete(e.j);
        return;
      }
      const role = turn === 'resume' ? 'voter' : roleForJoiner(snap);
      nodes.push({ id: e.j, role: 'client', peerUrl: peer(e.j) });
      liveness[e.j] = { state: 'alive', since: done };
      if (role === 'client') queue.delete(e.j);
      else {
        inflight = { kind: 'join', nodeId: e.j, peerUrl: peer(e.j), startedAt: done };
        members.push({ memberId: `e-${e.j}`, name: '', peerUrl: peer(e.j), isLearner: true, startedAt: done + LEARNER_START_MS, caughtUpAt: done + LEARNER_START_MS + LEARNER_CATCHUP_MS });
      }
      lastBroadcast = -Infinity;
      q.push(done + net.latency(), { k: 'granted', j: e.j });
    } else {
      admittedAt.set(e.j, now);
      following.delete(e.j);
    }
  };
  const limit = 600_000;
  for (let e = q.pop(limit); e && admittedAt.size < joiners; e = q.pop(limit)) handle(e);
  const times = [...admittedAt.values()].sort((a, b) => a - b);
  return {
    existing,
    joiners,
    voterTarget,
    allAdmittedMs: admittedAt.size === joiners ? times[times.length - 1]! : NaN,
    medianAdmittedMs: times[Math.floor(times.length / 2)] ?? NaN,
    broadcasts,
    refusedFollowUps: refused,
    voters: members.filter((m) => !m.isLearner).length,
  };
}

export interface FoundingFigures {
  nodes: number;
  founders: number;
  /** from the first start until every node had decided to found or to join the cluster */
  allDecidedMs: number;
}

/**
 * N machines started within a second of each other with empty data dirs and no --join: each
 * says hello every second on the admission topic (5% loss) and asks decideFounding every 200 ms,
 * as joiner.ts does. One founder is right; more would be separate clusters.
 */
export function coldStart(n: number, seed: number): FoundingFigures {
  const q = new EventQueue<{ k: 'hello' | 'decide'; i: number }>();
  const net = new Network({ loss: 0.05, latencyMs: [1, 20], seed });
  const ids = Array.from({ length: n }, (_, i) => `p${String(Math.floor(net.random() * 1e9)).padStart(9, '0')}${i}`);
  const heard = ids.map(() => new Map<string, PeerHello>());
  const cluster: (string | null)[] = ids.map(() => null);
  const decidedAt: (number | undefined)[] = ids.map(() => undefined);
  const startedAt = ids.map(() => net.random() * 1000);
  let founders = 0;
  for (let i = 0; i < n; i++) {
    q.push(startedAt[i]!, { k: 'hello', i });
    q.push(startedAt[i]!, { k: 'decide', i });
  }
  const limit = 60_000;
  for (let e = q.pop(limit); e && decidedAt.some((d) => d === undefined); e = q.pop(limit)) {
    const now = q.now;
    if (e.k === 'hello') {
      q.push(now + 1000, e);
      // one gossip message; members and seekers alike hear it, after a latency
      const at = now + net.latency();
      for (let r = 0; r < n; r++) if (r !== e.i && net.delivers(e.i, r)) heard[r]!.set(ids[e.i]!, { id: ids[e.i]!, api: `http://${ids[e.i]}`, clusterId: cluster[e.i]!, lastSeen: at });
    } else if (decidedAt[e.i] === undefined) {
      const d = decideFounding({ selfId: ids[e.i]!, now, startedAt: startedAt[e.i]!, settleMs: 2500, helloTtlMs: HELLO_TTL_MS, joinTargets: [], peers: [...heard[e.i]!.values()] });
      if (d.type === 'found') {
        founders++;
        cluster[e.i] = ids[e.i]!;
        decidedAt[e.i] = now;
      } else if (d.type === 'join' && d.clusterId) {
        // it goes on to the admission queue; its hellos carry the cluster id only once admitted
        decidedAt[e.i] = now;
      } else q.push(now + 200, e);
    }
  }
  return { nodes: n, founders, allDecidedMs: decidedAt.every((d) => d !== undefined) ? Math.max(...(decidedAt as number[])) : NaN };
}
