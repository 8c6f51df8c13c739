import { closeSync, constants, existsSync, fsyncSync, ftruncateSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entry, Manifest } from '../core/volumes/manifest.ts';
import type { ChunkStore } from './chunk-store.ts';
import { fsyncDir } from './fsync-dir.ts';
import { GatheredWrites } from './gathered-writes.ts';
import { applyMeta, mkfifo, setTimes } from './fs-meta.ts';
import { pacer } from './pacer.ts';
import { writeFile } from './restore.ts';

/**
 * Brings a tree that holds snapshot `prev` to snapshot `next` by touching only what differs (a
 * warm copy follows its volume this way: applying a whole 1 GiB tree per snapshot would not keep
 * up). A new or rewritten file is written to a temporary name in the target and renamed over its
 * path; a changed file gets only the chunks that differ written over its old version, where it
 * lies when no other name shares it (patchFile: a warm copy is no container's data, and what a
 * crash leaves part way the redo finishes). Redo-only: the changes are computed from the two
 * manifests, never from the disk, so a crash part way is repaired by running the same apply again (removals
 * ignore what is gone, rewrites write again, hard links are re-made, metadata re-set).
 * Temporaries are named `.warren-tmp-N` in the target's root and cleared first.
 */
export async function applyChanges(store: ChunkStore, prev: Manifest, next: Manifest, target: string, opts: { durable?: boolean; /** called at every step (tests stop an apply there, as a crash would) */ step?: () => void } = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const turn = pacer();
  const pace = async () => {
    opts.step?.();
    await turn();
  };
  for (const name of readdirSync(target)) if (name.startsWith('.warren-tmp-')) rmSync(join(target, name), { recursive: true, force: true });
  const before = new Map(prev.entries.map((e) => [e.path, e]));
  const after = new Map(next.entries.map((e) => [e.path, e]));
  const at = (path: string) => (path === '.' ? target : join(target, path));
  let tmpN = 0;
  const tmp = () => join(target, `.warren-tmp-${tmpN++}`);

  // 1. paths gone, or of another type now: children first
  for (let i = prev.entries.length - 1; i >= 0; i--) {
    const e = prev.entries[i]!;
    const now = after.get(e.path);
    if (!now || now.type !== e.type) rmSync(at(e.path), { recursive: true, force: true });
    await pace();
  }
  // 2. create and rewrite, parents first; remember what needs its metadata set
  const touched: Entry[] = [];
  for (const e of next.entries) {
    await pace();
    const old = before.get(e.path)?.type === e.type ? before.get(e.path) : undefined;
    const abs = at(e.path);
    let rewritten = false;
    if (e.type === 'dir') {
      if (!existsSync(abs)) mkdirSync(abs);
    } else if (e.type === 'fifo') {
      if (!existsSync(abs)) mkfifo(abs);
    } else if (e.type === 'symlink') {
      if (!old || old.target !== e.target || !existsSync(abs)) {
        const t = tmp();
        symlinkSync(e.target ?? '', t);
        renameSync(t, abs);
        rewritten = true;
      }
    } else if (e.linkTo !== undefined) {
      // re-made unless already a link to its holder (which may have been rewritten: a new inode);
      // rename(2) between two links of one inode does nothing, so that case must be skipped
      if (!sameInode(at(e.linkTo), abs)) {
        const t = tmp();
        linkSync(at(e.linkTo), t);
        renameSync(t, abs);
      }
    } else if (!old || old.linkTo !== undefined || contentDiffers(old, e)) {
      if (!(await patchFile(store, old, e, abs, tmp, durable, pace))) {
        const t = tmp();
        await writeFile(store, t, e.size, e.chunks ?? [], e.holes ?? [], durable, pace);
        renameSync(t, abs);
      }
      rewritten = true;
    }
    if (e.linkTo === undefined && (rewritten || !old || e.type === 'dir' || metaDiffers(old, e))) touched.push(e);
  }
  // 3. metadata (children first: a directory's mtime is set after its entries changed)
  const times: Array<[string, bigint]> = [];
  for (let i = touched.length - 1; i >= 0; i--) {
    const e = touched[i]!;
    applyMeta(at(e.path), e);
    times.push([at(e.path), e.mtimeNs]);
    await pace();
  }
  await setTimes(times);
  if (durable) for (const e of touched) if (e.type === 'dir') fsyncDir(at(e.path));
}

/**
 * Writes a changed file by writing only the chunks of `e` that differ from those of `old` at the
 * same offsets, over its old version: a warm copy of a 1 GiB database whose snapshot changed 1%
 * writes ~1% of it. Where the file lies when no other name shares its inode (a copy wrote all of
 * it to the disk again at every snapshot, on every peer, beside the next capture); else into a
 * copy (copied by the kernel, to a temporary name from `tmp`) renamed over it, as a hard link
 * must not see the bytes change under it. Only for a file without holes, before or after, whose
 * old version is in place at its old size: false otherwise (the caller writes it whole).
 * Redo-safe: run again on a file already at `e`, or on one a crash left part way from `old` to
 * `e` (never seen by a container: the apply is redone before the copy is used, see
 * VolumeStore.applyTo), it writes the same bytes at the same places; a file that grew past its
 * old size by then is written whole.
 */
async function patchFile(store: ChunkStore, old: Entry | undefined, e: Entry, abs: string, tmp: () => string, durable: boolean, pace: () => Promise<void>): Promise<boolean> {
  if (!old || old.linkTo !== undefined || old.holes?.length || e.holes?.length) return false;
  const st = lstatSync(abs, { throwIfNoEntry: false });
  if (!st?.isFile() || st.size !== old.size) return false;
  const inPlace = st.nlink === 1;
  const path = inPlace ? abs : tmp();
  if (!inPlace) await copyFile(abs, path, constants.COPYFILE_EXCL);
  const was = new Map<number, string>(); // the old chunks by offset
  let pos = 0;
  for (const c of old.chunks ?? []) {
    was.set(pos, c.hash);
    pos += c.size;
  }
  const fd = openSync(path, 'r+');
  try {
    const out = new GatheredWrites(fd, e.size);
    pos = 0;
    for (const c of e.chunks ?? []) {
      if (was.get(pos) !== c.hash) {
        out.write(store.get(c.hash), pos);
        await pace();
      }
      pos += c.size;
    }
    out.flush();
    ftruncateSync(fd, e.size);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (!inPlace) renameSync(path, abs);
  return true;
}

function sameInode(a: string, b: string): boolean {
  const x = lstatSync(a, { throwIfNoEntry: false });
  const y = lstatSync(b, { throwIfNoEntry: false });
  return !!x && !!y && x.ino === y.ino && x.dev === y.dev;
}

function contentDiffers(a: Entry, b: Entry): boolean {
  if (a.size !== b.size || (a.chunks?.length ?? 0) !== (b.chunks?.length ?? 0)) return true;
  if (JSON.stringify(a.holes ?? []) !== JSON.stringify(b.holes ?? [])) return true;
  return (a.chunks ?? []).some((c, i) => c.hash !== b.chunks![i]!.hash);
}

function metaDiffers(a: Entry, b: Entry): boolean {
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.mtimeNs !== b.mtimeNs || a.xattrs.length !== b.xattrs.length) return true;
  return a.xattrs.some(([n, v], i) => n !== b.xattrs[i]![0] || Buffer.compare(Buffer.from(v), Buffer.from(b.xattrs[i]![1])) !== 0);
}
