import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/errors.ts';
import { cutChunks } from '../core/volumes/fastcdc.ts';
import { decodeManifest, encodeManifest, manifestChunks, type ChunkRef, type Manifest } from '../core/volumes/manifest.ts';
import { Capture, type CaptureStats } from './capture.ts';
import { ChunkPool } from './chunk-pool.ts';
import { ChunkStore, CorruptChunk } from './chunk-store.ts';
import { fsyncDir } from './fsync-dir.ts';
import { applySnapshot, type ApplyOptions } from './restore.ts';
import { applyChanges } from './apply-changes.ts';
import { monoNow } from '../system/clock.ts';

/** What `warren volume snapshots` lists: small, one JSON file per snapshot (never the manifest). */
export interface SnapshotRecord {
  id: string;
  volume: string;
  /** per volume on this node, from 1 */
  seq: number;
  createdAt: number;
  /** the manifest's own chunks */
  manifest: ChunkRef[];
  files: number;
  /** logical bytes of the files (holes included) */
  sizeBytes: number;
  /** chunk bytes this snapshot added to the store */
  newBytes: number;
  /** how long the capture's freeze step took (the containers' pause) */
  pauseMs: number;
  refused: string[];
  skipped: string[];
  /** the volume's owner epoch when it was taken (the agent's replicated volumes; absent otherwise) */
  epoch?: number;
  /** retention keeps it until then (the state before a `warren volume restore`) */
  keepUntil?: number;
}

export interface SnapshotHooks {
  /** freeze the writers (docker pause) before the freeze step, thaw them after */
  pause?: () => Promise<void>;
  resume?: () => Promise<void>;
  /** recorded in the snapshot record */
  epoch?: number;
  /** nothing changed since the last snapshot: return it instead of recording a new one */
  skipUnchanged?: boolean;
  /** recorded in the snapshot record: retention keeps it until then */
  keepUntil?: number;
}

const LAST_SAVED_KEEP_MS = 60_000;

/** A snapshot's manifest named by its chunks (content-addressed: the same list, the same manifest). */
export const manifestKey = (r: Pick<SnapshotRecord, 'manifest'>) => r.manifest.map((c) => c.hash).join(',');

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export function checkVolumeName(name: string): void {
  if (!VOLUME_NAME.test(name)) throw new UserError('bad_volume_name', `invalid volume name "${name}": letters, digits, '_', '.', '-' (starting with a letter or digit)`);
}

/**
 * A node's volume store: one chunk store for every volume (chunks dedup across volumes), each
 * volume's snapshot records, and a staging area for captures:
 *
 *   DATA/chunks/            ChunkStore
 *   DATA/volumes/NAME/snapshots/ID.json
 *   DATA/staging/           copies aside during a capture
 *
 * Operations are serialised (one capture, delete or GC at a time).
 */
/** a capture's steps (ms): the pre-pass while the app runs, the freeze with its pause and thaw, the chunking after, the save */
export interface CapturePhases {
  prepareMs: number;
  freezeMs: number;
  commitMs: number;
  saveMs?: number;
}

export class VolumeStore {
  readonly chunks: ChunkStore;
  private readonly pool: ChunkPool;
  private readonly ownsPool: boolean;
  private lock: Promise<unknown> = Promise.resolve();
  /** chunks of snapshots being received: kept by GC until committed or `until` passes */
  private readonly pins = new Map<string, { hashes: ReadonlySet<string> | readonly string[]; until: number }>();

  constructor(readonly dataDir: string, opts: { pool?: ChunkPool } = {}) {
    this.chunks = new ChunkStore(join(dataDir, 'chunks'));
    this.ownsPool = !opts.pool;
    this.pool = opts.pool ?? new ChunkPool();
    rmSync(join(dataDir, 'staging'), { recursive: true, force: true }); // a crashed capture's copies
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private snapDir(volume: string): string {
    return join(this.dataDir, 'volumes', volume, 'snapshots');
  }

  volumes(): string[] {
    const dir = join(this.dataDir, 'volumes');
    return existsSync(dir) ? readdirSync(dir).sort() : [];
  }

  /** Snapshots of a volume, oldest first. */
  list(volume: string): SnapshotRecord[] {
    checkVolumeName(volume);
    const dir = this.snapDir(volume);
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as SnapshotRecord)
      .sort((a, b) => a.seq - b.seq);
  }

