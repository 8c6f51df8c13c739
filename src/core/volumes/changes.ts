import type { EntryType } from './manifest.ts';

/** What a cheap scan (readdir + lstat) knows about a path. */
export interface ScanEntry {
  path: string;
  type: EntryType;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

export interface ChangeSet {
  /** new paths and paths whose type, size, mtime, ctime or inode moved: capture reads them again */
  changed: string[];
  /** paths of the last manifest that are gone */
  removed: string[];
  /** paths whose last entry can be reused as it is */
  unchanged: string[];
}

/**
 * Timestamps are set from a coarse clock (a kernel tick): a file written again within the same tick
 * after the last scan read it keeps its mtime and ctime. As git does with its index ("racily
 * clean"), anything whose mtime or ctime is this close to or after the last scan's start is
 * always looked at again.
 */
export const RACY_WINDOW_NS = 20_000_000n;

/**
 * Change detection: the scan of the tree against the last manifest (or any earlier scan). ctime covers what mtime does
 * not (chmod, chown, xattrs, ACLs, a rename onto the path); the inode covers a file replaced by
 * another with the same times. With no last manifest everything is changed.
 */
export function detectChanges(last: { entries: ScanEntry[]; scanStartNs: bigint } | undefined, scan: ScanEntry[]): ChangeSet {
  const before = new Map<string, ScanEntry>();
  for (const e of last?.entries ?? []) before.set(e.path, e);
  const racyFrom = (last?.scanStartNs ?? 0n) - RACY_WINDOW_NS;
  const out: ChangeSet = { changed: [], removed: [], unchanged: [] };
  const seen = new Set<string>();
  for (const s of scan) {
    seen.add(s.path);
    const e = before.get(s.path);
    const same = e !== undefined && e.type === s.type && e.size === s.size && e.mtimeNs === s.mtimeNs &&
      e.ctimeNs === s.ctimeNs && e.ino === s.ino && s.mtimeNs < racyFrom && s.ctimeNs < racyFrom;
    (same ? out.unchanged : out.changed).push(s.path);
  }
  for (const path of before.keys()) if (!seen.has(path)) out.removed.push(path);
  return out;
}
