/**
 * The precedence rules of src/core/membership.ts ("States and incarnations" in its module
 * comment): how first-hand evidence, rumors and leaves change one known member's record. Each
 * function changes only the record it is given and appends what it decided to `out`; the machine
 * has already validated the input and handled the local node and unknown members.
 */
import type { Entry, MemberState, Output } from './types.ts';

/**
 * A node declared dead while cut off never heard the verdict (the rumor was lost with the rest of
 * its traffic), so after the heal it keeps heartbeating at the same incarnation, which a dead
 * verdict ignores: it would stay dead in every view for good. Its heartbeats make us repeat the
 * verdict (at most this often) so that it hears it and refutes with a higher incarnation.
 */
const REASSERT_DEAD_EVERY_MS = 1000;

/** A member first heard of (first-hand) at incarnation `h`. */
export function newEntry<TInfo>(id: string, h: number, info: TInfo | undefined, t: number): Entry<TInfo> {
  return {
    id,
    state: 'alive',
    incarnation: h,
    info,
    lastHeardAt: t,
    stateSince: t,
    suspicion: null,
    round: null,
    failedRoundAt: null,
  };
}

/** First-hand evidence that known member `e` is alive at incarnation `h` (heartbeat or its own alive rumor). */
export function evidence<TInfo>(e: Entry<TInfo>, h: number, t: number, input: { info?: TInfo }, out: Output[]): void {
  if (h < e.incarnation) return; // stale (older incarnation)
  const same = h === e.incarnation;
  if (e.state === 'left' && same) return; // an old message
  if (e.state === 'dead' && same) {
    if (e.reassertedAt === undefined || t - e.reassertedAt >= REASSERT_DEAD_EVERY_MS) {
      e.reassertedAt = t;
      out.push({ type: 'tell', about: e.id, state: 'dead', incarnation: e.incarnation });
    }
    return;
  }
  if (input.info !== undefined) e.info = input.info;
  e.lastHeardAt = t;
  e.failedRoundAt = null;
  if (e.round) e.round.done = true;
  if (e.state === 'alive') {
    e.incarnation = h;
  } else if (e.state === 'suspect' && same && e.suspicion === 'rumor') {
    // Only the node's refutation (a higher incarnation) clears a rumored suspicion; the
    // evidence above still keeps it from being declared dead here.
  } else {
    setState(e, 'alive', h, t, out);
  }
}

/**
 * Another node's claim that known member `e` is `state` at incarnation `i`. `heardRecently`: this
 * machine heard `e` first-hand within its suspicion threshold (contradicts a dead verdict of the
 * same incarnation).
 */
export function rumorAbout<TInfo>(e: Entry<TInfo>, state: MemberState, i: number, t: number, heardRecently: boolean, out: Output[]): void {
  const k = e.incarnation;
  switch (state) {
    case 'alive':
      if (i > k) {
        if (e.state === 'alive') e.incarnation = i;
        else setState(e, 'alive', i, t, out);
      }
      break;
    case 'suspect':
      if (e.state === 'alive' && i >= k) {
        setState(e, 'suspect', i, t, out, 'rumor');
      } else if (e.state === 'suspect' && i > k) {
        e.incarnation = i;
        e.suspicion = 'rumor';
      }
      break;
    case 'dead':
      if ((e.state === 'alive' || e.state === 'suspect') && i === k && heardRecently) {
        // we heard this very incarnation ourselves moments ago: the verdict is contradicted (e.g.
        // an old one from a member that was cut off and just came back, whose suspicions of the
        // same member, sent before it, arrive first). It only raises a suspicion, which the node
        // refutes; if it really died, our own silence measure kills it.
        if (e.state === 'alive') setState(e, 'suspect', i, t, out, 'rumor');
        else e.suspicion = 'rumor';
      } else if ((e.state === 'alive' || e.state === 'suspect') && i >= k) setState(e, 'dead', i, t, out);
      else if (e.state === 'dead' && i > k) e.incarnation = i;
      else if (e.state === 'left' && i > k) setState(e, 'dead', i, t, out);
      break;
    case 'left':
      if (e.state !== 'left' ? i >= k : i > k) {
        if (e.state === 'left') e.incarnation = i;
        else setState(e, 'left', i, t, out);
      }
      break;
  }
}

/** Known member `e` announced its own graceful leave at incarnation `i`. */
export function leaveOf<TInfo>(e: Entry<TInfo>, i: number, t: number, out: Output[]): void {
  if (e.state === 'left') {
    if (i > e.incarnation) e.incarnation = i;
  } else if (i >= e.incarnation) {
    setState(e, 'left', i, t, out);
  }
}

/** Moves `e` to state `to` (and resets what the new state makes moot), reporting the change. */
export function setState<TInfo>(
  e: Entry<TInfo>,
  to: MemberState,
  incarnation: number,
  t: number,
  out: Output[],
  suspicion: 'local' | 'rumor' | null = null,
): void {
  const from = e.state;
  e.state = to;
  e.incarnation = incarnation;
  e.stateSince = t;
  e.suspicion = to === 'suspect' ? suspicion : null;
  if (to === 'alive' && from !== 'suspect') {
    // Revival from dead/left: a fresh detection period.
    e.lastHeardAt = t;
    e.failedRoundAt = null;
    e.round = null;
  } else if (to === 'alive') {
    e.failedRoundAt = null;
  } else if (to === 'dead' || to === 'left') {
    e.round = null;
    e.failedRoundAt = null;
  }
  out.push({ type: 'state', id: e.id, from, to, incarnation });
}
