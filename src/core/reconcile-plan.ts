import type { ContainerHealth, ContainerSpec, FailureKind, ReplicaStatus } from './service-types.ts';

/** A replica this node is assigned (from the leader's assignments). */
export interface DesiredReplica {
  service: string;
  slot: number;
  generation: number;
  spec: ContainerSpec;
}

/** A container of this node and cluster, as Docker lists it (labels decoded). */
export interface ActualContainer {
  id: string;
  service: string;
  slot: number;
  generation: number;
  state: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  exitCode?: number;
  ports: ReplicaStatus['ports'];
  /** its own IPv4 address on its Docker network, when this host reaches it there directly */
  ip?: string;
  /** the stack whose network it is on (label warren.stack) */
  stack?: string;
  health?: ContainerHealth;
}

/** What the driver remembers of one replica (service/slot/generation) between passes. */
export interface ReplicaMemory {
  restarts: number;
  /** no create/start before this time (crash and pull back-off) */
  notBefore: number;
  failure?: { kind: FailureKind; reason: string };
}

export interface ReconcileInput {
  now: number;
  /** cut off from the etcd quorum for longer than the grace: stop everything, start nothing */
  fenced: boolean;
  desired: DesiredReplica[];
  actual: ActualContainer[];
  memory: Record<string, ReplicaMemory | undefined>;
  /** replicas with an operation in flight (pull, create): left alone this pass */
  busy: ReadonlySet<string>;
}

export type ReconcileAction =
  /** `graceful`: the container runs, so it gets its stop signal and grace first (as `docker stop`) */
  | { kind: 'remove'; containerId: string; reason: string; graceful?: true }
  | { kind: 'stop'; containerId: string; reason: string }
  | { kind: 'create'; replica: DesiredReplica }
  | { kind: 'start'; containerId: string; replica: DesiredReplica; restart: boolean };

export const replicaKey = (r: { service: string; slot: number; generation: number }) => `${r.service}/${r.slot}/${r.generation}`;

/** Back-off before the n-th restart of a crashing replica: 0.5 s doubling, at most 30 s. */
export const restartDelayMs = (restarts: number) => Math.min(30_000, 500 * 2 ** Math.min(restarts, 6));

const ACTIVE = new Set<ActualContainer['state']>(['running', 'restarting', 'paused']);

/**
 * One level-triggered pass: what to do so that Docker on this node matches its assignments.
 * Pure: the driver lists containers, calls this, performs the actions, and calls it again later.
 */
export function planReconcile(input: ReconcileInput): ReconcileAction[] {
  const actions: ReconcileAction[] = [];
  if (input.fenced) {
    for (const c of input.actual) if (ACTIVE.has(c.state)) actions.push({ kind: 'stop', containerId: c.id, reason: 'fenced: no etcd quorum' });
    return actions;
  }
  const wanted = new Map(input.desired.map((d) => [replicaKey(d), d]));
  const kept = new Map<string, ActualContainer>();
  // prefer a running container when several exist for one replica (e.g. after a Docker restart)
  const ordered = [...input.actual].sort((a, b) => Number(ACTIVE.has(b.state)) - Number(ACTIVE.has(a.state)));
  for (const c of ordered) {
    const key = replicaKey(c);
    if (input.busy.has(key) || c.state === 'removing') continue;
    // a running app being moved, updated or removed gets SIGTERM and its grace, as Compose, Swarm
    // and Nomad give it (a database would otherwise replay its journal after every update)
    const graceful = ACTIVE.has(c.state) ? { graceful: true as const } : {};
    if (!wanted.has(key)) actions.push({ kind: 'remove', containerId: c.id, reason: 'not assigned to this node', ...graceful });
    else if (c.state === 'dead') actions.push({ kind: 'remove', containerId: c.id, reason: 'Docker marked it dead' });
    else if (kept.has(key)) actions.push({ kind: 'remove', containerId: c.id, reason: 'duplicate', ...graceful });
    else kept.set(key, c);
  }
  for (const [key, d] of wanted) {
    if (input.busy.has(key)) continue;
    const c = kept.get(key);
    const mem = input.memory[key];
    const due = !mem || input.now >= mem.notBefore;
    if (!c) {
      if (due) actions.push({ kind: 'create', replica: d });
    } else if (c.state === 'created') {
      if (due) actions.push({ kind: 'start', containerId: c.id, replica: d, restart: false });
    } else if (c.state === 'exited') {
      const policy = d.spec.restart;
      const wantsRestart = policy === 'always' || (policy === 'on-failure' && c.exitCode !== 0);
      if (wantsRestart && due) actions.push({ kind: 'start', containerId: c.id, replica: d, restart: true });
    }
  }
  return actions;
}
