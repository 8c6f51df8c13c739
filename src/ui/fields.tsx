import type { Signal } from '@preact/signals';

/** Which form field an API validation message is about: the API's messages start with it. */
export function fieldOf(message: string, fields: readonly string[]): string | undefined {
  const first = /^([a-z]+)/.exec(message)?.[1];
  return first && fields.includes(first) ? first : undefined;
}

interface FieldProps {
  name: string;
  label: string;
  hint?: string;
  value: Signal<string>;
  errors: Signal<Record<string, string>>;
  multiline?: boolean;
  type?: string;
  required?: boolean;
  rows?: number;
}

/** A labelled input whose API error shows under it (and is announced with it). */
export function Field({ name, label, hint, value, errors, multiline, type, required, rows }: FieldProps) {
  const id = `f-${name}`;
  const err = errors.value[name];
  const described = [hint ? `${id}-hint` : '', err ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  const common = {
    id,
    name,
    value: value.value,
    required,
    'aria-invalid': err ? true : undefined,
    'aria-describedby': described,
    onInput: (e: Event) => (value.value = (e.currentTarget as HTMLInputElement).value),
  };
  return (
    <div class={`field${err ? ' invalid' : ''}`}>
      <label for={id}>{label}</label>
      {multiline ? <textarea rows={rows ?? 3} {...common} /> : <input type={type ?? 'text'} {...common} />}
      {hint && <small id={`${id}-hint`}>{hint}</small>}
      {err && <p class="error" id={`${id}-err`}>{err}</p>}
    </div>
  );
}

/** Lines or commas → a list, blanks dropped. */
export function list(text: string, sep: RegExp = /[\n,]+/): string[] {
  return text.split(sep).map((s) => s.trim()).filter(Boolean);
}