  record(volume: string, id: string): SnapshotRecord {
    const r = this.list(volume).find((s) => s.id === id);
    if (!r) throw new UserError('no_such_snapshot', `volume ${volume} has no snapshot ${id}`, 404);
    return r;
  }

  manifest(volume: string, id: string): Manifest {
    return this.readManifest(this.record(volume, id));
  }

  private readManifest(r: SnapshotRecord): Manifest {
    return decodeManifest(Buffer.concat([...this.chunks.inOrder(r.manifest.map((c) => c.hash))]));
  }

  /**
   * The last snapshot's manifest as change detection's base, without the files whose chunks are
   * not all here (a scrub dropped a bad one): those are read again, so the next snapshot stores
   * their bytes anew. None when the manifest itself cannot be read: everything is read again.
   */
  private changeBase(prev: SnapshotRecord): { base: Manifest; entries: number } | undefined {
    let m: Manifest;
    try {
      const saved = this.lastSaved.get(prev.volume);
      m = saved?.key === manifestKey(prev) ? saved.manifest : this.readManifest(prev);
    } catch (err) {
      if (err instanceof CorruptChunk) return undefined;
      throw err;
    }
    return { base: { ...m, entries: m.entries.filter((e) => (e.chunks ?? []).every((c) => this.chunks.has(c.hash))) }, entries: m.entries.length };
  }

  /**
   * Each volume's manifest as its last snapshot here was saved, for a minute after: the next
   * capture's change base without decoding it again (a 1 GiB file's ~130k chunk entries: ~0.2 s
   * of the owner's time at every snapshot of a busy database). Read-only, like every manifest.
   */
  private readonly lastSaved = new Map<string, { key: string; manifest: Manifest; timer: NodeJS.Timeout }>();

  private keepLastSaved(volume: string, refs: ChunkRef[], manifest: Manifest): void {
    clearTimeout(this.lastSaved.get(volume)?.timer);
    const timer = setTimeout(() => this.lastSaved.delete(volume), LAST_SAVED_KEEP_MS);
    timer.unref();
    this.lastSaved.set(volume, { key: manifestKey({ manifest: refs }), manifest, timer });
  }

  /** Captures `root` as a new snapshot of `volume`; only what changed since the last one is read. */
  async snapshot(volume: string, root: string, hooks: SnapshotHooks = {}): Promise<SnapshotRecord> {
    checkVolumeName(volume);
    return this.serial(async () => {
      if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new UserError('no_such_directory', `cannot snapshot ${root}: not a directory`, 404);
      const prev = this.list(volume).at(-1);
      // the last manifest is decoded once (a 1 GiB file's is ~130k chunk references)
      const last = prev && this.changeBase(prev);
      const { manifest, stats, newBytes, pauseMs, phases } = await this.capture(root, last?.base, volume, hooks);
      this.lastPhases.set(volume, phases);
      if (hooks.skipUnchanged && prev && last && prev.epoch === hooks.epoch && stats.changed === 0 && manifest.entries.length === last.entries) return prev;
      const t0 = performance.now();
      const rec = this.saveLocked(volume, manifest, stats, newBytes, pauseMs, hooks.epoch, hooks.keepUntil);
      phases.saveMs = Math.round(performance.now() - t0);
      return rec;
    });
  }

  /**
   * Captures a directory that is no volume's (`warren volume import --from-docker`): its chunks are
   * stored and pinned under `pinKey` (see pin) for the caller to save the manifest as a volume's.
   */
  async captureDir(root: string, pinKey: string): Promise<{ manifest: Manifest; stats: CaptureStats; newBytes: number }> {
    return this.serial(async () => {
      if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new UserError('no_such_directory', `cannot import ${root}: not a directory`, 404);
      const out = await this.capture(root, undefined, `import-${randomBytes(4).toString('hex')}`, {});
      this.pin(pinKey, manifestChunks(out.manifest).map((c) => c.hash), 24 * 3_600_000);
      return out;
    });
  }

