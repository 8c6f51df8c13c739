/**
 * The chaos run's volume invariant (issue 12: "volume data is never replaced by older data or an
 * empty volume"): one service appends a counter to a file in its replicated volume while faults
 * run, resuming from the file's last line wherever it starts. At every converged checkpoint the
 * live copy (the data dir of the node the cluster says runs it) must hold a contiguous counter
 * that did not go back further than the writes a move may lose (the data at risk), and the volume
 * must be protected again (copies on 2 other live nodes, recent ones): a move can only keep data
 * that was replicated.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HTTPD_IMAGE } from '../helpers/images.ts';
import type { AgentHandle } from '../helpers/agents.ts';
import { postService } from '../helpers/services.ts';
import type { ChaosNode } from './faults.ts';
import { runningOn, type Violation } from './invariants.ts';

export const VOLUME_SERVICE = 'chaos-vol';
const VOLUME = `${VOLUME_SERVICE}_data`;
/** the writer's pace; a loaded machine only slows it, which makes the allowance below looser */
const LINES_PER_S = 10;
/** how much a move may lose: the at-risk goal (5 s) of writes, counted from the last checkpoint */
const ALLOWED_LOSS_LINES = 5 * LINES_PER_S;
/** once converged, the data at risk is back under this (snapshots every 2 s; a loaded machine is slower) */
const CONVERGED_AT_RISK_MS = 15_000;

// a careful app on a full disk (the fill-disk fault): a line that could not be written whole is
// cut off again and written later, so the counter stays contiguous
const WRITER = [
  'n=$(busybox tail -n1 /data/counter 2>/dev/null); n=${n:-0}',
  'while :; do n=$((n+1)); s=$(busybox stat -c %s /data/counter 2>/dev/null || echo 0)',
  `echo "$n" >> /data/counter || { busybox truncate -s "$s" /data/counter; n=$((n-1)); }; busybox usleep ${Math.round(1_000_000 / LINES_PER_S)}; done`,
].join('; ');

/** What a checkpoint found, for the run's log. */
export interface VolumeReading {
  node: number;
  last: number;
}

export class VolumeWatch {
  /** the counter's value at the last good checkpoint minus what a later move may lose */
  private floor = 0;

  constructor(
    private readonly nodes: ChaosNode[],
    private readonly ids: string[],
  ) {}

  /** Creates the writer (1 replica, one replicated volume). */
  async create(via: AgentHandle): Promise<void> {
    const res = await postService(via, { name: VOLUME_SERVICE, image: HTTPD_IMAGE, command: ['sh', '-c', WRITER], volumes: ['data:/data'] });
    if (res.status !== 201) throw new Error(`creating ${VOLUME_SERVICE}: ${res.status} ${JSON.stringify(res.body)}`);
  }

  /** One pass at a checkpoint: [] and the reading when the invariant holds. */
  async check(): Promise<{ violations: Violation[]; reading?: VolumeReading }> {
    const on = await runningOn(this.nodes, this.ids, VOLUME_SERVICE);
    const node = on?.length === 1 ? on[0]! : -1;
    if (node < 0) return { violations: [{ check: 'volume', message: `${VOLUME_SERVICE} is not running on exactly one node` }] };
    const file = join(this.nodes[node]!.agent.dataDir, 'volume-data', VOLUME, 'counter');
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length === 0) {
      return { violations: this.floor > 0 ? [{ check: 'volume', message: `${VOLUME_SERVICE} runs on node ${node} on an empty volume (its counter had reached ${this.floor + ALLOWED_LOSS_LINES})` }] : [] };
    }
    const gap = lines.findIndex((l, i) => l !== String(i + 1));
    if (gap >= 0) return { violations: [{ check: 'volume', message: `the counter on node ${node} is not contiguous: line ${gap + 1} holds "${lines[gap]}"` }] };
    const last = lines.length;
    if (last < this.floor) {
      return { violations: [{ check: 'volume', message: `the counter on node ${node} went back to ${last}: more than ${ALLOWED_LOSS_LINES} lines (the at-risk goal) before the ${this.floor + ALLOWED_LOSS_LINES} of the last checkpoint` }] };
    }
    const unprotected = await this.protection(node);
    if (unprotected) return { violations: [{ check: 'volume', message: unprotected }] };
    return { violations: [], reading: { node, last } };
  }

  /** Why the volume is not protected as its owner sees it, or undefined when it is. */
  private async protection(node: number): Promise<string | undefined> {
    const res = await fetch(`${this.nodes[node]!.agent.api}/v1/volumes/${VOLUME}`, { signal: AbortSignal.timeout(2500) }).catch((err: Error) => err);
    if (res instanceof Error || res.status !== 200) return `node ${node} did not show ${VOLUME} (${res instanceof Error ? res.message : res.status})`;
    const v = ((await res.json()) as { volume: { state: string; atRiskMs: number | null; copies: { node: string; ageMs: number | null }[] } }).volume;
    if (v.state !== 'protected' || v.atRiskMs === null || v.atRiskMs > CONVERGED_AT_RISK_MS) {
      return `${VOLUME} is ${v.state} with ${v.atRiskMs === null ? 'all its data' : `${Math.round(v.atRiskMs / 1000)} s of data`} at risk (copies: ${v.copies.map((c) => `${c.node} ${c.ageMs === null ? '-' : `${Math.round(c.ageMs / 1000)} s`}`).join(', ')})`;
    }
    return undefined;
  }

  /** After a good checkpoint: what later moves may not go below. */
  settle(reading: VolumeReading): void {
    this.floor = Math.max(this.floor, reading.last - ALLOWED_LOSS_LINES);
  }
}
