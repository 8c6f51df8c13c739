import { validateMessage, type Heartbeat, type MembershipMessage, type WarrenEvent } from './gossip-messages.ts';
import type { Membership, MembershipOutput } from './membership.ts';
import { TOPICS } from './topics.ts';

/**
 * The rule that decides whether a gossip message counts, and what it does when it does: pure, so
 * the driver (src/gossip/gossip-service.ts) and the fuzz tests run the very same code.
 */

/** What the driver keeps of a member's heartbeat. */
export type GossipMemberInfo = Omit<Heartbeat, 'type' | 'incarnation' | 'id'> & { receivedAt: number };

export type GossipValue = Heartbeat | MembershipMessage | WarrenEvent;

/** Largest message accepted on the admission topic (its schema is the admission layer's). */
export const MAX_ADMISSION_MESSAGE_BYTES = 16 * 1024;

export interface GossipMessageIn {
  topic: string;
  /** false: an unsigned message (gossipsub's StrictSign should never deliver one) */
  signed: boolean;
  /** the peer id that signed the message */
  signer: string;
  data: Uint8Array;
}

export interface AcceptanceContext {
  /** Only admitted peers may change membership, health or events (absent: everybody is). */
  isAdmitted?: (peerId: string) => boolean;
  /** Whether the membership table still holds this peer (for a removed member's goodbye). */
  isKnownMember: (peerId: string) => boolean;
}

/**
 * accept: the message counts (and is forwarded); reject: malformed or forged, the sender is
 * penalised; ignore: well-formed maybe, but from a peer that may not speak here.
 */
export type Acceptance =
  | { verdict: 'accept'; kind: 'admission' }
  | { verdict: 'accept'; kind: 'cluster'; value: GossipValue }
  | { verdict: 'reject' | 'ignore'; reason: string };

/**
 * A member that has just left the registry may still say goodbye (its leave is ordered after
 * that): a leave, or a rumor that it itself left. Nothing else, or a removed machine could still
 * declare others dead.
 */
function isFarewell(topic: string, m: GossipValue, signer: string): boolean {
  if (topic !== TOPICS.membership || !('type' in m)) return false;
  if (m.type === 'leave') return m.id === signer;
  return m.type === 'rumor' && m.id === signer && m.about === signer && m.state === 'left';
}

/** Decides whether a received message counts. Never throws. */
export function acceptGossip(msg: GossipMessageIn, ctx: AcceptanceContext): Acceptance {
  if (!msg.signed) return { verdict: 'reject', reason: 'unsigned' };
  const { topic, signer, data } = msg;
  if (topic === TOPICS.admission) {
    // the only topic an unadmitted node may use; its schema is checked by the admission layer
    if (data.byteLength > MAX_ADMISSION_MESSAGE_BYTES) return { verdict: 'reject', reason: 'too_large' };
    return { verdict: 'accept', kind: 'admission' };
  }
  const admitted = !ctx.isAdmitted || ctx.isAdmitted(signer);
  // unadmitted traffic is parsed only when its sender may still say goodbye
  if (!admitted && !ctx.isKnownMember(signer)) return { verdict: 'ignore', reason: 'not_admitted' };
  const v = validateMessage(topic, signer, data);
  if (!admitted && !(v.ok && isFarewell(topic, v.value, signer))) return { verdict: 'ignore', reason: 'not_admitted' };
  if (!v.ok) return { verdict: 'reject', reason: v.reason };
  return { verdict: 'accept', kind: 'cluster', value: v.value };
}

/** An admission message's body: a JSON object, or undefined. Never throws. */
export function admissionBody(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(data)) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Feeds a message accepted on `topic` to the membership machine; an event comes back for the
 * driver to deliver to local subscribers instead. Dispatched by topic, never by the message's own
 * `type` field: an event may carry any extra fields, and must not pass for a rumor.
 * `now`: the machine's clock; `receivedAt`: wall clock.
 */
export function applyGossip(
  membership: Membership<GossipMemberInfo>,
  topic: string,
  m: GossipValue,
  now: number,
  receivedAt: number,
): { outputs: MembershipOutput[] } | { event: WarrenEvent } {
  if (topic === TOPICS.health) {
    // a restart notice and what the member hears are the driver's (core/membership/restart-hold.ts,
    // core/heartbeat-relay.ts), not part of the member's info
    const { type: _t, incarnation, id, restart: _r, hears: _h, ...info } = m as Heartbeat;
    return { outputs: membership.heartbeat(id, { incarnation, now, info: { ...info, receivedAt } }) };
  }
  if (topic === TOPICS.membership) {
    const mm = m as MembershipMessage;
    if (mm.type === 'leave') return { outputs: membership.leave(mm.id, { incarnation: mm.incarnation, now }) };
    // a verdict told to one member: only that member may act on it (it refutes); anyone else
    // taking it up would spread a cut-off node's stale view of the others
    if (mm.to !== undefined && mm.to !== membership.self.id) return { outputs: [] };
    return { outputs: membership.rumor(mm.about, { state: mm.state, incarnation: mm.incarnation, from: mm.id, now }) };
  }
  return { event: m as WarrenEvent };
}
