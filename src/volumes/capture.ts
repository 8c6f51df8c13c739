import { lstatSync, mkdirSync, readlinkSync, rmSync, type BigIntStats } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { detectChanges, RACY_WINDOW_NS, type ScanEntry } from '../core/volumes/changes.ts';
import type { Entry, Manifest } from '../core/volumes/manifest.ts';
import type { ChunkStore } from './chunk-store.ts';
import type { ChunkHint, ChunkPiece, ChunkPool } from './chunk-pool.ts';
import { readXattrs, scanTree, type ScannedPath } from './fs-meta.ts';
import { pacer } from './pacer.ts';
import { refreshCopy } from './refresh-copy.ts';

/**
 * Snapshot capture in three steps, so the app is frozen only for the middle one:
 *  1. prepare (app running): scan, find what changed since the last manifest, copy those files
 *     aside (their stat taken before the copy is their fingerprint). A large file is chunked where
 *     it lies instead (its new chunks stored from the bytes the worker hashed, so each is stored
 *     under its own hash), and used when its stat held still across the read: copying 1 GiB to
 *     capture a 1% change was half the snapshot's time. One that moved meanwhile is copied;
 *  2. freeze (containers paused): scan again; a file whose stat moved since its copy (or that is
 *     new) is copied again now; xattrs of changed paths are read. Cheap: stat calls plus the bytes
 *     written since step 1;
 *  3. commit (app running again): chunk and hash the copies in worker threads, store new chunks,
 *     reuse the last manifest's entries for everything unchanged.
 */

export interface CaptureStats {
  files: number;
  /** paths whose content or metadata was captured anew */
  changed: number;
  /** bytes copied aside during the freeze (what the pause paid for) */
  frozenCopyBytes: number;
  /** bytes of large files chunked where they lie, with no copy */
  directBytes: number;
  /** bytes of changed files found unchanged chunk by chunk (the last snapshot's chunks as a hint) */
  reusedBytes: number;
  refused: string[];
  skipped: string[];
}

interface Staged {
  file: string;
  fingerprint: ScanEntry;
  /** the live file had holes when copied (the copy is written in full) */
  sparse: boolean;
  /** chunked where it lies (`file` is the live file): its chunks, already in the store */
  chunked?: ChunkJobResult;
  /** a copy made in the freeze of a file chunked in step 1 meanwhile: those chunks, the nearest */
  hint?: ChunkHint;
}

type ChunkJobResult = Awaited<ReturnType<ChunkPool['chunk']>>;

/** files from this size on are chunked where they lie rather than copied aside first */
export const DIRECT_MIN_BYTES = 16 * 2 ** 20;

export class Capture {
  private readonly staged = new Map<string, Staged>(); // by inode key: a hard-link group once
  private prepareStartNs = 0n;
  private frozen?: { entries: Entry[]; scanStartNs: bigint; createdAt: number; toChunk: Map<string, Staged>; stats: CaptureStats };
  private copies = 0;
  /** bytes of chunks this capture stored that the store lacked, counted where they are stored */
  private newBytes = 0;

  constructor(
    private readonly root: string,
    private readonly last: Manifest | undefined,
    private readonly stagingDir: string,
  ) {}

