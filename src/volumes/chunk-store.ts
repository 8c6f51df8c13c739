import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { INDEX_REC, readIndexRec, REC_HEADER, recordHolds, writeAll, writeIndexRec, writeRecHeader, type Loc } from './chunk-records.ts';
import { ChunkIndex } from './chunk-index.ts';
import { fsyncDir } from './fsync-dir.ts';

/**
 * A content-addressed chunk store: chunks named by SHA-256, appended to pack files (a file per
 * chunk would cost an inode and a 4 KiB block for each ~8 KiB chunk), located through an index.
 *
 *   packs/NNNNNNNN.pack   records: hash (32) | length (u32 LE) | bytes
 *   index                 records: hash (32) | pack (u32) | offset (u64) | length (u32) = 48 bytes
 *
 * put() gathers records in a write buffer (one write per ~1 MiB, not two per ~8 KiB chunk: the
 * writes were most of a receiving peer's time). Durability: flush() writes and fsyncs the pack, then appends the new chunks'
 * index records and fsyncs the index. A chunk is durable once flush() returns, and a snapshot record
 * is only written after that, so a crash can leave pack bytes nobody indexes (reclaimed by the next
 * gc()) but never an index record or a snapshot without its bytes. Every read re-hashes the chunk
 * (a flipped bit on disk is reported, never served). One process owns a store at a time.
 */

/** `data` when its SHA-256 is `hash` */
function checked(hash: string, data: Buffer): Buffer {
  if (createHash('sha256').update(data).digest('hex') !== hash) throw new CorruptChunk(hash, 'its bytes do not match its hash');
  return data;
}

export class CorruptChunk extends Error {
  constructor(readonly hash: string, why: string) {
    super(`chunk ${hash.slice(0, 16)} is corrupt: ${why}`);
    this.name = 'CorruptChunk';
  }
}

const PACK_LIMIT = 64 * 2 ** 20;
/** records are written to the open pack in pieces of about this size */
const WRITE_BUFFER = 2 ** 20;

