/**
 * The chaos run's pure parts: the seeded fault schedule and workload, and the model of what the
 * cluster may hold after the writes the API acknowledged. No I/O here (unit-tested in
 * test/unit/chaos-model.test.ts); test/chaos/run.ts drives it against real agents.
 */
import { prng } from '../helpers/prng.ts';

export type FaultKind = 'kill-agent' | 'pause-agent' | 'pause-etcd' | 'kill-etcd' | 'partition' | 'remove-container' | 'restart-container' | 'cut-link' | 'kill-joiner' | 'restart-docker' | 'fill-disk' | 'clock-jump' | 'slow-disk';

/** The faults of the short in-suite run (its seeds' schedules stay as they were before the machine-wide ones came). */
export const CORE_FAULT_KINDS: readonly FaultKind[] = ['kill-agent', 'pause-agent', 'pause-etcd', 'kill-etcd', 'partition', 'remove-container', 'restart-container', 'cut-link', 'kill-joiner'];

/** Every fault: the core ones, the Docker engine restarted (under every node: they share it), a node's data disk filled or slowed and its wall clock stepped. */
export const FAULT_KINDS: readonly FaultKind[] = [...CORE_FAULT_KINDS, 'restart-docker', 'fill-disk', 'clock-jump', 'slow-disk'];

/** The faults that hit one node alone, which may come two at once (on two different nodes). */
export const PAIRED_KINDS: readonly FaultKind[] = ['kill-agent', 'pause-agent', 'pause-etcd', 'kill-etcd', 'partition', 'fill-disk', 'clock-jump', 'slow-disk'];
/** How often a fault of PAIRED_KINDS comes with a second one (when the schedule pairs faults). */
const PAIR_SHARE = 0.3;

export interface Fault {
  n: number;
  kind: FaultKind;
  /** index of the node it hits (agents are ordered as started) */
  node: number;
  /** how long the fault lasts before it is healed (kill: how long the agent stays down; kill-joiner: how long after its join request was queued the joiner dies) */
  holdMs: number;
  /** a number in [0, 1) to pick a container (container faults), the far end of a cut link or a clock's step with, drawn with the rest */
  pick: number;
  /** a second fault on another node, injected at the same moment and held side by side */
  also?: Fault;
}

/** How long each kind holds: long enough to cross the failure detector (~7.4 s) and the fence (8 s) sometimes. */
const HOLD_MS: Record<FaultKind, [number, number]> = {
  'kill-agent': [1000, 12_000],
  'pause-agent': [1000, 10_000],
  'pause-etcd': [1000, 10_000],
  'kill-etcd': [0, 0],
  partition: [2000, 14_000],
  'remove-container': [0, 0],
  'restart-container': [0, 0],
  'cut-link': [2000, 14_000],
  // from the moment its join request is queued: queued, admitted, while etcd adds it, after
  'kill-joiner': [0, 6000],
  // the engine's restart takes what it takes; the hold is how long it stays down
  'restart-docker': [0, 5000],
  'fill-disk': [2000, 14_000],
  'clock-jump': [2000, 14_000],
  'slow-disk': [2000, 14_000],
};

/**
 * A clock-jump fault's step of the node's wall clock, in seconds: back by 1-30 min or ahead by
 * 1-60 min (further back, the node would refuse the cluster's certificates, which start an hour
 * before they were made: a wrong clock, not a fault the cluster can ride out).
 */
export function clockStep(f: Pick<Fault, 'pick'>): number {
  return f.pick < 0.5 ? -Math.round(60 + (f.pick / 0.5) * 1740) : Math.round(60 + ((f.pick - 0.5) / 0.5) * 3540);
}

/**
 * A slow-disk fault's limit: 3-40 reads and as many writes a second on the node's data disk (an
 * SD card that is failing, or busy with another program's writes: a 4 KiB write and its fsync
 * then take from ~0.1 s to over a second, against ~1 ms).
 */
export function diskIops(f: Pick<Fault, 'pick'>): number {
  return Math.round(3 + f.pick * 37);
}

/** The far end of a cut-link fault: another node than `f.node`, picked by `f.pick`. */
export function linkPeer(f: Pick<Fault, 'node' | 'pick'>, nodes: number): number {
  return (f.node + 1 + Math.floor(f.pick * (nodes - 1))) % nodes;
}

/**
 * The seed's faults, one after the other. With `pairs`, some single-node faults come with a second
 * one on another node at the same moment (two nodes of five down at once, say); the draws for it
 * follow the fault's own, so a schedule without pairs is the same as it always was.
 */
export function faultSchedule(seed: number, nodes: number, count: number, kinds: readonly FaultKind[] = FAULT_KINDS, pairs = false): Fault[] {
  const rnd = prng(seed);
  const draw = (n: number, kinds: readonly FaultKind[], node: (r: number) => number): Fault => {
    const kind = kinds[Math.floor(rnd() * kinds.length)]!;
    const at = node(rnd());
    const [lo, hi] = HOLD_MS[kind];
    const holdMs = Math.round(lo + rnd() * (hi - lo));
    return { n, kind, node: at, holdMs, pick: rnd() };
  };
  const faults: Fault[] = [];
  for (let n = 1; n <= count; n++) {
    const f = draw(n, kinds, (r) => Math.floor(r * nodes));
    if (pairs && PAIRED_KINDS.includes(f.kind) && rnd() < PAIR_SHARE) {
      const paired = PAIRED_KINDS.filter((k) => kinds.includes(k));
      f.also = draw(n, paired, (r) => (f.node + 1 + Math.floor(r * (nodes - 1))) % nodes);
    }
    faults.push(f);
  }
  return faults;
}

