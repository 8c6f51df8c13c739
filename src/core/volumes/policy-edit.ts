/**
 * A volume policy as a person edits it, field by field as text (`warren volume policy`'s flags,
 * the web UI's form): durations such as 30s or 1h, counts, "default" to unset a field. Pure, so
 * the CLI and the page accept and refuse exactly the same.
 */
import { UserError } from '../errors.ts';
import { MAX_INTERVAL_MS, MIN_INTERVAL_MS, parseDurationText, type VolumePolicyRecord } from './volume-policy.ts';

export interface PolicyFlags {
  interval?: string;
  keepWithin?: string;
  hourly?: string;
  daily?: string;
  weekly?: string;
  monthly?: string;
  reset?: boolean;
}

const COUNT_FLAGS = { hourly: '--hourly', daily: '--daily', weekly: '--weekly', monthly: '--monthly' } as const;

/** True when the flags change the policy (none: show it). */
export function changesPolicy(f: PolicyFlags): boolean {
  return f.reset === true || [f.interval, f.keepWithin, f.hourly, f.daily, f.weekly, f.monthly].some((v) => v !== undefined);
}

/**
 * The record to send: the volume's current set fields with the flags over them (`default` unsets
 * one); `--reset` alone: every default. Errors name the flag.
 */
export function policyFromFlags(current: VolumePolicyRecord, f: PolicyFlags): VolumePolicyRecord {
  if (f.reset) {
    if ([f.interval, f.keepWithin, f.hourly, f.daily, f.weekly, f.monthly].some((v) => v !== undefined)) throw new UserError('bad_flag', '--reset goes back to every default: give it alone');
    return {};
  }
  const out: VolumePolicyRecord = { ...current, retention: { ...current.retention } };
  const retention = out.retention!;
  if (f.interval !== undefined) {
    if (f.interval === 'default') delete out.intervalMs;
    else {
      const ms = parseDurationText(f.interval);
      if (ms === undefined || ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS) throw new UserError('bad_flag', `--interval must be a duration from 1s to 24h such as 30s, 5m or 1h (or "default"), got "${f.interval}"`);
      out.intervalMs = ms;
    }
  }
  if (f.keepWithin !== undefined) {
    if (f.keepWithin === 'default') delete retention.keepAllWithinMs;
    else {
      const ms = parseDurationText(f.keepWithin);
      if (ms === undefined) throw new UserError('bad_flag', `--keep-within must be a duration such as 10m, 1h or 7d, or 0 (or "default"), got "${f.keepWithin}"`);
      retention.keepAllWithinMs = ms;
    }
  }
  for (const [key, flag] of Object.entries(COUNT_FLAGS) as [keyof typeof COUNT_FLAGS, string][]) {
    const v = f[key];
    if (v === undefined) continue;
    if (v === 'default') delete retention[key];
    else if (/^\d+$/.test(v)) retention[key] = Number(v);
    else throw new UserError('bad_flag', `${flag} must be a whole number >= 0 (or "default"), got "${v}"`);
  }
  if (Object.keys(retention).length === 0) delete out.retention;
  return out;
}
