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

  constructor(
    private readonly client: () => Etcd3 | undefined,
    readonly graceMs: number,
    private readonly onChange: (fenced: boolean) => void,
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
        await within(client.get(KEYS.cluster).string(), 1500, 'the quorum probe');
        this.lastOk = Date.now();
      }
    } catch {
      // no quorum (or no etcd at all): lastOk stays where it was
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