/** What the chaos run keeps of a service: enough to see a lost or phantom write. */
export interface ModelService {
  replicas: number;
  /** the value of env CHAOS_V, bumped by updates */
  v: number;
}
/** undefined: the service does not exist */
export type ModelState = ModelService | undefined;

export type Op =
  | { kind: 'create'; name: string; replicas: number; v: number }
  | { kind: 'update'; name: string; replicas?: number; v?: number }
  | { kind: 'remove'; name: string };

/**
 * 'ok': 2xx; 'refused': 409 on create or 404 on update/remove (the precondition failed);
 * 'invalid': another 4xx (nothing applied); 'unknown': a timeout or 5xx (applied or not).
 */
export type Outcome = 'ok' | 'refused' | 'invalid' | 'unknown';

export const SERVICE_NAMES = ['chaos-a', 'chaos-b', 'chaos-c', 'chaos-d'];
const MAX_REPLICAS = 2;

/** The seed's workload: an endless supply of operations on a few services. */
export function workload(seed: number): () => Op {
  const rnd = prng((seed ^ 0x5bd1e995) >>> 0);
  let v = 0;
  return () => {
    const name = SERVICE_NAMES[Math.floor(rnd() * SERVICE_NAMES.length)]!;
    const r = rnd();
    const replicas = 1 + Math.floor(rnd() * MAX_REPLICAS);
    v++;
    if (r < 0.4) return { kind: 'create', name, replicas, v };
    if (r < 0.6) return { kind: 'update', name, replicas };
    if (r < 0.85) return { kind: 'update', name, v };
    return { kind: 'remove', name };
  };
}

function precondition(op: Op, s: ModelState): boolean {
  return op.kind === 'create' ? s === undefined : s !== undefined;
}

function apply(op: Op, s: ModelState): ModelState {
  if (op.kind === 'create') return { replicas: op.replicas, v: op.v };
  if (op.kind === 'remove') return undefined;
  return { replicas: op.replicas ?? s!.replicas, v: op.v ?? s!.v };
}

const key = (s: ModelState) => (s ? `${s.replicas}/${s.v}` : 'absent');

function dedupe(states: ModelState[]): ModelState[] {
  const seen = new Map<string, ModelState>();
  for (const s of states) seen.set(key(s), s);
  return [...seen.values()];
}

export function describe(s: ModelState): string {
  return s ? `replicas=${s.replicas} CHAOS_V=${s.v}` : 'absent';
}

/**
 * Every state each service may be in, given the answers the API gave. An acknowledged write
 * narrows it to the write's result; an unknown outcome widens it (applied or not). An answer no
 * candidate explains means an acknowledged write was lost (or one never made appeared).
 */
export class AckModel {
  private readonly candidates = new Map<string, ModelState[]>();
  /** services whose state no longer follows from the answers (after a violation), until the next check settles them */
  private readonly unknown = new Set<string>();
  readonly acked: { op: Op; at: number }[] = [];

  states(name: string): ModelState[] {
    return this.candidates.get(name) ?? [undefined];
  }

  names(): string[] {
    return SERVICE_NAMES;
  }

  /** Records an answer; returns a violation message when no candidate state explains it. */
  record(op: Op, outcome: Outcome, at = 0): string | undefined {
    if (outcome === 'ok') this.acked.push({ op, at });
    if (this.unknown.has(op.name)) return undefined;
    const before = this.states(op.name);
    let after: ModelState[];
    if (outcome === 'ok') {
      after = before.filter((s) => precondition(op, s)).map((s) => apply(op, s));
    } else if (outcome === 'invalid') {
      after = before;
    } else if (outcome === 'refused') {
      after = before.filter((s) => !precondition(op, s));
    } else {
      after = [...before, ...before.filter((s) => precondition(op, s)).map((s) => apply(op, s))];
    }
    if (after.length === 0) {
      // one loss is reported once: the next check's observation becomes the truth again
      this.unknown.add(op.name);
      return `${op.kind} ${op.name} answered ${outcome === 'ok' ? '2xx' : 'refused'}, but the acknowledged writes before it left it ${before.map(describe).join(' or ')}`;
    }
    this.candidates.set(op.name, dedupe(after));
    return undefined;
  }

  /** Whether `observed` is a state the service may be in; a message saying why not otherwise. */
  check(name: string, observed: ModelState): string | undefined {
    if (this.unknown.has(name)) return undefined;
    const states = this.states(name);
    if (states.some((s) => key(s) === key(observed))) return undefined;
    return `${name} is ${describe(observed)}, but the acknowledged writes allow only ${states.map(describe).join(' or ')}`;
  }

  /** After a check, the cluster's answer is the truth for the next writes. */
  settle(name: string, observed: ModelState): void {
    this.unknown.delete(name);
    this.candidates.set(name, [observed]);
  }

  /**
   * Whether the service's state is uncertain (an unanswered write): such a write may still land
   * later (an etcd proposal in flight commits once the partition heals), so the workload leaves
   * the service alone until a check has settled it.
   */
  inDoubt(name: string): boolean {
    return this.unknown.has(name) || this.states(name).length > 1;
  }

  /** The most replicas any candidate state wants (0 when it may be absent only). */
  maxReplicas(name: string): number {
    if (this.unknown.has(name)) return Infinity;
    return Math.max(0, ...this.states(name).map((s) => s?.replicas ?? 0));
  }
}
