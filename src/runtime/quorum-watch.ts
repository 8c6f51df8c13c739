import type { Etcd3 } from 'etcd3';
import { KEYS } from '../consensus/cluster-store.ts';
import { within } from '../system/within.ts';
import { monoNow } from '../system/clock.ts';

/** How often the quorum is read: the grace counts from the last read that succeeded, up to this long before a cut. */
export const QUORUM_PROBE_MS = 1000;

/**
 * Fencing's sensor: a linearizable read every second tells whether this node still reaches the
 * etcd quorum. Past `graceMs` without one, the node is fenced (its reconciler stops its replicas:
 * the cluster has moved them by then, and a service must not run twice against the same data).
 */
export class QuorumWatch {
  private lastOk = monoNow();
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private failing = false;
  private hadClients = false;

  constructor(
    /** the clients to read through: one per etcd endpoint (or the one client of all of them) */
    private readonly clients: () => Etcd3[],
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
    return monoNow() - this.lastOk > this.graceMs;
  }

  /** ms since the quorum last answered */
  get sinceOkMs(): number {
    return monoNow() - this.lastOk;
  }

  private async probe(): Promise<void> {
    if (this.probing) return this.check();
    this.probing = true;
    try {
      const clients = this.clients();
      // a node not admitted yet runs nothing and has no quorum to lose: its clock starts at the
      // first client (it logged a fence while a slow admission was still under way)
      if (clients.length === 0 && !this.hadClients) this.lastOk = monoNow();
      if (clients.length > 0) {
        this.hadClients = true;
        await quorumRead(clients);
        this.lastOk = monoNow();
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
      if (!now) this.regainedAt = monoNow();
      this.onChange(now);
    }
  }
}

/**
 * One linearizable read through every member at once; the first answer proves the quorum (a
 * member serves it only after the leader has confirmed its lead with a quorum). Reads through
 * one pooled client went to hosts in random order, and a member cut off answers nothing until the
 * deadline: nodes that still reached the quorum fenced themselves now and then (one read bound as
 * a whole; then 500 ms attempts on the pool's next host: about once in six partition tests).
 */
async function quorumRead(clients: Etcd3[]): Promise<void> {
  const failed: string[] = [];
  const reads = clients.map((c) =>
    c
      .get(KEYS.cluster)
      .options({ deadline: Date.now() + PROBE_DEADLINE_MS })
      .string()
      .catch((err: Error) => {
        failed.push(err.message);
        throw err;
      }),
  );
  try {
    await within(Promise.any(reads), PROBE_DEADLINE_MS, 'the quorum probe');
  } catch {
    const silent = clients.length - failed.length;
    throw new Error(`no etcd member answered within ${PROBE_DEADLINE_MS} ms (${failed.length} failed: ${failed.join('; ') || '-'}; ${silent} silent)`);
  }
}

const PROBE_DEADLINE_MS = 1500;