  /** Scan and copy aside what changed since `last` (the app runs), freeze between the hooks, chunk into the store. */
  private async capture(root: string, last: Manifest | undefined, staging: string, hooks: SnapshotHooks) {
    const capture = new Capture(root, last, join(this.dataDir, 'staging', staging));
    let pauseMs = 0;
    const ms = (t: number) => Math.round(performance.now() - t);
    const phases: CapturePhases = { prepareMs: 0, freezeMs: 0, commitMs: 0 };
    try {
      let t = performance.now();
      await capture.prepare(this.chunks, this.pool);
      phases.prepareMs = ms(t);
      t = performance.now();
      await hooks.pause?.();
      const t0 = performance.now();
      try {
        await capture.freeze();
      } finally {
        pauseMs = performance.now() - t0;
        await hooks.resume?.();
        phases.freezeMs = ms(t);
      }
    } catch (err) {
      capture.discard();
      throw err;
    }
    const t = performance.now();
    const out = await capture.commit(this.chunks, this.pool);
    phases.commitMs = ms(t);
    return { ...out, pauseMs, phases };
  }

  /** where the volume's last capture spent its time (ms), for the owner's debug log */
  readonly lastPhases = new Map<string, CapturePhases>();

  /**
   * Stores a manifest whose chunks are in the store already (an import, a clone), as a new
   * snapshot; refused when a chunk is missing (a GC took it: nothing pinned it).
   */
  async save(volume: string, manifest: Manifest, stats: CaptureStats, newBytes: number, opts: { epoch?: number; keepUntil?: number } = {}): Promise<SnapshotRecord> {
    checkVolumeName(volume);
    return this.serial(async () => {
      for (const c of manifestChunks(manifest)) if (!this.chunks.has(c.hash)) throw new UserError('incomplete', `volume ${volume}: chunk ${c.hash.slice(0, 16)} of the new snapshot is missing`, 409);
      return this.saveLocked(volume, manifest, stats, newBytes, 0, opts.epoch, opts.keepUntil);
    });
  }

  private saveLocked(volume: string, m: Manifest, stats: CaptureStats, newBytes: number, pauseMs: number, epoch?: number, keepUntil?: number): SnapshotRecord {
    const encoded = encodeManifest(m);
    const refs: ChunkRef[] = [];
    let off = 0;
    for (const len of cutChunks(encoded, 0, encoded.length, true).lengths) {
      const data = encoded.subarray(off, off + len);
      off += len;
      const hash = this.chunks.putData(data);
      refs.push({ hash, size: len });
    }
    this.chunks.flush(); // chunks durable before the record that names them
    this.keepLastSaved(volume, refs, m);
    const seq = (this.list(volume).at(-1)?.seq ?? 0) + 1;
    const files = m.entries.filter((e) => e.type === 'file');
    const rec: SnapshotRecord = {
      id: `${String(seq).padStart(6, '0')}-${randomBytes(4).toString('hex')}`, volume, seq, createdAt: m.createdAt, manifest: refs,
      files: files.length, sizeBytes: files.filter((e) => e.linkTo === undefined).reduce((s, e) => s + e.size, 0),
      newBytes, pauseMs: Math.round(pauseMs * 10) / 10, refused: stats.refused, skipped: stats.skipped, ...(epoch !== undefined ? { epoch } : {}),
      ...(keepUntil !== undefined ? { keepUntil } : {}),
    };
    writeDurably(join(this.snapDir(volume), `${rec.id}.json`), JSON.stringify(rec, null, 2) + '\n');
    return rec;
  }

  /**
   * Takes a snapshot record received from another node (its chunks are all here: the receiver
   * checked) under the sender's id and seq.
   */
  async adopt(rec: SnapshotRecord): Promise<SnapshotRecord> {
    checkVolumeName(rec.volume);
    if (!/^[0-9a-z-]{1,64}$/.test(rec.id)) throw new UserError('bad_snapshot', `invalid snapshot id "${rec.id}"`);
    return this.serial(async () => {
      for (const c of rec.manifest) if (!this.chunks.has(c.hash)) throw new UserError('incomplete', `snapshot ${rec.id}: manifest chunk missing`, 409);
      this.chunks.flush();
      writeDurably(join(this.snapDir(rec.volume), `${rec.id}.json`), JSON.stringify(rec, null, 2) + '\n');
      return rec;
    });
  }

