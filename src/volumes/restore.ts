import { closeSync, existsSync, fsyncSync, ftruncateSync, linkSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Manifest } from '../core/volumes/manifest.ts';
import type { ChunkStore } from './chunk-store.ts';
import { fsyncDir } from './fsync-dir.ts';
import { GatheredWrites } from './gathered-writes.ts';
import { applyMeta, mkfifo, setTimes } from './fs-meta.ts';
import { pacer } from './pacer.ts';

/**
 * Applies a snapshot to `target`, atomically and redo-only: the tree is built in a staging
 * directory beside the target, then swapped in by two renames. Whatever point a crash stops it
 * at, the next apply first puts things back as they were before (the old tree renamed back if the
 * swap was half done, the staging removed) and starts again, so applying twice is applying once.
 *
 *   T.warren-apply   the tree being built
 *   T.warren-old     the previous tree, between the two renames
 */
export interface ApplyOptions {
  /** fsync every file and directory before the swap (default true; tests of many rounds turn it off) */
  durable?: boolean;
}

export function stagingPaths(target: string): { staging: string; old: string } {
  const dir = dirname(target), name = basename(target);
  return { staging: join(dir, `${name}.warren-apply`), old: join(dir, `${name}.warren-old`) };
}

/** Undoes a half-done apply (see above). */
export function recoverApply(target: string): void {
  const { staging, old } = stagingPaths(target);
  if (existsSync(old)) {
    if (existsSync(target)) rmSync(old, { recursive: true, force: true }); // crashed after the swap
    else renameSync(old, target); // crashed between the two renames
  }
  rmSync(staging, { recursive: true, force: true });
}

export async function applySnapshot(store: ChunkStore, m: Manifest, target: string, opts: ApplyOptions = {}): Promise<void> {
  const durable = opts.durable ?? true;
  recoverApply(target);
  const { staging, old } = stagingPaths(target);
  const at = (path: string) => (path === '.' ? staging : join(staging, path));
  const dirs: string[] = [];
  const pace = pacer();
  for (const e of m.entries) {
    await pace();
    const abs = at(e.path);
    switch (e.type) {
      case 'dir':
        mkdirSync(abs);
        dirs.push(abs);
        break;
      case 'symlink':
        symlinkSync(e.target ?? '', abs);
        break;
      case 'fifo':
        mkfifo(abs);
        break;
      case 'file':
        if (e.linkTo !== undefined) linkSync(at(e.linkTo), abs);
        else await writeFile(store, abs, e.size, e.chunks ?? [], e.holes ?? [], durable, pace);
        break;
    }
  }
  // metadata children first, so writing into a directory never moves its restored mtime; a
  // hard link's metadata is its holder's (one inode), set once
  const times: Array<[string, bigint]> = [];
  for (let i = m.entries.length - 1; i >= 0; i--) {
    const e = m.entries[i]!;
    if (e.linkTo !== undefined) continue;
    applyMeta(at(e.path), e);
    times.push([at(e.path), e.mtimeNs]);
    await pace();
  }
  await setTimes(times);
  if (durable) for (const d of dirs) fsyncDir(d);
  if (existsSync(target)) renameSync(target, old);
  renameSync(staging, target);
  if (durable) fsyncDir(dirname(target));
  rmSync(old, { recursive: true, force: true });
}

export async function writeFile(store: ChunkStore, abs: string, size: number, chunks: Array<{ hash: string; size: number }>, holes: Array<[number, number]>, durable: boolean, pace: () => Promise<void>): Promise<void> {
  const fd = openSync(abs, 'wx');
  try {
    const out = new GatheredWrites(fd, size);
    let pos = 0, h = 0;
    for (const data of store.inOrder(chunks.map((c) => c.hash))) {
      // skip the holes before this chunk: no chunk spans one
      while (h < holes.length && holes[h]![0] <= pos) {
        const [off, len] = holes[h++]!;
        pos = Math.max(pos, off + len);
      }
      out.write(data, pos);
      pos += data.length;
      await pace();
    }
    out.flush();
    ftruncateSync(fd, size); // trailing holes (and a file of holes only)
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
