/**
 * A volume's own snapshot interval and retention (`warren volume policy`, issue 13): a small etcd
 * record, `/warren/volume-policy/<volume>` → `{ intervalMs?, retention?: { keepAllWithinMs?,
 * hourly?, daily?, weekly?, monthly? } }` (volume-records.ts). A field left out is the agent's
 * default (`--snapshot-interval-ms`, the agent's retention); no record, every default. Pure: the
 * validation of what a person sends, the merge with the defaults, and which volumes are due.
 */
import type { RetentionPolicy } from './retention.ts';
import { DURATION_UNITS_MS, parseUnitDuration, type DurationUnit } from '../duration-text.ts';

export interface VolumePolicyRecord {
  intervalMs?: number;
  retention?: Partial<RetentionPolicy>;
}

export interface EffectivePolicy {
  intervalMs: number;
  retention: RetentionPolicy;
  /** the fields that are the agent's defaults (not set for this volume): `intervalMs`, `retention.hourly`, ... */
  defaults: string[];
}

/** a volume's interval: at least a second (a cycle scans the whole tree), at most a day */
export const MIN_INTERVAL_MS = 1000;
export const MAX_INTERVAL_MS = 86_400_000;
/** retention bounds: beyond these a setting is a typo, not a wish */
export const MAX_KEEP_WITHIN_MS = 10 * 365 * 86_400_000;
export const MAX_KEEP_COUNT = 10_000;

export const RETENTION_FIELDS = ['keepAllWithinMs', 'hourly', 'daily', 'weekly', 'monthly'] as const;

export type PolicyCheck = { ok: true; record: VolumePolicyRecord } | { ok: false; field: string; message: string };

const fail = (field: string, message: string): PolicyCheck => ({ ok: false, field, message });
const shown = (v: unknown) => JSON.stringify(v) ?? String(v);

/**
 * Checks a policy as a person sends it (`PUT /v1/volumes/:name/policy`'s body). `{}` and
 * `{ "reset": true }` mean every default (an empty record). The message names the bad field.
 */
export function checkPolicy(body: unknown): PolicyCheck {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return fail('', 'the policy must be a JSON object such as {"intervalMs": 30000, "retention": {"daily": 7}}');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (k !== 'intervalMs' && k !== 'retention' && k !== 'reset') return fail(k, `unknown field "${k}" (expected intervalMs, retention or reset)`);
  }
  if (b.reset !== undefined) {
    if (b.reset !== true) return fail('reset', `reset must be true (got ${shown(b.reset)})`);
    if (b.intervalMs !== undefined || b.retention !== undefined) return fail('reset', 'reset goes back to every default: send it alone');
    return { ok: true, record: {} };
  }
  const record: VolumePolicyRecord = {};
  if (b.intervalMs !== undefined) {
    const v = b.intervalMs;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < MIN_INTERVAL_MS || v > MAX_INTERVAL_MS) {
      return fail('intervalMs', `intervalMs must be a whole number of milliseconds from ${MIN_INTERVAL_MS} (1s) to ${MAX_INTERVAL_MS} (24h) (got ${shown(v)})`);
    }
    record.intervalMs = v;
  }
  if (b.retention !== undefined) {
    const r = b.retention;
    if (!r || typeof r !== 'object' || Array.isArray(r)) return fail('retention', 'retention must be an object such as {"keepAllWithinMs": 3600000, "hourly": 24, "daily": 7, "weekly": 4, "monthly": 12}');
    const out: Partial<RetentionPolicy> = {};
    for (const [k, v] of Object.entries(r as Record<string, unknown>)) {
      if (!(RETENTION_FIELDS as readonly string[]).includes(k)) return fail(`retention.${k}`, `unknown field "retention.${k}" (expected ${RETENTION_FIELDS.join(', ')})`);
      const max = k === 'keepAllWithinMs' ? MAX_KEEP_WITHIN_MS : MAX_KEEP_COUNT;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
        const what = k === 'keepAllWithinMs' ? 'a whole number of milliseconds' : 'a whole number';
        return fail(`retention.${k}`, `retention.${k} must be ${what} from 0 to ${max} (got ${shown(v)})`);
      }
      out[k as keyof RetentionPolicy] = v;
    }
    if (Object.keys(out).length) record.retention = out;
  }
  return { ok: true, record };
}

