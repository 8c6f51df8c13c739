import { TopicValidatorResult, type Message } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import type { Heartbeat, MembershipMessage, WarrenEvent } from '../core/gossip-messages.ts';
import { acceptGossip, type Acceptance } from '../core/gossip-acceptance.ts';
import { HeartbeatRelay } from '../core/heartbeat-relay.ts';
import { TOPICS, topicFamily } from '../core/topics.ts';
import { meshPeers, type P2PNode } from './libp2p-node.ts';

export type Counters = Map<string, number>;

export function count(counters: Counters, key: string): void {
  counters.set(key, (counters.get(key) ?? 0) + 1);
}

export interface IntakeDeps {
  p2p: P2PNode;
  log: Logger;
  isAdmitted?: (peerId: string) => boolean;
  isKnownMember: (id: string) => boolean;
  /** the detector's clock (ms) and the heartbeat interval now */
  now: () => number;
  interval: () => number;
  /** hands a message that is kept (not forwarded) to the driver: gossipsub delivers only what it forwards */
  deliver: (msg: Message) => void;
}

/**
 * What comes in over gossip, before it counts: every topic's validator (schema, size, sender,
 * admission), the counters of what was dropped and accepted, and which heartbeats go on to the
 * mesh (core/heartbeat-relay.ts). The driver (gossip-service.ts) applies what this accepts.
 */
export class GossipIntake {
  readonly dropped: Counters = new Map();
  /** messages accepted (each counted once, however many copies arrived), by topic family */
  readonly received: Counters = new Map();
  /** heartbeats of others passed on to the mesh ("relayed") or not ("kept") */
  readonly relayed: Counters = new Map();
  private readonly relay = new HeartbeatRelay();
  /** values the topic validator accepted, by message bytes (collected with the message) */
  private readonly validated = new WeakMap<Uint8Array, Heartbeat | MembershipMessage | WarrenEvent>();

  constructor(private readonly deps: IntakeDeps) {}

  private get pubsub() {
    return this.deps.p2p.services.pubsub;
  }

  /** Subscribes and installs the validator that guards a topic. */
  watch(topic: string): void {
    this.pubsub.topicValidators.set(topic, (peer: PeerId, msg: Message) => this.validate(msg, peer));
    this.pubsub.subscribe(topic);
  }

  unwatch(topic: string): void {
    this.pubsub.unsubscribe(topic);
    this.pubsub.topicValidators.delete(topic);
  }

  /** A delivered message's value: parsed by the validator already, or checked here by the same rule. */
  value(msg: Message): Heartbeat | MembershipMessage | WarrenEvent | undefined {
    const m = this.validated.get(msg.data);
    if (m) return m;
    const a = this.accept(msg);
    return a.verdict === 'accept' && a.kind === 'cluster' ? a.value : undefined;
  }

  /** The members whose heartbeats reach this node straight from them, for its own heartbeat. */
  hears(): string[] {
    return this.relay.hears(this.deps.now(), this.deps.interval());
  }

  /** A member that died or left. */
  forget(id: string): void {
    this.relay.forget(id);
  }

  private validate(msg: Message, source: PeerId): TopicValidatorResult {
    const a = this.accept(msg);
    if (a.verdict !== 'accept') {
      count(this.dropped, a.reason);
      if (a.verdict === 'reject') this.deps.log.debug({ topic: msg.topic, from: msg.type === 'signed' ? msg.from.toString() : undefined, reason: a.reason }, 'gossip message dropped');
      return a.verdict === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore;
    }
    // the delivered message carries the same bytes: the driver takes the parsed value from here
    if (a.kind === 'cluster') this.validated.set(msg.data, a.value);
    count(this.received, topicFamily(msg.topic));
    if (msg.topic === TOPICS.health && a.kind === 'cluster' && !this.relays(a.value as Heartbeat, source.toString())) {
      // delivered here, not forwarded: gossipsub neither delivers nor forwards what is ignored
      this.deps.deliver(msg);
      return TopicValidatorResult.Ignore;
    }
    return TopicValidatorResult.Accept;
  }

  /** Notes what a heartbeat says and where it came from; true when it should go on to the mesh. */
  private relays(hb: Heartbeat, source: string): boolean {
    const now = this.deps.now();
    this.relay.heard(hb.id, source, now);
    this.relay.report(hb.id, hb.hears, now);
    const mesh = meshPeers(this.deps.p2p, TOPICS.health);
    // a last heartbeat before a restart reaches everyone by every path
    const relay = hb.restart !== undefined || mesh === undefined || this.relay.shouldRelay(hb.id, source, mesh, now, this.deps.interval());
    count(this.relayed, relay ? 'relayed' : 'kept');
    return relay;
  }

  private accept(msg: Message): Acceptance {
    const signed = msg.type === 'signed';
    return acceptGossip(
      { topic: msg.topic, signed, signer: signed ? msg.from.toString() : '', data: msg.data },
      { isAdmitted: this.deps.isAdmitted, isKnownMember: this.deps.isKnownMember },
    );
  }
}