export class ChunkStore {
  private readonly index = new ChunkIndex();
  private readonly fds = new Map<number, number>();
  private pending: string[] = [];
  private current = -1;
  private currentSize = 0;
  private indexFd: number;
  /** records put but not yet written to the current pack (they end at currentSize) */
  private readonly wbuf = Buffer.allocUnsafe(WRITE_BUFFER);
  private wlen = 0;

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'packs'), { recursive: true });
    const indexPath = join(dir, 'index');
    // a torn or stale record (a crash mid-append, a pack that lost its tail) is dropped and the
    // index rewritten: appending after a torn tail would misalign every later record, and a stale
    // one could name bytes a new pack of the same number puts there
    const clean = existsSync(indexPath) ? this.loadIndex(readFileSync(indexPath)) : true;
    this.indexFd = clean ? openSync(indexPath, 'a') : this.writeIndex();
    // packs no index record names: left by a gc or a session that crashed before its flush
    const used = new Set([...this.index.locs()].map((l) => l.pack));
    for (const n of this.packNumbers()) if (!used.has(n)) unlinkSync(this.packPath(n));
  }

  /** Reads the index; false when some record had to be dropped. */
  private loadIndex(buf: Buffer): boolean {
    const whole = buf.length - (buf.length % INDEX_REC);
    let clean = whole === buf.length;
    const packSizes = new Map<number, number>();
    for (let at = 0; at < whole; at += INDEX_REC) {
      const { hash, loc } = readIndexRec(buf, at);
      let packSize = packSizes.get(loc.pack);
      if (packSize === undefined) {
        packSize = existsSync(this.packPath(loc.pack)) ? fstatSync(this.fd(loc.pack)).size : -1;
        packSizes.set(loc.pack, packSize);
      }
      if (loc.offset + loc.size <= packSize) this.index.set(hash, loc);
      else clean = false;
    }
    return clean;
  }

  /** Writes the whole index aside, renames it over the old one; returns it opened for appends. */
  private writeIndex(): number {
    const buf = Buffer.alloc(INDEX_REC * this.index.size);
    let at = 0;
    for (const [hash, l] of this.index.entries()) {
      writeIndexRec(buf, at, hash, l);
      at += INDEX_REC;
    }
    const tmp = join(this.dir, 'index.tmp');
    const fd = openSync(tmp, 'w');
    writeSync(fd, buf);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.dir, 'index'));
    fsyncDir(this.dir);
    return openSync(join(this.dir, 'index'), 'a');
  }

  private packPath(n: number): string {
    return join(this.dir, 'packs', `${String(n).padStart(8, '0')}.pack`);
  }

  private packNumbers(): number[] {
    return readdirSync(join(this.dir, 'packs')).filter((f) => /^\d{8}\.pack$/.test(f)).map((f) => Number(f.slice(0, 8))).sort((a, b) => a - b);
  }

  private fd(pack: number): number {
    let fd = this.fds.get(pack);
    if (fd === undefined) {
      fd = openSync(this.packPath(pack), pack === this.current ? 'a+' : 'r');
      this.fds.set(pack, fd);
    }
    return fd;
  }

  has(hash: string): boolean {
    return this.index.has(hash);
  }

  size(hash: string): number | undefined {
    return this.index.get(hash)?.size;
  }

  get count(): number {
    return this.index.size;
  }

  /** every chunk's hash (collect them before changing the store) */
  hashes(): IterableIterator<string> {
    return this.index.keysHex();
  }

  /** Bytes of chunk data held (without pack and index overhead). */
  storedBytes(): number {
    return this.index.totalSize();
  }

  /** Adds a chunk (a no-op when present). The caller vouches for the hash; reads check it. */
  put(hash: string, data: Uint8Array): boolean {
    if (this.index.has(hash)) return false;
    if (this.current < 0 || this.currentSize + REC_HEADER + data.length > PACK_LIMIT) this.rollPack();
    const rec = REC_HEADER + data.length;
    if (this.wlen + rec > WRITE_BUFFER) this.writeOut();
    if (rec > WRITE_BUFFER) {
      const head = Buffer.alloc(REC_HEADER);
      writeRecHeader(head, 0, hash, data.length);
      const from = this.currentSize;
      try {
        writeAll(this.fd(this.current), head);
        writeAll(this.fd(this.current), data);
      } catch (err) {
        this.unstore(from);
        throw err;
      }
    } else {
      writeRecHeader(this.wbuf, this.wlen, hash, data.length);
      this.wbuf.set(data, this.wlen + REC_HEADER);
      this.wlen += rec;
    }
    this.index.set(hash, { pack: this.current, offset: this.currentSize + REC_HEADER, size: data.length });
    this.currentSize += REC_HEADER + data.length;
    this.pending.push(hash);
    return true;
  }

  /** Hashes then adds. */
  putData(data: Uint8Array): string {
    const hash = createHash('sha256').update(data).digest('hex');
    this.put(hash, data);
    return hash;
  }

  private rollPack(): void {
    if (this.current >= 0) this.flushPack();
    const last = Math.max(0, ...this.packNumbers(), ...this.fds.keys());
    this.current = last + 1;
    this.currentSize = 0;
    this.fds.set(this.current, openSync(this.packPath(this.current), 'a+'));
  }

  /** Writes the buffered records to the current pack (not durable yet: flushPack). */
  private writeOut(): void {
    if (this.wlen === 0) return;
    const from = this.currentSize - this.wlen;
    try {
      writeAll(this.fd(this.current), this.wbuf.subarray(0, this.wlen));
    } catch (err) {
      this.unstore(from);
      throw err;
    }
    this.wlen = 0;
  }

  /**
   * A write to the current pack failed (a full disk): the chunks from `from` on are not stored
   * (out of the index, never flushed as if they were, so a sender offers them again), and the pack
   * is cut back there so that the next record starts where the index will say it does.
   */
  private unstore(from: number): void {
    const gone = [...this.index.entries()].filter(([, l]) => l.pack === this.current && l.offset >= from);
    for (const [hash] of gone) this.index.delete(hash);
    this.pending = this.pending.filter((h) => this.index.has(h));
    this.wlen = 0;
    this.currentSize = from;
    ftruncateSync(this.fd(this.current), from);
  }

  private flushPack(): void {
    if (this.current < 0) return;
    this.writeOut();
    fsyncSync(this.fd(this.current));
  }

  /** Makes every chunk put so far durable (pack bytes first, then their index records). */
  flush(): void {
    if (this.pending.length === 0) return;
    this.flushPack();
    const buf = Buffer.alloc(INDEX_REC * this.pending.length);
    this.pending.forEach((hash, i) => {
      const l = this.index.get(hash)!;
      writeIndexRec(buf, i * INDEX_REC, hash, l);
    });
    // a failed append (a full disk) is cut off again: a torn record mid-file would shift every later one
    const size = fstatSync(this.indexFd).size;
    try {
      writeAll(this.indexFd, buf);
      fsyncSync(this.indexFd);
    } catch (err) {
      ftruncateSync(this.indexFd, size);
      throw err;
    }
    this.pending = [];
  }

  /** A chunk's bytes, checked against its name. */
  get(hash: string): Buffer {
    const l = this.index.get(hash);
    if (!l) throw new CorruptChunk(hash, 'missing from the store');
    const { buf, n } = this.readSpan(l.pack, l.offset, l.offset + l.size);
    if (n !== l.size) throw new CorruptChunk(hash, `short read (${n} of ${l.size} bytes)`);
    return checked(hash, buf);
  }

  /** bytes [start, end) of a pack (those still in the write buffer are written out first); `n`: how many were read */
  private readSpan(pack: number, start: number, end: number): { buf: Buffer; n: number } {
    if (pack === this.current && end > this.currentSize - this.wlen) this.writeOut();
    const buf = Buffer.allocUnsafe(end - start);
    return { buf, n: readSync(this.fd(pack), buf, 0, buf.length, start) };
  }

  /**
   * The chunks' bytes in the order given (repeats too), each checked against its hash as get()
   * does. Chunks that lie one after another in a pack, in that order (a file stored in one
   * snapshot), are read in one read of up to `maxBytes`: restoring a 1 GiB file chunk by chunk
   * was ~130k reads. The buffers yielded are the caller's.
   */
  *inOrder(hashes: readonly string[], maxBytes = 2 ** 20): Generator<Buffer> {
    for (let i = 0; i < hashes.length; ) {
      // the run's places are taken before the first yield: the caller may await between chunks
      const first = this.index.get(hashes[i]!);
      const run = first ? [first] : [];
      while (first && i + run.length < hashes.length) {
        const l = this.index.get(hashes[i + run.length]!);
        const last = run.at(-1)!;
        if (!l || l.pack !== first.pack || l.offset !== last.offset + last.size + REC_HEADER || l.offset + l.size - first.offset > maxBytes) break;
        run.push(l);
      }
      if (!first || run.length === 1) {
        yield this.get(hashes[i++]!);
        continue;
      }
      const last = run.at(-1)!;
      const { buf, n } = this.readSpan(first.pack, first.offset, last.offset + last.size);
      for (const l of run) {
        const h = hashes[i++]!;
        // a short read: each chunk on its own (get() says which is wrong)
        yield n === buf.length ? checked(h, buf.subarray(l.offset - first.offset, l.offset - first.offset + l.size)) : this.get(h);
      }
    }
  }

  /**
   * The records (hash | length | bytes, the pack's own layout and the replication stream's) of
   * those of `hashes` held here, in pack order: adjacent records are read together, up to
   * `maxBytes` a piece (one read and no copy for what a per-chunk get() read and copied one by
   * one). Every chunk is checked against its hash: a bad one throws CorruptChunk, or is left out
   * when `skipBad`. With `rehash: false` only each record's header is checked (its name and
   * length): for a reader that hashes every chunk itself anyway (a replication receiver).
   * Yields each piece with the chunks it holds.
   */
  *records(hashes: Iterable<string>, opts: { maxBytes?: number; skipBad?: boolean; rehash?: boolean } = {}): Generator<{ buf: Buffer; chunks: number; bytes: number }> {
    const maxBytes = opts.maxBytes ?? 2 ** 20;
    const held = [...new Set(hashes)].flatMap((h) => {
      const l = this.index.get(h);
      return l ? [{ hash: h, ...l }] : [];
    }).sort((a, b) => a.pack - b.pack || a.offset - b.offset);
    for (let i = 0; i < held.length; ) {
      const first = held[i]!;
      let j = i + 1;
      let end = first.offset + first.size;
      while (j < held.length && held[j]!.pack === first.pack && held[j]!.offset === end + REC_HEADER && end + REC_HEADER + held[j]!.size - (first.offset - REC_HEADER) <= maxBytes) {
        end = held[j]!.offset + held[j]!.size;
        j++;
      }
      const start = first.offset - REC_HEADER;
      const { buf, n } = this.readSpan(first.pack, start, end);
      // a short read or a bad record: the run is checked chunk by chunk (get() says what is wrong)
      const bad = n !== buf.length || held.slice(i, j).some((c) => !recordHolds(buf, c.offset - REC_HEADER - start, c.hash, c.size, opts.rehash ?? true));
      if (!bad) yield { buf, chunks: j - i, bytes: buf.length - (j - i) * REC_HEADER };
      else {
        for (const c of held.slice(i, j)) {
          let data: Buffer;
          try {
            data = this.get(c.hash);
          } catch (err) {
            if (opts.skipBad && err instanceof CorruptChunk) continue;
            throw err;
          }
          const rec = Buffer.allocUnsafe(REC_HEADER + data.length);
          writeRecHeader(rec, 0, c.hash, data.length);
          data.copy(rec, REC_HEADER);
          yield { buf: rec, chunks: 1, bytes: data.length };
        }
      }
      i = j;
    }
  }

  /**
   * Drops chunks from the index for good (a scrub found their bytes bad): they are missing from
   * then on, so a later put() stores them again (from a peer, or a snapshot reading the file
   * again). Their bad bytes stay in their pack until a gc rewrites it. Durable on return.
   */
  forget(hashes: Iterable<string>): number {
    this.flush();
    let n = 0;
    for (const h of hashes) if (this.index.delete(h)) n++;
    if (n === 0) return 0;
    closeSync(this.indexFd);
    this.indexFd = this.writeIndex();
    return n;
  }

  /** Where a chunk's bytes sit (tests use it to damage one, as a bad disk would). */
  locate(hash: string): { path: string; offset: number; size: number } | undefined {
    const l = this.index.get(hash);
    this.writeOut();
    return l && { path: this.packPath(l.pack), offset: l.offset, size: l.size };
  }

  /**
   * Garbage collection: drops every chunk not in `live`. Packs holding dead bytes are rewritten
   * (their live chunks copied to a new pack), then a new index replaces the old one atomically,
   * then the old packs go. A crash at any point leaves the old index valid or the new one complete.
   */
  gc(live: Set<string>): { removedChunks: number; freedBytes: number } {
    this.flush();
    this.current = -1; // the open pack is rewritten like any other; copies go to a fresh one
    let removedChunks = 0, freedBytes = 0;
    const byPack = new Map<number, string[]>();
    for (const [hash, l] of this.index.entries()) {
      if (!live.has(hash)) {
        removedChunks++;
        freedBytes += l.size;
        continue;
      }
      const list = byPack.get(l.pack) ?? [];
      list.push(hash);
      byPack.set(l.pack, list);
    }
    const liveBytes = (p: number) => (byPack.get(p) ?? []).reduce((s, h) => s + REC_HEADER + this.index.get(h)!.size, 0);
    const rewrite = this.packNumbers().filter((p) => liveBytes(p) < fstatSync(this.fd(p)).size);
    for (const hash of [...this.index.keysHex()]) if (!live.has(hash)) this.index.delete(hash);
    for (const p of rewrite) {
      for (const hash of byPack.get(p) ?? []) {
        const data = this.get(hash);
        this.index.delete(hash);
        this.put(hash, data);
      }
    }
    this.flushPack();
    this.pending = [];
    // the new index: every live chunk, written aside then renamed over the old one
    closeSync(this.indexFd);
    this.indexFd = this.writeIndex();
    for (const p of rewrite) {
      const fd = this.fds.get(p);
      if (fd !== undefined) closeSync(fd);
      this.fds.delete(p);
      unlinkSync(this.packPath(p));
    }
    return { removedChunks, freedBytes };
  }

  /** Bytes the store takes on disk (packs and index). */
  diskBytes(): number {
    this.writeOut();
    let n = fstatSync(this.indexFd).size;
    for (const p of this.packNumbers()) n += fstatSync(this.fd(p)).size;
    return n;
  }

  close(): void {
    this.flush();
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
    closeSync(this.indexFd);
  }
}
