/** The pure parts of the volume policy form (src/ui/volume-policy.tsx): unit-tested in test/unit/ui-volumes.test.ts. */
import { isUserError } from '../core/errors.ts';
import { policyFromFlags, type PolicyFlags } from '../core/volumes/policy-edit.ts';
import type { RetentionPolicy } from '../core/volumes/retention.ts';
import { durationText, type VolumePolicyRecord } from '../core/volumes/volume-policy.ts';
import type { PolicyView } from '../runtime/volume-api.ts';

/** the form's fields, named as `warren volume policy`'s flags */
export const POLICY_FORM_FIELDS = ['interval', 'keepWithin', 'hourly', 'daily', 'weekly', 'monthly'] as const;
export type PolicyFormField = (typeof POLICY_FORM_FIELDS)[number];

/** each form field's record field (`defaults` in a PolicyView names these) */
export const RECORD_FIELD: Record<PolicyFormField, string> = { interval: 'intervalMs', keepWithin: 'retention.keepAllWithinMs', hourly: 'retention.hourly', daily: 'retention.daily', weekly: 'retention.weekly', monthly: 'retention.monthly' };

const FLAG: Record<PolicyFormField, string> = { interval: '--interval', keepWithin: '--keep-within', hourly: '--hourly', daily: '--daily', weekly: '--weekly', monthly: '--monthly' };

/** A field's value as text (durations as 30s, 1h; counts as numbers), and whether it is the agent's default. */
export function fieldText(p: PolicyView, f: PolicyFormField): { text: string; isDefault: boolean } {
  const isDefault = p.defaults.includes(RECORD_FIELD[f]);
  if (f === 'interval') return { text: durationText(p.policy.intervalMs), isDefault };
  const k = RECORD_FIELD[f].slice('retention.'.length) as keyof RetentionPolicy;
  return { text: f === 'keepWithin' ? durationText(p.policy.retention[k]) : String(p.policy.retention[k]), isDefault };
}

/** The form as it opens: the fields the volume sets, blank where it runs on the default. */
export function policyFormValues(p: PolicyView): Record<PolicyFormField, string> {
  return Object.fromEntries(POLICY_FORM_FIELDS.map((f) => {
    const s = fieldText(p, f);
    return [f, s.isDefault ? '' : s.text];
  })) as Record<PolicyFormField, string>;
}

/**
 * The record the form sends (a blank field: the default), or the field that is wrong and why: the
 * same rules as `warren volume policy`'s flags (core/volumes/policy-edit.ts).
 */
export function formToRecord(values: Record<PolicyFormField, string>): { record: VolumePolicyRecord } | { field: PolicyFormField; message: string } {
  const flags: PolicyFlags = {};
  for (const f of POLICY_FORM_FIELDS) flags[f] = values[f].trim() || 'default';
  try {
    return { record: policyFromFlags({}, flags) };
  } catch (err) {
    if (!isUserError(err)) throw err;
    const field = POLICY_FORM_FIELDS.find((f) => err.message.startsWith(`${FLAG[f]} `)) ?? 'interval';
    return { field, message: err.message.slice(FLAG[field].length + 1).replace(' (or "default")', ' (blank: the default)') };
  }
}

/** The form field an API refusal names (its messages start with intervalMs or retention.FIELD); 'form' when none. */
export function apiErrorField(message: string): PolicyFormField | 'form' {
  return POLICY_FORM_FIELDS.find((f) => message.startsWith(`${RECORD_FIELD[f]} `)) ?? 'form';
}