  /** Deletes a snapshot and collects the chunks no remaining snapshot references. */
  delete(volume: string, id: string): Promise<{ removedChunks: number; freedBytes: number }> {
    return this.serial(async () => {
      this.record(volume, id);
      rmSync(join(this.snapDir(volume), `${id}.json`));
      fsyncDir(this.snapDir(volume));
      return this.gcLocked();
    });
  }

  /** Deletes several snapshots of a volume, then collects garbage once (retention). */
  deleteMany(volume: string, ids: string[]): Promise<{ removedChunks: number; freedBytes: number }> {
    checkVolumeName(volume);
    return this.serial(async () => {
      for (const id of ids) rmSync(join(this.snapDir(volume), `${id}.json`), { force: true });
      fsyncDir(this.snapDir(volume));
      return this.gcLocked();
    });
  }

  /**
   * Keeps `hashes` from GC (a transfer under way) for `ttlMs`, or until unpin(key). Kept as given
   * (the GC walks it): an import adds each chunk to its set as it stores it.
   */
  pin(key: string, hashes: ReadonlySet<string> | readonly string[], ttlMs: number): void {
    this.pins.set(key, { hashes, until: monoNow() + ttlMs });
  }

  unpin(key: string): void {
    this.pins.delete(key);
  }

  gc(): Promise<{ removedChunks: number; freedBytes: number }> {
    return this.serial(async () => this.gcLocked());
  }

  private gcLocked(): { removedChunks: number; freedBytes: number } {
    const live = new Set<string>();
    for (const [key, pin] of this.pins) {
      if (pin.until < monoNow()) this.pins.delete(key);
      else for (const h of pin.hashes) live.add(h);
    }
    for (const v of this.volumes()) {
      for (const r of this.list(v)) {
        for (const c of r.manifest) live.add(c.hash);
        for (const c of manifestChunks(this.readManifest(r))) live.add(c.hash);
      }
    }
    return this.chunks.gc(live);
  }

  /** Applies a snapshot to `target` (atomic, redo-only: see restore.ts). */
  restore(volume: string, id: string, target: string, opts: ApplyOptions = {}): Promise<void> {
    return this.serial(() => applySnapshot(this.chunks, this.manifest(volume, id), target, opts));
  }

  /**
   * Keeps `target` a warm copy: brings it to snapshot `id` from the snapshot it holds (recorded in
   * `T.warren-state.json`), touching only what differs; a first apply, or one whose previous
   * snapshot is gone, builds the whole tree (restore). An apply a crash interrupted is redone
   * first (the state file says which one was under way).
   */
  applyTo(volume: string, id: string, target: string, opts: ApplyOptions & { step?: () => void } = {}): Promise<void> {
    return this.serial(async () => {
      const stateFile = `${target}.warren-state.json`;
      const state = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as { applied?: string; applying?: { from?: string; to: string } }) : {};
      const known = new Set(this.list(volume).map((r) => r.id));
      const step = async (from: string | undefined, to: string) => {
        writeDurably(stateFile, JSON.stringify({ applying: { from, to } }));
        if (from && known.has(from) && existsSync(target)) await applyChanges(this.chunks, this.manifest(volume, from), this.manifest(volume, to), target, opts);
        else await applySnapshot(this.chunks, this.manifest(volume, to), target, opts);
        writeDurably(stateFile, JSON.stringify({ applied: to }));
      };
      let applied = state.applied;
      if (state.applying && known.has(state.applying.to)) {
        await step(state.applying.from, state.applying.to);
        applied = state.applying.to;
      } else if (state.applying) applied = undefined; // its target snapshot is gone: rebuild
      if (applied !== id) await step(applied, id);
    });
  }

  async close(): Promise<void> {
    await this.lock;
    for (const { timer } of this.lastSaved.values()) clearTimeout(timer);
    this.lastSaved.clear();
    this.chunks.close();
    if (this.ownsPool) await this.pool.close();
  }
}

/** temp file, fsync, rename, fsync the directory: the file is whole or absent after a crash */
export function writeDurably(path: string, text: string): void {
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dir);
}
