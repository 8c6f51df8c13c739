import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { planRecovery, parseRecoveryReport, type ReceivedReport, type RecoveryAction, type RecoveryReport } from '../core/quorum-recovery.ts';
import type { LivenessMap } from '../core/views.ts';
import { monoNow, wallOffset } from '../system/clock.ts';

/** how often a node looks at the quorum and gossips its view while it is lost */
const STEP_MS = 1000;
/** voters must have been lost (and the quorum gone) for this long before anyone acts */
export const RECOVERY_GRACE_MS = 4000;
/** a report counts this long after it arrived (senders repeat theirs every second) */
const FRESH_MS = 3500;

/** What the recovery driver needs of its node (Consensus provides it). */
export interface RecoveryHost {
  selfId: string;
  logger: Logger;
  clusterId(): string | null;
  /** admitted node ids (self included), as last read */
  registry(): string[];
  /** etcd voting members' node ids, as last read */
  voters(): string[];
  /** the raft index of this node's etcd member, when it runs one (undefined otherwise) */
  localIndex(): Promise<number | undefined>;
  quorumLostSince(): number | null;
  liveness(): LivenessMap;
  publish(report: RecoveryReport): Promise<void>;
  /** the endorsement this node made, kept across restarts */
  endorsement(): { voters: string[]; candidate: string; memberStopped?: boolean } | undefined;
  saveEndorsement(e: { voters: string[]; candidate: string; memberStopped?: boolean }): Promise<void>;
  /** stop this node's etcd member for good (it carries on as a client) */
  standDown(): Promise<void>;
  /** rebuild etcd from this node's data as a one-voter cluster */
  forceNewCluster(lost: string[], why: string): Promise<void>;
}

/**
 * The thin driver of src/core/quorum-recovery.ts: every second, while the node is a member, it
 * builds the machine's input from what the node knows, gossips its report and performs the
 * decision. Reports of other nodes arrive through `onReport` (admitted senders only).
 */
export class RecoveryDriver {
  private readonly reports = new Map<string, ReceivedReport>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private lastWhy = '';
  /** the last decision, for status and tests */
  last: RecoveryAction = { type: 'wait', why: 'not started' };

  constructor(private readonly h: RecoveryHost) {}

  start(): void {
    this.timer ??= setInterval(() => void this.step(), STEP_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A gossiped report (the caller checked that the signer is admitted). */
  onReport(from: string, msg: Record<string, unknown>): void {
    const report = parseRecoveryReport(msg);
    if (report && from !== this.h.selfId) this.reports.set(from, { from, report, receivedAt: monoNow() });
  }

  private async step(): Promise<void> {
    const clusterId = this.h.clusterId();
    if (this.busy || !clusterId) return;
    const quorumLostSince = this.h.quorumLostSince();
    if (quorumLostSince === null) {
      this.last = { type: 'wait', why: 'the quorum is healthy' };
      return;
    }
    this.busy = true;
    try {
      const endorsed = this.h.endorsement();
      const selfIndex = await this.h.localIndex();
      // the plan reads gossip's liveness and the quorum's loss in wall-clock ms as of now; the
      // reports were stamped on the local clock, which a jump of the wall clock does not move
      const now = Date.now();
      const toWall = wallOffset();
      const action = planRecovery({
        now,
        selfId: this.h.selfId,
        clusterId,
        registry: this.h.registry(),
        voters: this.h.voters(),
        ...(selfIndex !== undefined ? { selfIndex } : {}),
        selfMemberStopped: endorsed?.memberStopped === true,
        quorumLostSince,
        liveness: this.h.liveness(),
        reports: [...this.reports.values()].map((r) => ({ ...r, receivedAt: r.receivedAt + toWall })),
        ...(endorsed ? { endorsed } : {}),
        graceMs: RECOVERY_GRACE_MS,
        freshMs: FRESH_MS,
      });
      this.last = action;
      await this.perform(action);
    } catch (err) {
      this.h.logger.warn({ err: (err as Error).message }, 'quorum recovery step failed');
    } finally {
      this.busy = false;
    }
  }

  private async perform(action: RecoveryAction): Promise<void> {
    if (action.type === 'recover') {
      this.h.logger.warn({ lost: action.lost, endorsedBy: action.endorsedBy }, 'the etcd quorum is lost with half of the voters: rebuilding etcd from this node\'s data (endorsed by a majority of the admitted nodes)');
      await this.h.forceNewCluster(action.lost, `automatic: endorsed by ${action.endorsedBy.length} nodes`);
      this.reports.clear();
      return;
    }
    const report = action.report;
    if (action.type === 'stop-member') {
      // kept on disk before anything is said: after a restart this node neither endorses another
      // candidate nor starts its old etcd member again
      await this.h.saveEndorsement({ voters: action.report.voters, candidate: action.candidate, memberStopped: true });
      this.h.logger.warn({ candidate: action.candidate }, 'the etcd quorum is lost: stopping this voter\'s etcd member for good, so that the most up-to-date voter can rebuild the cluster');
      await this.h.standDown();
    } else if (report?.candidate && !this.h.endorsement()) {
      await this.h.saveEndorsement({ voters: report.voters, candidate: report.candidate });
    }
    if (action.type === 'wait' && action.why !== this.lastWhy) {
      this.lastWhy = action.why;
      // at info only once voters are really lost (a node still joining has no quorum either)
      this.h.logger[report ? 'info' : 'debug']({ why: action.why }, 'etcd quorum lost: quorum recovery waits');
    }
    if (report) await this.h.publish(report);
  }
}

/** The raft index of the etcd member behind `client` (one endpoint: this node's own member). */
export async function memberRaftIndex(client: Etcd3): Promise<number | undefined> {
  const status = await client.maintenance.status().catch(() => undefined);
  return status ? Number(status.raftIndex) : undefined;
}
