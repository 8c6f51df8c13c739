import type { Etcd3 } from 'etcd3';
import { KEYS } from '../consensus/cluster-store.ts';
import { within } from '../system/within.ts';

/** How often the quorum is read: the grace counts from the last read that succeeded, up to this long before a cut. */
export const QUORUM_PROBE_MS = 1000;

/**
 * Fencing's sensor: a linearizable read every second tells whether this node still reaches the
 * etcd quorum. Past `graceMs` without one, the node is fenced (its reconciler stops its replicas:
 * the cluster has moved them by then, and a service must not run twice against the same data).
 */
export class QuorumWatch {
  private lastOk = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private failing = false;

  constructor(
    private readonly client: () => Etcd3 | undefined,
    readonly graceMs: number,
    private readonly onChange: (fenced: boolean) => void,
    /** told the first failed read after a good one (why the node may fence soon) */
    private readonly onFirstFailure: (err: string) => void = () => undefined,
  ) {}

  private wasFenced = false;
  /** when the quorum last came back after a fence (0: never fenced) */
  regainedAt = 0;

  start(): void {
    this.timer = setInterval(() => void this.probe(), QUORUM_PROBE_MS);
    void this.probe();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  get fenced(): boolean {
    return Date.now() - this.lastOk > this.graceMs;
  }

  /** ms since the quorum last answered */
  get sinceOkMs(): number {
    return Date.now() - this.lastOk;
  }

  private async probe(): Promise<void> {
    if (this.probing) return this.check();
    this.probing = true;
    try {
      const client = this.client();
      if (client) {
        await quorumRead(client);
        this.lastOk = Date.now();
        this.failing = false;
      }
    } catch (err) {
      // no quorum (or no etcd at all): lastOk stays where it was
      if (!this.failing) this.onFirstFailure(String(err));
      this.failing = true;
    } finally {
      this.probing = false;
    }
    this.check();
  }

  private check(): void {
    const now = this.fenced;
    if (now !== this.wasFenced) {
      this.wasFenced = now;
      if (!now) this.regainedAt = Date.now();
      this.onChange(now);
    }
  }
}

/**
 * One linearizable read, each attempt on its own short deadline: the etcd client retries a call
 * on the next host of a shuffled list, so a member that is cut off (it answers nothing until the
 * call's 5 s deadline) costs 500 ms instead of the probe. One read bound only as a whole made nodes
 * that still reach the quorum fence themselves (seen in the partition test), as did a second round
 * of random reads, about once in ten runs.
 */
async function quorumRead(client: Etcd3): Promise<void> {
  // a getter: etcd3 resolves call options again for every attempt (connection-pool.js exec)
  const perAttempt = {
    get deadline() {
      return Date.now() + 500;
    },
  };
  await within(client.get(KEYS.cluster).options(perAttempt).string(), 1500, 'the quorum probe');
}
