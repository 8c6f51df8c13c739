import type { EtcdRole, HealthFigures } from './views.ts';
import { MAX_HEARS } from './heartbeat-relay.ts';
import { MAX_USER_PAYLOAD_BYTES, TOPICS, isClusterEventName, userTopicProblem } from './topics.ts';

/**
 * Every gossip message is JSON. These validators are the only way a message from the network
 * enters the agent: anything malformed, oversized, or claiming another sender than the key that
 * signed it (gossipsub's StrictSign checks the signature itself) is rejected with a reason.
 */

export interface Heartbeat {
  type: 'heartbeat';
  id: string;
  incarnation: number;
  name: string;
  addr: string;
  api: string;
  p2p: string[];
  version: string;
  role: EtcdRole;
  health: HealthFigures;
  /**
   * Only on the last heartbeat of a graceful stop: the node will be back (same data dir) and asks
   * to be held for `graceMs` (src/core/membership/restart-hold.ts). Optional: older agents ignore it.
   */
  restart?: { graceMs: number };
  /**
   * The members whose heartbeats reached this node straight from them lately: its peers relay a
   * heartbeat to it only when it does not hear the author itself (src/core/heartbeat-relay.ts).
   * Optional: an agent that does not say gets every heartbeat relayed, as before.
   */
  hears?: string[];
}

export interface Leave {
  type: 'leave';
  id: string;
  incarnation: number;
}

export interface Rumor {
  type: 'rumor';
  id: string;
  about: string;
  state: 'alive' | 'suspect' | 'dead' | 'left';
  incarnation: number;
  /** set: a verdict told to this member alone (the others ignore it), so that it refutes */
  to?: string;
}

export type MembershipMessage = Leave | Rumor;

export interface WarrenEvent {
  /** nanoid */
  id: string;
  /** the gossip topic it was published on */
  topic: string;
  /** cluster event name, or the user topic */
  name: string;
  /** ms since the epoch */
  time: number;
  source: { id: string; name: string };
  payload: unknown;
  /** events with the same key report the same fact (several nodes may see one node die) */
  key?: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Upper bound on any message: a user payload plus its envelope. */
export const MAX_MESSAGE_BYTES = MAX_USER_PAYLOAD_BYTES + 4096;

const ROLES = new Set(['voter', 'learner', 'client', 'none']);
const STATES = new Set(['alive', 'suspect', 'dead', 'left']);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isInc = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function parse(data: Uint8Array): Validated<Record<string, unknown>> {
  if (data.byteLength > MAX_MESSAGE_BYTES) return { ok: false, reason: 'too_large' };
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  return isObj(value) ? { ok: true, value } : { ok: false, reason: 'not_object' };
}

function checkHealth(h: unknown): h is HealthFigures {
  if (!isObj(h) || !['cpuLoad', 'memUsedBytes', 'memTotalBytes', 'diskFreeBytes', 'containers', 'uptimeMs'].every((k) => isNum(h[k]))) return false;
  const v = h.volumesSafeAgoMs;
  return v === undefined || (isObj(v) && Object.keys(v).length <= 1000 && Object.values(v).every(isNum));
}

/** Validates a message received on `topic` and signed by `signer` (a peer id string). */
export function validateMessage(topic: string, signer: string, data: Uint8Array): Validated<Heartbeat | MembershipMessage | WarrenEvent> {
  const parsed = parse(data);
  if (!parsed.ok) return parsed;
  const m = parsed.value;
  if (topic === TOPICS.health) {
    const ok =
      m.type === 'heartbeat' && isStr(m.id) && isInc(m.incarnation) && isStr(m.name, 63) && isStr(m.addr, 64) && isStr(m.api, 300) &&
      Array.isArray(m.p2p) && m.p2p.length <= 16 && m.p2p.every((a) => isStr(a, 300)) && isStr(m.version, 64) &&
      ROLES.has(m.role as string) && checkHealth(m.health) && (m.restart === undefined || (isObj(m.restart) && isNum(m.restart.graceMs))) &&
      (m.hears === undefined || (Array.isArray(m.hears) && m.hears.length <= MAX_HEARS && m.hears.every((h) => isStr(h, 100))));
    if (!ok) return { ok: false, reason: 'bad_heartbeat' };
    if (m.id !== signer) return { ok: false, reason: 'sender_mismatch' };
    return { ok: true, value: m as unknown as Heartbeat };
  }
  if (topic === TOPICS.membership) {
    if (m.type === 'leave' && isStr(m.id) && isInc(m.incarnation)) {
      return m.id === signer ? { ok: true, value: m as unknown as Leave } : { ok: false, reason: 'sender_mismatch' };
    }
    if (m.type === 'rumor' && isStr(m.id) && isStr(m.about) && STATES.has(m.state as string) && isInc(m.incarnation) && (m.to === undefined || isStr(m.to))) {
      return m.id === signer ? { ok: true, value: m as unknown as Rumor } : { ok: false, reason: 'sender_mismatch' };
    }
    return { ok: false, reason: 'bad_membership' };
  }
  if (topic.startsWith(TOPICS.eventsPrefix) || topic.startsWith(TOPICS.userPrefix)) {
    const isCluster = topic.startsWith(TOPICS.eventsPrefix);
    const name = topic.slice((isCluster ? TOPICS.eventsPrefix : TOPICS.userPrefix).length);
    const nameOk = isCluster ? isClusterEventName(name) : userTopicProblem(name) === undefined;
    const src = m.source;
    const ok = nameOk && isStr(m.id, 64) && m.topic === topic && m.name === name && isNum(m.time) && isObj(src) && isStr(src.id) && isStr(src.name, 63) && 'payload' in m && (m.key === undefined || isStr(m.key));
    if (!ok) return { ok: false, reason: 'bad_event' };
    if (src.id !== signer) return { ok: false, reason: 'sender_mismatch' };
    return { ok: true, value: m as unknown as WarrenEvent };
  }
  return { ok: false, reason: 'unknown_topic' };
}

export function encodeMessage(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
