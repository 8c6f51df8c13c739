/**
 * The membership machine's inputs, outputs and per-member record (src/core/membership.ts), and
 * the checks every input goes through before it may change anything.
 */
import type { MemberState } from '../views.ts';
import type { DetectorConfig } from './config.ts';

export type { MemberState };

export type ProbeMode = 'direct' | 'indirect';

export type MembershipOutput =
  | { type: 'state'; id: string; from: MemberState | 'unknown'; to: MemberState; incarnation: number }
  | { type: 'probe'; target: string; mode: 'direct' }
  | { type: 'probe'; target: string; mode: 'indirect'; via: string[] }
  | { type: 'refute'; incarnation: number }
  | { type: 'broadcast'; about: string; state: 'suspect' | 'dead'; incarnation: number }
  /** tell member `about` alone that it is held dead at `incarnation` (so that it refutes) */
  | { type: 'tell'; about: string; state: 'dead'; incarnation: number };
export type Output = MembershipOutput;

/** A read-only snapshot of one member (never the local node). */
export interface MemberSnapshot<TInfo = unknown> {
  id: string;
  state: MemberState;
  incarnation: number;
  /** Time (driver clock) of the newest evidence of life, or of the last timer reset. */
  lastHeardAt: number;
  /** Time the member entered its current state. */
  stateSince: number;
  /** For 'suspect': whether this machine's own probes raised it or a rumor did; else null. */
  suspicion: 'local' | 'rumor' | null;
  /** The latest `info` of an accepted heartbeat (opaque to the machine). */
  info: TInfo | undefined;
}

export interface MembershipOptions {
  selfId: string;
  /** Starting incarnation of the local node (non-negative integer; e.g. Date.now() at start). */
  incarnation?: number;
  config?: Partial<DetectorConfig>;
}

export interface HeartbeatInput<TInfo> {
  incarnation: number;
  now: number;
  info?: TInfo;
}

export interface ProbeResultInput {
  ok: boolean;
  via: ProbeMode;
  now: number;
  /**
   * For a failed indirect probe: the helper that reported failure. With it, the round fails once
   * every helper asked has failed; without it, `ok: false` means the whole indirect probe failed.
   */
  helper?: string;
}

export interface RumorInput {
  state: MemberState;
  incarnation: number;
  /** The node that originated the claim. */
  from: string;
  now: number;
}

export interface LeaveInput {
  incarnation: number;
  now: number;
}

export interface ProbeRound {
  phase: ProbeMode;
  directSentAt: number;
  indirectSentAt: number | null;
  deadline: number;
  via: string[];
  failedHelpers: Set<string>;
  /** Finished (succeeded, failed or made moot by other evidence); kept to date late answers. */
  done: boolean;
}

export interface Entry<TInfo> {
  id: string;
  state: MemberState;
  incarnation: number;
  info: TInfo | undefined;
  lastHeardAt: number;
  stateSince: number;
  suspicion: 'local' | 'rumor' | null;
  round: ProbeRound | null;
  /** When a probe round last failed, reset by any evidence of life; null if none since. */
  failedRoundAt: number | null;
  /** When this machine last re-broadcast its dead verdict to the (still talking) node itself. */
  reassertedAt?: number;
}

export const STATES: ReadonlySet<string> = new Set(['alive', 'suspect', 'dead', 'left']);

export function isIncarnation(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

export function isId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0;
}

export function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function snapshot<TInfo>(e: Entry<TInfo>): MemberSnapshot<TInfo> {
  return {
    id: e.id,
    state: e.state,
    incarnation: e.incarnation,
    lastHeardAt: e.lastHeardAt,
    stateSince: e.stateSince,
    suspicion: e.suspicion,
    info: e.info,
  };
}
