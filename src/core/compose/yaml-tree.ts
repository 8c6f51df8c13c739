/**
 * One compose file's text → a plain JS tree with the position of every key and item (located.ts).
 * YAML 1.2 core schema (as compose-go reads files: "yes" is a string), anchors, aliases and merge
 * keys (`<<:`; earlier merged maps win over later ones, the mapping's own keys over all). Compose's
 * `!reset` and `!override` tags are kept as markers for the merge (merge.ts).
 * Aliases are expanded by walking the tree; the walk stops at MAX_NODES so that a "billion laughs"
 * file is refused instead of filling memory.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { UserError } from '../errors.ts';
import { locate, locationOf, type Located, type Position } from './located.ts';

export const MAX_NODES = 200_000;
/** nesting deeper than this is refused (no compose file comes close; the walk is recursive) */
export const MAX_DEPTH = 500;

/** A value an override file marked `!reset` (drop it) or `!override` (replace, do not merge). */
export class Tagged {
  constructor(
    readonly tag: 'reset' | 'override',
    readonly value: unknown,
  ) {}
}

export type Tree = Record<string, unknown>;

const fail = (file: string, line: number | undefined, message: string): never => {
  throw new UserError('invalid_stack', `${file}${line ? `:${line}` : ''}: ${message}`, 400);
};

/** Parses one file; a YAML syntax error is one line naming the file and line. */
export function parseYamlTree(text: string, file: string): Tree {
  const lines = new LineCounter();
  const doc = parseDocument(text, { merge: true, lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
    return fail(file, line, `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  const posOf = (node: { range?: [number, number, number] | null } | null | undefined): Position => ({ file, line: node?.range ? lines.linePos(node.range[0]).line : 1 });
  let budget = MAX_NODES;

  // the collections being converted, outermost first: an alias to one of them is a cycle
  // (expanding it would never end), and deep nesting is refused before it overflows the stack
  const open = new Set<unknown>();
  const convert = (node: unknown, d: Document): unknown => {
    if (!isSeq(node) && !isMap(node)) return convertNode(node, d);
    if (open.size >= MAX_DEPTH) fail(file, posOf(node).line, `the file nests more than ${MAX_DEPTH} levels deep; refused`);
    open.add(node);
    try {
      return convertNode(node, d);
    } finally {
      open.delete(node);
    }
  };

  const convertNode = (node: unknown, d: Document): unknown => {
    if (--budget < 0) fail(file, undefined, `the file expands to more than ${MAX_NODES} YAML nodes (too many aliases); refused`);
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const target = node.resolve(d);
      if (!target) return fail(file, posOf(node).line, `YAML alias *${node.source} has no anchor`);
      if (open.has(target)) return fail(file, posOf(node).line, `YAML alias *${node.source} is inside the value it names (a cycle)`);
      return convert(target, d);
    }
    const tag = (node as YamlNode).tag;
    const wrap = (v: unknown) => (tag === '!reset' ? new Tagged('reset', v) : tag === '!override' ? new Tagged('override', v) : v);
    if (isScalar(node)) {
      const v = node.value;
      return wrap(typeof v === 'bigint' ? Number(v) : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v);
    }
    if (isSeq(node)) {
      const out: unknown[] = [];
      const loc: Located = { at: posOf(node), keys: new Map(), items: [] };
      for (const item of node.items) {
        out.push(convert(item, d));
        loc.items.push(posOf((isPair(item) ? item.key : item) as YamlNode));
      }
      locate(out, loc);
      return wrap(out);
    }
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      const loc: Located = { at: posOf(node), keys: new Map(), items: [] };
      const merged: { key: string; value: unknown; at: Position }[] = [];
      for (const pair of node.items) {
        const keyNode = pair.key as YamlNode | null;
        if (isScalar(keyNode) && (typeof keyNode.value === 'symbol' || keyNode.source === '<<')) {
          // merge key: `<<: *a` or `<<: [*a, *b]`
          const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
          for (const src of sources) {
            const value = convert(src, d);
            if (typeof value !== 'object' || value === null || Array.isArray(value)) {
              fail(file, posOf(keyNode).line, '`<<:` must merge a mapping (an alias such as *defaults, or a list of them)');
            }
            const srcLoc = locationOf(value);
            for (const [k, v] of Object.entries(value as object)) {
              if (!merged.some((m) => m.key === k)) merged.push({ key: k, value: v, at: srcLoc?.keys.get(k) ?? posOf(keyNode) });
            }
          }
          continue;
        }
        const key = isScalar(keyNode) ? keyNode.value : convert(keyNode, d);
        if (key === null || typeof key === 'object') fail(file, posOf(keyNode).line, 'mapping keys must be plain strings or numbers');
        const k = String(key);
        out[k] = convert(pair.value, d);
        loc.keys.set(k, posOf(keyNode));
      }
      for (const m of merged) {
        if (Object.hasOwn(out, m.key)) continue;
        out[m.key] = m.value;
        loc.keys.set(m.key, m.at);
      }
      locate(out, loc);
      return wrap(out);
    }
    return fail(file, posOf(node as YamlNode).line, 'unsupported YAML node');
  };

  const root = convert(doc.contents, doc);
  if (root === null) return fail(file, 1, 'the file is empty (a compose file needs at least a "services:" mapping)');
  if (typeof root !== 'object' || Array.isArray(root) || root instanceof Tagged) return fail(file, 1, 'a compose file must be a mapping (services:, volumes:, ...)');
  return root as Tree;
}