/**
 * The policy a volume runs on: its record's fields over the defaults. A record that does not
 * pass `checkPolicy` (written by hand into etcd) counts field by field: a bad field is a default.
 */
export function effectivePolicy(record: unknown, defaults: { intervalMs: number; retention: RetentionPolicy }): EffectivePolicy {
  const rec = (record && typeof record === 'object' ? record : {}) as Record<string, unknown>;
  const set = (body: unknown) => checkPolicy(body).ok;
  const interval = set({ intervalMs: rec.intervalMs }) && rec.intervalMs !== undefined ? (rec.intervalMs as number) : undefined;
  const given = (rec.retention && typeof rec.retention === 'object' ? rec.retention : {}) as Record<string, unknown>;
  const retention = { ...defaults.retention };
  const out: string[] = interval === undefined ? ['intervalMs'] : [];
  for (const k of RETENTION_FIELDS) {
    if (given[k] !== undefined && set({ retention: { [k]: given[k] } })) retention[k] = given[k] as number;
    else out.push(`retention.${k}`);
  }
  return { intervalMs: interval ?? defaults.intervalMs, retention, defaults: out };
}

/** The fields a volume sets (the record, without what is default or invalid): what a CLI merges its flags into. */
export function setFields(p: EffectivePolicy): VolumePolicyRecord {
  const out: VolumePolicyRecord = {};
  if (!p.defaults.includes('intervalMs')) out.intervalMs = p.intervalMs;
  const retention: Partial<RetentionPolicy> = {};
  for (const k of RETENTION_FIELDS) if (!p.defaults.includes(`retention.${k}`)) retention[k] = p.retention[k];
  if (Object.keys(retention).length) out.retention = retention;
  return out;
}

export interface ScheduledVolume {
  name: string;
  intervalMs: number;
  /** when its last automatic cycle began (undefined: none yet in this process: due at once) */
  lastAt?: number;
}

/**
 * How often the snapshot loop wakes: the agent's interval, or the shortest volume interval in
 * use when that is shorter. With every volume on the default it is the agent's interval, as before.
 */
export function tickMs(defaultMs: number, volumes: readonly ScheduledVolume[]): number {
  return Math.min(defaultMs, ...volumes.map((v) => v.intervalMs));
}

/**
 * The volumes due at `now`: never cycled yet, or their interval has passed since their last
 * cycle began, less half a tick (a timer fires a little early or late; without the slack a
 * volume on the tick's own interval would skip every other tick).
 */
export function dueVolumes(volumes: readonly ScheduledVolume[], now: number, tick: number): string[] {
  return volumes.filter((v) => v.lastAt === undefined || now - v.lastAt >= v.intervalMs - tick / 2).map((v) => v.name);
}


/** the units of a policy's durations, largest first */
const UNITS: readonly DurationUnit[] = ['w', 'd', 'h', 'm', 's', 'ms'];

/** A duration as people type it: `30s`, `5m`, `1h30m`, `7d`, `2w`, `500ms`, `0`; undefined when malformed. */
export function parseDurationText(text: string): number | undefined {
  if (text.trim() === '0') return 0;
  return parseUnitDuration(text, UNITS);
}

/** The inverse of `parseDurationText`: the largest whole units first (`10m`, `1h30m`, `7d`, `1s500ms`). */
export function durationText(ms: number): string {
  if (ms === 0) return '0';
  let left = ms;
  let out = '';
  for (const unit of UNITS) {
    const n = Math.floor(left / DURATION_UNITS_MS[unit]);
    if (n > 0) out += `${n}${unit}`;
    left -= n * DURATION_UNITS_MS[unit];
  }
  return out;
}
