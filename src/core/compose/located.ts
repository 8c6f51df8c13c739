/**
 * Where each part of a compose tree came from, so an error can name its file and line even after
 * several files are merged. Plain JS objects and arrays stay the data; their positions live beside
 * them in a WeakMap (a merge copies the positions of what it keeps).
 */

export interface Position {
  file: string;
  line: number;
}

export interface Located {
  at: Position;
  /** mapping: each key's position */
  keys: Map<string, Position>;
  /** sequence: each item's position */
  items: Position[];
}

const positions = new WeakMap<object, Located>();

export function locate(value: object, loc: Located): void {
  positions.set(value, loc);
}

export function locationOf(value: unknown): Located | undefined {
  return typeof value === 'object' && value !== null ? positions.get(value) : undefined;
}

/** The position of `key` in mapping `parent`, else of the mapping itself. */
export function keyPosition(parent: unknown, key: string): Position | undefined {
  const loc = locationOf(parent);
  return loc?.keys.get(key) ?? loc?.at;
}

/** The position of item `index` of a sequence, else of the sequence itself. */
export function itemPosition(list: unknown, index: number): Position | undefined {
  const loc = locationOf(list);
  return loc?.items[index] ?? loc?.at;
}

export const formatPosition = (p: Position | undefined): string => (p ? `${p.file}:${p.line}` : '');
