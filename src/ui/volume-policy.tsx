import { signal, useSignal, type Signal } from '@preact/signals';
import { useEffect, useMemo, useRef } from 'preact/hooks';
import type { PolicyView } from '../runtime/volume-api.ts';
import { ApiError, call } from './connection.ts';
import { Field } from './fields.tsx';
import { useLive } from './live-fetch.ts';
import { session } from './session.ts';
import { apiErrorField, fieldText, formToRecord, POLICY_FORM_FIELDS, policyFormValues, type PolicyFormField } from './volume-policy-model.ts';

const LABELS: Record<PolicyFormField, string> = { interval: 'Snapshot every', keepWithin: 'Keep every snapshot of the last', hourly: 'Then hourly ones', daily: 'Daily ones', weekly: 'Weekly ones', monthly: 'Monthly ones' };

const path = (volume: string) => `/v1/volumes/${encodeURIComponent(volume)}/policy`;

/**
 * A volume's snapshot policy (`warren volume policy`): its interval and retention, each field
 * marked when it is the agent's default; an admin session edits it (a blank field is the default).
 */
export function PolicySection({ volume }: { volume: string }) {
  const got = useLive<PolicyView>(path(volume), () => false).value;
  const saved = useSignal<{ view: PolicyView; at: number } | undefined>(undefined);
  const editing = useSignal(false);
  const admin = !session.value?.readOnly;
  // the newer of the last read and this page's own save
  const p = saved.value && saved.value.at > (got?.at ?? 0) ? saved.value.view : got?.data;
  const done = (view: PolicyView) => {
    saved.value = { view, at: Date.now() };
    editing.value = false;
  };
  return (
    <section aria-labelledby="policy-h" data-volume={volume}>
      <h2 id="policy-h">Snapshot policy</h2>
      {got?.error && <p class={p ? 'note' : 'error'} role="status">{p ? 'Not up to date: ' : ''}{got.error}</p>}
      {!p ? (!got?.error && <p>Loading…</p>) : (
        <>
          <dl class="spec" aria-label={`snapshot policy of ${volume}`}>
            {POLICY_FORM_FIELDS.map((f) => {
              const s = fieldText(p, f);
              return <div key={f} data-field={f} data-default={String(s.isDefault)}><dt>{LABELS[f]}</dt><dd>{s.text}{s.isDefault && <span class="meta"> (default)</span>}</dd></div>;
            })}
          </dl>
          {admin && !editing.value && <div class="actions"><button type="button" onClick={() => (editing.value = true)}>Edit policy…</button></div>}
          {admin && editing.value && <PolicyForm volume={volume} p={p} onDone={done} onCancel={() => (editing.value = false)} />}
        </>
      )}
    </section>
  );
}

function PolicyForm({ volume, p, onDone, onCancel }: { volume: string; p: PolicyView; onDone: (v: PolicyView) => void; onCancel: () => void }) {
  const values = useMemo(() => {
    const start = policyFormValues(p);
    return Object.fromEntries(POLICY_FORM_FIELDS.map((f) => [f, signal(start[f])])) as Record<PolicyFormField, Signal<string>>;
  }, []);
  const errors = useSignal<Record<string, string>>({});
  const busy = useSignal(false);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => form.current?.querySelector('input')?.focus(), []);
  const send = async (body: unknown) => {
    busy.value = true;
    errors.value = {};
    try {
      onDone(await call<PolicyView>('PUT', path(volume), body));
    } catch (err) {
      const message = (err as Error).message;
      errors.value = { [err instanceof ApiError ? apiErrorField(message) : 'form']: message };
    } finally {
      busy.value = false;
    }
  };
  const submit = (e: Event) => {
    e.preventDefault();
    const r = formToRecord(Object.fromEntries(POLICY_FORM_FIELDS.map((f) => [f, values[f].value])) as Record<PolicyFormField, string>);
    if ('field' in r) errors.value = { [r.field]: r.message };
    else void send(r.record);
  };
  const hint = (f: PolicyFormField) => {
    const what = f === 'interval' || f === 'keepWithin' ? 'a duration such as 30s, 5m, 1h or 7d' : 'how many to keep';
    const s = fieldText(p, f);
    return `${what}; blank: the agent's default${s.isDefault ? ` (${s.text})` : ''}`;
  };
  return (
    <form class="form" noValidate onSubmit={submit} ref={form} aria-label={`edit the snapshot policy of ${volume}`}>
      {POLICY_FORM_FIELDS.map((f) => <Field key={f} name={f} label={LABELS[f]} value={values[f]} errors={errors} hint={hint(f)} />)}
      {errors.value.form && <p class="error" role="alert">{errors.value.form}</p>}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy.value}>{busy.value ? 'Saving…' : 'Save policy'}</button>
        <button type="button" disabled={busy.value} onClick={() => void send({ reset: true })}>Reset to defaults</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
