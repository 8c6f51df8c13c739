import { signal, useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { VolumeView } from '../core/volumes/volume-view.ts';
import type { SnapshotListItem } from '../runtime/volume-api.ts';
import { ApiError, call } from './connection.ts';
import { Field } from './fields.tsx';
import { bytes } from './format.ts';
import { cloneErrorField, snapshotId } from './volume-model.ts';

/** Restore and clone move or copy a whole volume: give them longer than a read. */
const LONG_MS = 120_000;

interface Chosen {
  kind: 'restore' | 'clone';
  volume: VolumeView;
  snapshot: SnapshotListItem;
  /** which opening this is: a button pressed again opens a fresh panel (a new form after a clone) */
  n: number;
}
let openings = 0;

/** The snapshot whose restore or clone the page is asking about (one at a time, under the list). */
const chosen = signal<Chosen | undefined>(undefined);

const path = (volume: string, what: string) => `/v1/volumes/${encodeURIComponent(volume)}/${what}`;

/** "Snapshot now": taken on the volume's live node; its copies then show up as the peers get it. */
export function SnapshotNow({ volume }: { volume: string }) {
  const busy = useSignal(false);
  const msg = useSignal<{ text: string; error?: boolean } | undefined>(undefined);
  const take = async () => {
    busy.value = true;
    msg.value = undefined;
    try {
      const r = await call<{ snapshot: { id: string; newBytes: number; pauseMs: number } }>('POST', path(volume, 'snapshots'), { wait: false }, LONG_MS);
      msg.value = { text: `Snapshot ${r.snapshot.id} taken (${bytes(r.snapshot.newBytes)} new, paused ${r.snapshot.pauseMs} ms): it is being copied to the other nodes.` };
    } catch (err) {
      msg.value = { text: (err as Error).message, error: true };
    } finally {
      busy.value = false;
    }
  };
  return (
    <div class="actions center">
      <button type="button" class="primary" disabled={busy.value} onClick={take}>{busy.value ? 'Taking a snapshot…' : 'Snapshot now'}</button>
      {msg.value && <p class={msg.value.error ? 'error' : 'note'} role={msg.value.error ? 'alert' : 'status'}>{msg.value.text}</p>}
    </div>
  );
}

/** A snapshot row's buttons: they open the restore confirmation or the clone form below the list. */
export function SnapshotActions({ volume, snapshot }: { volume: VolumeView; snapshot: SnapshotListItem }) {
  const open = (kind: Chosen['kind']) => () => (chosen.value = { kind, volume, snapshot, n: ++openings });
  return (
    <span class="row-actions">
      <button type="button" aria-label={`Restore ${snapshot.id}…`} onClick={open('restore')}>Restore…</button>
      <button type="button" aria-label={`Clone ${snapshot.id}…`} onClick={open('clone')}>Clone…</button>
    </span>
  );
}

/** The heading of an open panel takes the focus, so a keyboard user lands on what to decide. */
function usePanelFocus() {
  const h = useRef<HTMLHeadingElement>(null);
  useEffect(() => h.current?.focus(), []);
  return h;
}

function Restore({ c }: { c: Chosen }) {
  const h = usePanelFocus();
  const busy = useSignal(false);
  const error = useSignal('');
  const done = useSignal('');
  const { volume: v, snapshot: s } = c;
  const restore = async () => {
    busy.value = true;
    error.value = '';
    try {
      const r = await call<{ volume: unknown; restored: unknown; before: unknown }>('POST', path(v.name, 'restore'), { snapshot: s.id }, LONG_MS);
      done.value = `Restored ${v.name} to ${snapshotId(r.restored)}. Its state before is kept as snapshot ${snapshotId(r.before)}.`;
    } catch (err) {
      error.value = (err as Error).message;
    } finally {
      busy.value = false;
    }
  };
  return (
    <section class="panel" aria-labelledby="restore-h" data-snapshot={s.id}>
      <h3 id="restore-h" tabIndex={-1} ref={h}>Restore {v.name} to {s.id}?</h3>
      {done.value ? <p class="note" role="status">{done.value}</p> : (
        <>
          <p>
            The service <strong>{v.service}</strong> is stopped, its volume's data is replaced by this snapshot's, and it starts again on it.
            What the volume holds now is first kept as a new snapshot, so you can go back to it.
          </p>
          <div class="actions">
            <button type="button" class="danger" disabled={busy.value} onClick={restore}>{busy.value ? 'Restoring…' : `Yes, restore ${s.id}`}</button>
            <button type="button" onClick={() => (chosen.value = undefined)}>Cancel</button>
          </div>
        </>
      )}
      {error.value && <p class="error" role="alert">{error.value}</p>}
    </section>
  );
}

function Clone({ c }: { c: Chosen }) {
  const h = usePanelFocus();
  const name = useSignal('');
  const errors = useSignal<Record<string, string>>({});
  const busy = useSignal(false);
  const done = useSignal<string | undefined>(undefined);
  const { volume: v, snapshot: s } = c;
  const submit = async (e: Event) => {
    e.preventDefault();
    busy.value = true;
    errors.value = {};
    try {
      await call('POST', path(v.name, 'clone'), { name: name.value.trim(), snapshot: s.id }, LONG_MS);
      done.value = name.value.trim();
    } catch (err) {
      const message = (err as Error).message;
      errors.value = { [err instanceof ApiError ? cloneErrorField(err.code, message) : 'form']: message };
    } finally {
      busy.value = false;
    }
  };
  return (
    <section class="panel" aria-labelledby="clone-h" data-snapshot={s.id}>
      <h3 id="clone-h" tabIndex={-1} ref={h}>Clone {s.id} into a new volume</h3>
      {done.value ? (
        <p class="note" role="status">Cloned {v.name} at {s.id} into <a href={`#/volumes/${encodeURIComponent(done.value)}`}>{done.value}</a>.</p>
      ) : (
        <form class="form" noValidate onSubmit={submit}>
          <Field name="name" label="New volume's name" hint={`a service web mounting data uses web_data; ${v.name} is left as it is`} value={name} errors={errors} required />
          {errors.value.form && <p class="error" role="alert">{errors.value.form}</p>}
          <div class="actions">
            <button type="submit" class="primary" disabled={busy.value || !name.value.trim()}>{busy.value ? 'Cloning…' : 'Clone'}</button>
            <button type="button" onClick={() => (chosen.value = undefined)}>Cancel</button>
          </div>
        </form>
      )}
    </section>
  );
}

/** The open restore or clone panel of volume `volume` (none: nothing chosen, or another volume's). */
export function SnapshotPanel({ volume }: { volume: string }) {
  useEffect(() => () => void (chosen.value = undefined), [volume]);
  const c = chosen.value;
  if (!c || c.volume.name !== volume) return null;
  const key = `${c.kind}-${c.snapshot.id}-${c.n}`;
  return c.kind === 'restore' ? <Restore key={key} c={c} /> : <Clone key={key} c={c} />;
}
