/**
 * The chaos run's workload: creates, updates and removes services through the API of the nodes in
 * turn, one operation at a time, and records every answer in the model. Paused while invariants
 * are checked, so the cluster has a fixed target to converge to.
 */
import { HTTPD_IMAGE } from '../helpers/images.ts';
import { adminHeaders } from '../helpers/services.ts';
import type { ChaosNode } from './faults.ts';
import type { AckModel, Op, Outcome } from './model.ts';

export interface WorkloadStats {
  ops: number;
  acked: number;
  unknown: number;
}

function request(op: Op): { method: string; path: string; body?: unknown } {
  if (op.kind === 'create') return { method: 'POST', path: '/v1/services', body: { name: op.name, image: HTTPD_IMAGE, replicas: op.replicas, env: { CHAOS_V: String(op.v) } } };
  if (op.kind === 'remove') return { method: 'DELETE', path: `/v1/services/${op.name}` };
  return { method: 'PATCH', path: `/v1/services/${op.name}`, body: { ...(op.replicas !== undefined ? { replicas: op.replicas } : {}), ...(op.v !== undefined ? { env: { CHAOS_V: String(op.v) } } : {}) } };
}

function outcomeOf(op: Op, status: number): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  if ((op.kind === 'create' && status === 409) || (op.kind !== 'create' && status === 404)) return 'refused';
  if (status >= 400 && status < 500) return 'invalid';
  return 'unknown';
}

export class Workload {
  readonly stats: WorkloadStats = { ops: 0, acked: 0, unknown: 0 };
  readonly lastWriteAt = new Map<string, number>();
  private paused = true;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private turn = 0;

  constructor(
    private readonly nodes: ChaosNode[],
    private readonly next: () => Op,
    private readonly model: AckModel,
    private readonly onViolation: (message: string) => void,
    private readonly gapMs = 700,
    /** the run's start: a write's times are printed from it, as the run's own lines are */
    private readonly origin = Date.now(),
  ) {}

  resume(): void {
    this.paused = false;
    this.loop ??= this.run();
  }

  /** Resolves once no operation is in flight. */
  async pause(): Promise<void> {
    this.paused = true;
    while (this.inFlight) await new Promise((r) => setTimeout(r, 50));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.paused = true;
    await this.loop;
  }

  private inFlight = false;
  /** every write sent, with the node it went to and the status it got (0: no answer) */
  readonly history: { sentAt: number; at: number; node: number; op: Op; status: number }[] = [];

  /** A service's last writes, for a violation's message. */
  historyOf(name: string, last = 6): string {
    const t = (ms: number) => `${((ms - this.origin) / 1000).toFixed(1)}s`;
    return this.history.filter((h) => h.op.name === name).slice(-last)
      .map((h) => `${t(h.sentAt)}-${t(h.at)} ${h.op.kind}${h.op.kind === 'remove' ? '' : ` ${JSON.stringify({ ...h.op, kind: undefined, name: undefined })}`} via node ${h.node} -> ${h.status || 'no answer'}`)
      .join('; ');
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.paused) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      this.inFlight = true;
      try {
        await this.one();
      } finally {
        this.inFlight = false;
      }
      await new Promise((r) => setTimeout(r, this.gapMs));
    }
  }

  private async one(): Promise<void> {
    // a service with an unanswered write waits for the next check (see AckModel.inDoubt)
    let op = this.next();
    for (let tries = 0; this.model.inDoubt(op.name) && tries < 20; tries++) op = this.next();
    if (this.model.inDoubt(op.name)) return;
    const i = this.turn++ % this.nodes.length;
    const node = this.nodes[i]!;
    const req = request(op);
    let status = 0;
    const sentAt = Date.now();
    try {
      const res = await fetch(`${node.agent.api}${req.path}`, { method: req.method, headers: await adminHeaders(node.agent), body: req.body === undefined ? undefined : JSON.stringify(req.body), signal: AbortSignal.timeout(15_000) });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      // no answer: unknown outcome
    }
    const outcome = outcomeOf(op, status);
    this.stats.ops++;
    if (outcome === 'ok') this.stats.acked++;
    if (outcome === 'unknown') this.stats.unknown++;
    this.lastWriteAt.set(op.name, Date.now());
    this.history.push({ sentAt, at: Date.now(), node: i, op, status });
    const lost = this.model.record(op, outcome, Date.now());
    if (lost) this.onViolation(`${lost}; its writes: ${this.historyOf(op.name)}`);
  }
}
