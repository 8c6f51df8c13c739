import type { HookOutcome } from './hook-queue.ts';

/** One finished run, as `warren hooks` shows it. */
export interface HookRun {
  event: string;
  eventId: string;
  startedAt: number;
  durationMs: number;
  outcome: HookOutcome;
  exitCode: number | null;
  signal: string | null;
  /** the last bytes of its output (stderr, else stdout), or why it could not start */
  output: string;
}

export interface HookView {
  path: string;
  /** false: the file is gone (or no longer executable) but ran before */
  present: boolean;
  running?: { event: string; startedAt: number };
  queued: number;
  runs: Record<HookOutcome, number>;
  dropped: number;
  /** newest first */
  lastRuns: HookRun[];
}

/** GET /v1/hooks */
export interface HooksResponse {
  dirs: string[];
  timeoutMs: number;
  hooks: HookView[];
}
