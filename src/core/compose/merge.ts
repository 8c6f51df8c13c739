/**
 * Merging several compose files (`-f a.yaml -f b.yaml`) by the compose specification's rules:
 * mappings merge key by key (the later file wins on a scalar); sequences append; `command`,
 * `entrypoint` and `healthcheck.test` are replaced; `ports`, `volumes`, `secrets` and `configs`
 * merge entries that share their unique key (ports: ip, target, published, protocol; the others:
 * target); `!reset` removes a value and `!override` replaces it without merging. List forms of
 * `environment`, `labels`, `sysctls`, `annotations`, `extra_hosts` and `depends_on` are turned into
 * mappings first, so a list in one file merges with a mapping in another.
 */
import { locate, locationOf, type Located } from './located.ts';
import { Tagged } from './yaml-tree.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Tagged);

const REPLACED = new Set(['services.*.command', 'services.*.entrypoint', 'services.*.healthcheck.test']);
const UNIQUE: Record<string, (item: unknown) => string> = {
  'services.*.ports': portKey,
  'services.*.volumes': (v) => (isObj(v) ? String(v.target ?? '') : volumeTarget(String(v))),
  'services.*.secrets': (v) => (isObj(v) ? String(v.target ?? v.source ?? '') : String(v)),
  'services.*.configs': (v) => (isObj(v) ? String(v.target ?? v.source ?? '') : String(v)),
};
const LIST_TO_MAP = new Set(['environment', 'labels', 'sysctls', 'annotations', 'extra_hosts']);

/** The target of a short volume entry "src:target[:mode]" (or "target" alone). */
export function volumeTarget(text: string): string {
  const parts = text.split(':');
  return parts.length === 1 ? parts[0]! : parts[1]!;
}

function portKey(v: unknown): string {
  if (isObj(v)) return JSON.stringify([v.host_ip ?? '', String(v.target ?? ''), String(v.published ?? ''), v.protocol ?? 'tcp']);
  const text = String(v);
  const slash = text.lastIndexOf('/');
  const proto = slash >= 0 ? text.slice(slash + 1) : 'tcp';
  const parts = (slash >= 0 ? text.slice(0, slash) : text).split(':');
  const target = parts.pop() ?? '';
  const published = parts.pop() ?? '';
  return JSON.stringify([parts.join(':'), target, published, proto]);
}

/** `[A=1, B]` → `{A: "1", B: null}` (a list of KEY=VALUE; extra_hosts also allows HOST:IP). */
function listToMap(list: unknown[], key: string): unknown {
  const out: Obj = {};
  const from = locationOf(list);
  const loc: Located = { at: from?.at ?? { file: '?', line: 1 }, keys: new Map(), items: [] };
  for (const [i, item] of list.entries()) {
    if (typeof item !== 'string' && typeof item !== 'number') return list; // left for validation to report
    const s = String(item);
    let eq = s.indexOf('=');
    if (eq < 0 && key === 'extra_hosts') eq = s.indexOf(':');
    const k = eq < 0 ? s : s.slice(0, eq);
    out[k] = eq < 0 ? null : s.slice(eq + 1);
    const p = from?.items[i];
    if (p) loc.keys.set(k, p);
  }
  locate(out, loc);
  return out;
}

/** `depends_on: [db]` → `{db: {condition: service_started}}`. */
function dependsToMap(list: unknown[]): unknown {
  if (!list.every((x) => typeof x === 'string')) return list;
  const out: Obj = {};
  const from = locationOf(list);
  const loc: Located = { at: from?.at ?? { file: '?', line: 1 }, keys: new Map(), items: [] };
  list.forEach((name, i) => {
    const dep: Obj = { condition: 'service_started' };
    out[name as string] = dep;
    const p = from?.items[i];
    if (p) {
      loc.keys.set(name as string, p);
      locate(dep, { at: p, keys: new Map([['condition', p]]), items: [] });
    }
  });
  locate(out, loc);
  return out;
}

/** Puts list forms into mapping form, in place, for every service of a file's tree. */
export function normaliseListForms(tree: Obj): void {
  const services = tree.services;
  if (!isObj(services)) return;
  for (const svc of Object.values(services)) {
    if (!isObj(svc)) continue;
    for (const key of Object.keys(svc)) {
      const v = svc[key];
      if (LIST_TO_MAP.has(key) && Array.isArray(v)) svc[key] = listToMap(v, key);
      if (key === 'depends_on' && Array.isArray(v)) svc[key] = dependsToMap(v);
    }
  }
}

const pathPattern = (path: string[]): string => (path[0] === 'services' && path.length >= 2 ? ['services', '*', ...path.slice(2)].join('.') : path.join('.'));

/** Merges `over` onto `base` (neither is changed); both are file trees already interpolated. */
export function mergeTrees(base: unknown, over: unknown, path: string[] = []): unknown {
  if (over instanceof Tagged) return over.tag === 'reset' ? undefined : stripTags(over.value);
  if (base === undefined) return stripTags(over);
  const pattern = pathPattern(path);
  if (isObj(base) && isObj(over)) {
    const out: Obj = {};
    const bl = locationOf(base);
    const ol = locationOf(over);
    const loc: Located = { at: bl?.at ?? ol?.at ?? { file: '?', line: 1 }, keys: new Map(), items: [] };
    for (const [k, v] of Object.entries(base)) {
      out[k] = v;
      const p = bl?.keys.get(k);
      if (p) loc.keys.set(k, p);
    }
    for (const [k, v] of Object.entries(over)) {
      const merged = mergeTrees(out[k], v, [...path, k]);
      if (merged === undefined) {
        delete out[k];
        loc.keys.delete(k);
        continue;
      }
      out[k] = merged;
      const p = ol?.keys.get(k);
      if (p) loc.keys.set(k, p);
    }
    locate(out, loc);
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over) && !REPLACED.has(pattern)) {
    const keyOf = UNIQUE[pattern];
    const bl = locationOf(base);
    const ol = locationOf(over);
    const out: unknown[] = [];
    const items = [...(bl?.items ?? [])];
    out.push(...base);
    over.forEach((item, i) => {
      const clean = stripTags(item);
      const at = keyOf ? out.findIndex((b) => keyOf(b) === keyOf(clean)) : -1;
      const pos = ol?.items[i];
      if (at >= 0) {
        out[at] = isObj(out[at]) && isObj(clean) ? mergeTrees(out[at], clean, [...path, '[]']) : clean;
        if (pos) items[at] = pos;
      } else {
        out.push(clean);
        if (pos) items[out.length - 1] = pos;
      }
    });
    locate(out, { at: bl?.at ?? ol?.at ?? { file: '?', line: 1 }, keys: new Map(), items });
    return out;
  }
  return stripTags(over);
}

/** A value with every Tagged marker replaced by its content (`!reset` inside a first file means nothing). */
export function stripTags(v: unknown): unknown {
  if (v instanceof Tagged) return v.tag === 'reset' ? undefined : stripTags(v.value);
  if (Array.isArray(v)) {
    let changed = false;
    const out = v.map((x) => {
      const y = stripTags(x);
      if (y !== x) changed = true;
      return y;
    });
    if (!changed) return v;
    const loc = locationOf(v);
    if (loc) locate(out, loc);
    return out;
  }
  if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) {
      const y = stripTags(x);
      if (y === undefined) delete v[k];
      else if (y !== x) v[k] = y;
    }
  }
  return v;
}
