import type { Logger } from 'pino';
import { messageOf } from '../core/errors.ts';
import { dueVolumes, tickMs, type ScheduledVolume } from '../core/volumes/volume-policy.ts';
import type { VolumeMeta } from '../core/volumes/volume-records.ts';

/**
 * The owner's snapshot timer (volume-driver.ts): wakes every `defaultMs` (the agent's
 * `--snapshot-interval-ms`), or as often as the shortest volume interval in use needs, and says
 * which volumes are due (core/volumes/volume-policy.ts). With no volume policy set it is one
 * timer at the agent's interval and every volume is due at every tick, as before policies.
 */
export class SnapshotSchedule {
  private timer: NodeJS.Timeout | undefined;
  private every = 0;
  private stopped = false;
  /** when each volume's last automatic cycle began (its interval counts from there) */
  private readonly last = new Map<string, number>();

  constructor(private readonly defaultMs: number, private readonly tick: () => void) {}

  start(): void {
    this.set(this.defaultMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** the timer's period now (ms) */
  get periodMs(): number {
    return this.every;
  }

  private set(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearInterval(this.timer);
    this.every = ms;
    this.timer = setInterval(this.tick, ms);
  }

  /**
   * Of the volumes to snapshot (each with its interval), those due at `now` and not `busy`: their
   * cycle counts as begun now. The timer follows the shortest interval among them all.
   */
  due(volumes: readonly { name: string; intervalMs: number }[], now: number, busy: (name: string) => boolean): string[] {
    const scheduled: ScheduledVolume[] = volumes.map((v) => ({ ...v, lastAt: this.last.get(v.name) }));
    const tick = tickMs(this.defaultMs, scheduled);
    if (tick !== this.every) this.set(tick);
    const due = dueVolumes(scheduled, now, tick).filter((name) => !busy(name));
    for (const name of due) this.last.set(name, now);
    for (const name of this.last.keys()) if (!volumes.some((v) => v.name === name)) this.last.delete(name);
    return due;
  }
}

/** The last cycle of each volume (a graceful stop, volume-driver.ts `finalSnapshots`), given at most `timeoutMs`. */
export async function finalCycles(volumes: readonly VolumeMeta[], cycle: (m: VolumeMeta) => Promise<{ snapshot: { id: string }; replicated: string[] }>, logger: Logger, timeoutMs: number): Promise<void> {
  if (volumes.length === 0) return;
  const all = Promise.all(volumes.map((m) => cycle(m).then(
    (r) => logger.info({ volume: m.name, snapshot: r.snapshot.id, peers: r.replicated.length }, 'final snapshot before stopping'),
    (err: unknown) => logger.warn({ volume: m.name, err: messageOf(err) }, 'final snapshot failed'),
  )));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((r) => (timer = setTimeout(() => {
    logger.warn({ timeoutMs }, 'final snapshots not done in time; stopping anyway');
    r();
  }, timeoutMs)));
  await Promise.race([all, late]).finally(() => clearTimeout(timer));
}
