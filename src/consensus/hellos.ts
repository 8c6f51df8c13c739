import { HELLO_TTL_MS, answerHelloAtOnce, helloDue, type PeerHello } from '../core/founding.ts';
import { monoNow } from '../system/clock.ts';

/** hellos older than this are dropped (a node heard again after that is answered as a newcomer) */
const HELLO_FORGET_MS = 60_000;

/** What the hellos need of their node (Consensus provides it). */
export interface HellosDeps {
  nodeId: string;
  apiUrl: string;
  /** gossip: publish on warren/admission */
  publish: (msg: object) => Promise<void>;
  member(): boolean;
  /** the cluster this node is a member of (null while it is not one) */
  clusterId(): string | null;
}

/**
 * The hellos every node gossips (src/core/founding.ts decides with them): who else is out there
 * and in which cluster, so a fresh node joins a cluster it hears of and only one node founds.
 * A node checks every second whether a hello is due, and answers a newcomer at once.
 */
export class Hellos {
  private readonly peers = new Map<string, PeerHello>();
  private sentAt = 0;
  /** this node has decided to found a cluster (its hellos say so until it is a member) */
  private founding = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly d: HellosDeps) {}

  start(): void {
    this.timer = setInterval(() => {
      this.forgetOld(monoNow());
      if (helloDue({ now: monoNow(), lastSentAt: this.sentAt, member: this.d.member(), helloTtlMs: HELLO_TTL_MS, peers: this.list() })) void this.say();
    }, 1000);
    void this.say();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The nodes heard from in the last minute. */
  list(): PeerHello[] {
    return [...this.peers.values()];
  }

  /** How long ago node `id` last said hello (Infinity: not in the last minute). */
  heardAgo(id: string): number {
    const h = this.peers.get(id);
    return h ? monoNow() - h.lastSeen : Infinity;
  }

  /** This node founds a cluster: say so at once, so a fresh node that starts now waits for it. */
  foundingNow(): void {
    this.founding = true;
    void this.say();
  }

  async say(): Promise<void> {
    this.sentAt = monoNow();
    const member = this.d.member();
    if (member) this.founding = false; // founded: a node removed later that starts over is fresh
    await this.d.publish({ type: 'hello', id: this.d.nodeId, api: this.d.apiUrl, clusterId: member ? this.d.clusterId() : null, ...(this.founding && !member ? { founding: true } : {}) });
  }

  /** A message on warren/admission: true when it was a (well-formed) hello, which is then taken in. */
  take(signer: string, msg: Record<string, unknown>): boolean {
    if (msg.type !== 'hello' || msg.id !== signer || typeof msg.api !== 'string' || !(msg.clusterId === null || typeof msg.clusterId === 'string')) return false;
    const hello: PeerHello = { id: signer, api: msg.api, clusterId: msg.clusterId as string | null, ...(msg.founding === true ? { founding: true } : {}), lastSeen: monoNow() };
    const answer = answerHelloAtOnce(hello, this.peers.get(signer), hello.lastSeen, HELLO_TTL_MS);
    this.peers.set(signer, hello);
    // answer a newcomer (or a node back after a while) at once, so founding decisions do not
    // wait for the next round
    if (answer) void this.say();
    return true;
  }

  /** Nodes silent for a minute are forgotten (members say hello every 10 s): the map stays small. */
  private forgetOld(now: number): void {
    for (const [id, h] of this.peers) if (now - h.lastSeen > HELLO_FORGET_MS) this.peers.delete(id);
  }
}
