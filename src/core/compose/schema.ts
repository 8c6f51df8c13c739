/** Unknown-key checks (typos are errors naming the key and its line), with "did you mean" hints. */
import { Diagnostics, suggestion } from './diagnostics.ts';
import { keyPosition } from './located.ts';
import { NESTED_KEYS } from './keys.ts';
import { isObj } from './fields.ts';

/** Reports every key of `obj` not in `known` (x- extensions are always allowed). */
export function checkKeys(obj: unknown, known: readonly string[], path: string, diag: Diagnostics): void {
  if (!isObj(obj)) return;
  for (const key of Object.keys(obj)) {
    if (key.startsWith('x-') || known.includes(key)) continue;
    diag.error(keyPosition(obj, key), `${path}.${key}`, `unknown key "${key}"${suggestion(key, known)}`);
  }
}

/** Checks a nested mapping against NESTED_KEYS[schema]. */
export function checkNested(obj: unknown, schema: keyof typeof NESTED_KEYS, path: string, diag: Diagnostics): void {
  checkKeys(obj, NESTED_KEYS[schema]!, path, diag);
}

/** Checks each value of a mapping of named things (e.g. depends_on.<service>). */
export function checkEachValue(obj: unknown, schema: keyof typeof NESTED_KEYS, path: string, diag: Diagnostics): void {
  if (!isObj(obj)) return;
  for (const [k, v] of Object.entries(obj)) checkNested(v, schema, `${path}.${k}`, diag);
}

/** Checks each mapping item of a list (long syntax of ports, volumes, env_file). */
export function checkEachItem(list: unknown, schema: keyof typeof NESTED_KEYS, path: string, diag: Diagnostics): void {
  if (!Array.isArray(list)) return;
  list.forEach((v, i) => checkNested(v, schema, `${path}[${i}]`, diag));
}
