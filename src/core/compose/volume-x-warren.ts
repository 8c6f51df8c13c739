/**
 * A stack volume's `x-warren:` block: `local: true` (a per-node Docker volume, not replicated), or
 * the Warren volume's snapshot policy, in the words of `warren volume policy`'s flags:
 *
 *   x-warren:
 *     snapshot_interval: 30s
 *     retention: {keep_within: 1h, hourly: 24, daily: 7, weekly: 4, monthly: 12}
 *
 * A field left out is the agent's default. Pure; the deploy writes the policy (src/stacks).
 */
import type { Diagnostics } from './diagnostics.ts';
import { isObj } from './fields.ts';
import { keyPosition } from './located.ts';
import { DURATION_UNITS_MS } from '../duration-text.ts';
import { MAX_INTERVAL_MS, MAX_KEEP_COUNT, MAX_KEEP_WITHIN_MS, MIN_INTERVAL_MS, parseDurationText, type VolumePolicyRecord } from '../volumes/volume-policy.ts';
import type { RetentionPolicy } from '../volumes/retention.ts';

const X_KEYS = ['local', 'snapshot_interval', 'retention'];
const RETENTION_KEYS: Record<string, keyof RetentionPolicy> = { keep_within: 'keepAllWithinMs', hourly: 'hourly', daily: 'daily', weekly: 'weekly', monthly: 'monthly' };
/** keep_within's bound in the file's words: whole days, a duration the file may hold */
const MAX_KEEP_WITHIN_TEXT = `${MAX_KEEP_WITHIN_MS / DURATION_UNITS_MS.d}d`;

export interface VolumeX {
  local?: true;
  policy?: VolumePolicyRecord;
}

/** Reads `volumes.<name>.x-warren` (`x` its value, `parent` the volume's mapping); errors go to `diag`. */
export function readVolumeX(parent: Record<string, unknown>, volName: string, diag: Diagnostics): VolumeX {
  const x = parent['x-warren'];
  const path = `volumes.${volName}.x-warren`;
  const at = keyPosition(parent, 'x-warren');
  if (x === undefined || x === null) return {};
  if (!isObj(x)) {
    diag.error(at, path, 'must be a mapping: {local: true}, or a snapshot policy such as {snapshot_interval: 30s, retention: {daily: 7}}');
    return {};
  }
  const unknown = Object.keys(x).filter((k) => !X_KEYS.includes(k));
  if (unknown.length) {
    diag.error(keyPosition(x, unknown[0]!), `${path}.${unknown[0]}`, `unknown key (expected ${X_KEYS.join(', ')})`);
    return {};
  }
  if (x.local !== undefined && typeof x.local !== 'boolean') {
    diag.error(keyPosition(x, 'local'), `${path}.local`, 'must be true or false (true: a per-node Docker volume, not replicated)');
    return {};
  }
  const policy = readPolicy(x, path, diag);
  if (x.local === true) {
    if (policy) diag.error(at, path, 'a local volume is not snapshotted: give it local: true or a snapshot policy, not both');
    return { local: true };
  }
  return policy ? { policy } : {};
}

function readPolicy(x: Record<string, unknown>, path: string, diag: Diagnostics): VolumePolicyRecord | undefined {
  if (x.snapshot_interval === undefined && x.retention === undefined) return undefined;
  const record: VolumePolicyRecord = {};
  let ok = true;
  const bad = (key: string, parent: unknown, message: string) => {
    diag.error(keyPosition(parent, key), `${path}.${key}`, message);
    ok = false;
  };
  if (x.snapshot_interval !== undefined) {
    const ms = typeof x.snapshot_interval === 'string' ? parseDurationText(x.snapshot_interval) : undefined;
    if (ms === undefined || ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS) bad('snapshot_interval', x, `must be a duration from 1s to 24h such as 30s, 5m or 1h, got ${JSON.stringify(x.snapshot_interval)}`);
    else record.intervalMs = ms;
  }
  if (x.retention !== undefined) {
    const r = x.retention;
    if (!isObj(r)) bad('retention', x, 'must be a mapping such as {keep_within: 1h, hourly: 24, daily: 7, weekly: 4, monthly: 12}');
    else {
      // the bounds the HTTP API holds a policy to (checkPolicy): a count past them is a typo, not a wish
      const retention: Partial<RetentionPolicy> = {};
      for (const [k, v] of Object.entries(r)) {
        const field = RETENTION_KEYS[k];
        if (!field) bad(`retention.${k}`, r, `unknown key (expected ${Object.keys(RETENTION_KEYS).join(', ')})`);
        else if (field === 'keepAllWithinMs') {
          const ms = typeof v === 'string' ? parseDurationText(v) : v === 0 ? 0 : undefined;
          if (ms === undefined || ms > MAX_KEEP_WITHIN_MS) bad(`retention.${k}`, r, `must be a duration from 0 to ${MAX_KEEP_WITHIN_TEXT} such as 10m, 1h or 7d, got ${JSON.stringify(v)}`);
          else retention[field] = ms;
        } else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_KEEP_COUNT) retention[field] = v;
        else bad(`retention.${k}`, r, `must be a whole number from 0 to ${MAX_KEEP_COUNT}, got ${JSON.stringify(v)}`);
      }
      if (Object.keys(retention).length) record.retention = retention;
    }
  }
  return ok ? record : undefined;
}