  /**
   * Copies a file aside (in libuv's thread pool: a large copy never holds the event loop), or
   * brings `into`, an earlier copy of it, up to date (refreshCopy: only the blocks that differ
   * written); with the bytes written. Undefined when the file is gone since the scan.
   */
  private async stage(s: ScannedPath, into?: Staged): Promise<{ staged: Staged; written: number } | undefined> {
    const live = join(this.root, s.path);
    try {
      const st = lstatSync(live, { bigint: true });
      if (!st.isFile()) return undefined;
      if (into) return { staged: { ...into, ...taken(s, st) }, written: await refreshCopy(live, into.file) };
      const file = join(this.stagingDir, String(this.copies++));
      await copyFile(live, file);
      return { staged: { file, ...taken(s, st) }, written: Number(st.size) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // gone since the scan
      throw err;
    }
  }

  /**
   * Chunks a large file where it lies and stores the chunks the store lacks; undefined when it
   * moved while being read (a chunk's bytes changed, or its stat): it is copied instead.
   */
  private async direct(s: ScannedPath, store: ChunkStore, pool: ChunkPool): Promise<Staged | undefined> {
    const path = join(this.root, s.path);
    const held = (a: BigIntStats, b: BigIntStats) => a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.size === b.size && a.ino === b.ino;
    try {
      const st = lstatSync(path, { bigint: true });
      if (!st.isFile()) return undefined;
      const t = taken(s, st);
      // what a pass stores counts even when the file moved and is copied instead: the copy's
      // chunks are then in the store already (a snapshot of a file just written said 0 new bytes)
      const r = await pool.chunk(path, t.sparse, (p) => void (this.newBytes += storePiece(store, p)), this.hint(s.path));
      if (!held(st, lstatSync(path, { bigint: true }))) return undefined;
      return { file: path, ...t, chunked: r };
    } catch {
      return undefined; // gone, or unreadable now: the copy's path says what happened (stage)
    }
  }

  /**
   * The file's chunks in the last snapshot, for the worker to find the unchanged ones without
   * cutting (a large file changed in place: a database). Only for a file that had no holes.
   */
  private hint(path: string): ChunkHint | undefined {
    const e = this.lastByPath().get(path);
    if (!e?.chunks?.length || e.holes?.length || e.linkTo) return undefined;
    return hintFrom(e.chunks);
  }

  private lastIndex?: Map<string, Entry>;
  private lastByPath(): Map<string, Entry> {
    this.lastIndex ??= new Map((this.last?.entries ?? []).map((e) => [e.path, e]));
    return this.lastIndex;
  }

  /** Step 1, while the app runs. */
  async prepare(store: ChunkStore, pool: ChunkPool): Promise<void> {
    mkdirSync(this.stagingDir, { recursive: true });
    this.prepareStartNs = nowNs();
    const scan = await scanTree(this.root);
    const changed = new Set(detectChanges(this.last, scan.entries).changed);
    await this.outOfRacyWindow(scan.entries.filter((s) => s.type === 'file' && changed.has(s.path)));
    for (const s of scan.entries) {
      if (s.type !== 'file' || !changed.has(s.path)) continue;
      const key = inodeKey(s);
      if (this.staged.has(key)) continue;
      const staged = (s.size >= DIRECT_MIN_BYTES ? await this.direct(s, store, pool) : undefined) ?? (await this.stage(s))?.staged;
      if (staged) this.staged.set(key, staged);
    }
  }

  /**
   * A file written within the racy window before the pre-pass starts is read again at the freeze,
   * with the containers paused (a write then `warren volume snapshot` does just that; for a 1 GiB
   * file, seconds of pause). When the files to read were last written just now, the pre-pass
   * waits the window out (at most ~20 ms) and starts from then: a write after its reads begin
   * then moves their times, as the freeze's check needs. Times in the future are left to it.
   */
  private async outOfRacyWindow(toRead: ScannedPath[]): Promise<void> {
    const newest = toRead.reduce((m, s) => [s.mtimeNs, s.ctimeNs].reduce((a, b) => (b > a ? b : a), m), 0n);
    const now = nowNs();
    // (nowNs has whole milliseconds: a write in this one has a later time, and is not in the future)
    if (newest < this.prepareStartNs - RACY_WINDOW_NS || newest > now + 2_000_000n) return;
    await new Promise((r) => setTimeout(r, Number((newest + RACY_WINDOW_NS - now) / 1_000_000n) + 2));
    this.prepareStartNs = nowNs();
  }

  /** Step 2, while the containers are paused: bounded by what was written since step 1. */
  async freeze(): Promise<void> {
    const scanStartNs = nowNs();
    const scan = await scanTree(this.root);
    const lastByPath = this.lastByPath();
    const changes = detectChanges(this.last, scan.entries);
    const changed = new Set(changes.changed);
    // copies from step 1 that are still good: the file's stat has not moved since
    const stale = new Set(detectChanges({ entries: [...this.staged.values()].map((s) => s.fingerprint), scanStartNs: this.prepareStartNs }, scan.entries).changed);
    const stats: CaptureStats = { files: 0, changed: changes.changed.length, frozenCopyBytes: 0, directBytes: 0, reusedBytes: 0, refused: scan.refused, skipped: scan.skipped };
    const toChunk = new Map<string, Staged>();
    const holders = new Map<string, string>(); // inode key -> first path of its hard-link group
    const entries: Entry[] = [];
    const pace = pacer();
    for (const s of scan.entries) {
      await pace();
      if (s.type === 'file') stats.files++;
      const key = inodeKey(s);
      const holder = s.type === 'file' && s.nlink > 1 ? holders.get(key) : undefined;
      if (s.type === 'file' && s.nlink > 1 && !holder) holders.set(key, s.path);
      if (!changed.has(s.path)) {
        entries.push(lastByPath.get(s.path)!);
        continue;
      }
      const e: Entry = {
        path: s.path, type: s.type, mode: s.mode, uid: s.uid, gid: s.gid, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, ino: s.ino,
        size: s.size, xattrs: readXattrs(join(this.root, s.path), s.type),
      };
      if (s.type === 'symlink') e.target = readlinkSync(join(this.root, s.path), 'utf8');
      if (s.type === 'file') {
        if (holder) e.linkTo = holder;
        else {
          let staged = this.staged.get(key);
          if (!staged || stale.has(staged.fingerprint.path) || staged.fingerprint.path !== s.path) {
            // a large file that moved since its copy in step 1 (a busy database): only what differs
            const refresh = staged && !staged.chunked && staged.fingerprint.path === s.path && s.size >= DIRECT_MIN_BYTES ? staged : undefined;
            const before = staged?.chunked;
            const got = await this.stage(s, refresh);
            if (!got) continue; // vanished under our feet: not paused by us (a host process)
            staged = got.staged;
            if (before && !before.holes.length) staged.hint = hintFrom(before.chunks);
            stats.frozenCopyBytes += got.written;
            this.staged.set(key, staged);
          }
          if (staged.chunked) stats.directBytes += staged.fingerprint.size;
          toChunk.set(s.path, staged);
        }
      }
      entries.push(e);
    }
    this.frozen = { entries, scanStartNs, createdAt: Date.now(), toChunk, stats };
  }

  /** Step 3, after the containers resume: chunks the copies (worker threads) into the store. */
  async commit(store: ChunkStore, pool: ChunkPool): Promise<{ manifest: Manifest; stats: CaptureStats; newBytes: number }> {
    const f = this.frozen;
    if (!f) throw new Error('capture: commit before freeze');
    const results = new Map<string, Promise<ChunkJobResult>>();
    const take = (p: ChunkPiece) => void (this.newBytes += storePiece(store, p));
    for (const [path, s] of f.toChunk) if (!s.chunked) results.set(path, pool.chunk(s.file, s.sparse, take, s.hint ?? this.hint(path)));
    const pace = pacer();
    try {
      for (const e of f.entries) {
        const s = f.toChunk.get(e.path);
        if (!s) continue;
        await pace();
        const r = s.chunked ?? (await results.get(e.path)!);
        f.stats.reusedBytes += r.reusedBytes ?? 0;
        e.size = s.fingerprint.size;
        e.chunks = r.chunks.map(({ hash, size }) => ({ hash, size }));
        if (s.sparse) e.holes = r.holes;
      }
    } finally {
      await Promise.allSettled(results.values());
      rmSync(this.stagingDir, { recursive: true, force: true });
    }
    return { manifest: { createdAt: f.createdAt, scanStartNs: f.scanStartNs, entries: f.entries }, stats: f.stats, newBytes: this.newBytes };
  }

  discard(): void {
    rmSync(this.stagingDir, { recursive: true, force: true });
  }
}

/** Stores the chunks of a piece the store lacks (the very bytes the worker hashed); their bytes. */
function storePiece(store: ChunkStore, p: ChunkPiece): number {
  const buf = Buffer.from(p.buf);
  let added = 0;
  for (const c of p.chunks) if (store.put(c.hash, buf.subarray(c.at, c.at + c.size))) added += c.size;
  return added;
}

function hintFrom(chunks: readonly { hash: string; size: number }[]): ChunkHint {
  return { sizes: chunks.map((c) => c.size), hashes: chunks.map((c) => c.hash) };
}

/** A file's fingerprint (its stat when it was read) and whether it has holes. */
function taken(s: ScannedPath, st: BigIntStats): Pick<Staged, 'fingerprint' | 'sparse'> {
  return { fingerprint: { ...s, size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino }, sparse: st.blocks * 512n < st.size };
}

function inodeKey(s: { dev: bigint; ino: bigint }): string {
  return `${s.dev}:${s.ino}`;
}


export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
