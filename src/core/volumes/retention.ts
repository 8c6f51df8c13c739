/**
 * Retention: which snapshots to keep at time `now`. Defaults: every snapshot of the last hour, then
 * the newest of each of the last 24 hours, 7 days, 4 weeks and 12 months that have snapshots (as
 * restic's --keep-within/--keep-hourly/...: a bucket with no snapshot does not count, so a volume
 * that was off for a month still keeps 24 hourly ones). Buckets are UTC; weeks start on Monday.
 * The newest snapshot and pinned ones (an old owner's unreplicated writes after a split brain) are
 * always kept. Pure: the driver deletes what is not kept, then collects the garbage.
 */

export interface RetentionPolicy {
  keepAllWithinMs: number;
  hourly: number;
  daily: number;
  weekly: number;
  monthly: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { keepAllWithinMs: 3_600_000, hourly: 24, daily: 7, weekly: 4, monthly: 12 };

export interface SnapshotTime {
  id: string;
  /** ms since the epoch */
  time: number;
  pinned?: boolean;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export type Bucket = 'hourly' | 'daily' | 'weekly' | 'monthly';

export function bucketOf(kind: Bucket, time: number): number {
  switch (kind) {
    case 'hourly': return Math.floor(time / HOUR);
    case 'daily': return Math.floor(time / DAY);
    // 1970-01-01 was a Thursday: shift by 3 days so a week runs Monday..Sunday
    case 'weekly': return Math.floor((Math.floor(time / DAY) + 3) / 7);
    case 'monthly': {
      const d = new Date(time);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    }
  }
}

export function validatePolicy(p: RetentionPolicy): string | undefined {
  for (const [k, v] of Object.entries(p)) {
    if (!Number.isSafeInteger(v) || v < 0) return `retention ${k} must be a whole number >= 0 (got ${v})`;
  }
  return undefined;
}

/** The ids to keep, with why each is kept (for `warren volume snapshots`). */
export function planRetention(snapshots: SnapshotTime[], now: number, policy: RetentionPolicy = DEFAULT_RETENTION): Map<string, string[]> {
  const keep = new Map<string, string[]>();
  const mark = (id: string, why: string) => {
    const reasons = keep.get(id) ?? [];
    reasons.push(why);
    keep.set(id, reasons);
  };
  // newest first; equal times by id so the plan never depends on input order
  const sorted = [...snapshots].sort((a, b) => b.time - a.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (sorted[0]) mark(sorted[0].id, 'newest');
  for (const s of sorted) {
    if (s.pinned) mark(s.id, 'pinned');
    if (s.time > now - policy.keepAllWithinMs) mark(s.id, 'within');
  }
  for (const kind of ['hourly', 'daily', 'weekly', 'monthly'] as const) {
    let left = policy[kind];
    let lastBucket: number | undefined;
    for (const s of sorted) {
      if (left === 0) break;
      const b = bucketOf(kind, s.time);
      if (b === lastBucket) continue;
      lastBucket = b;
      mark(s.id, kind);
      left--;
    }
  }
  return keep;
}
