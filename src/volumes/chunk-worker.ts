/**
 * Worker thread: cuts one file into content-defined chunks and hashes them, so the agent's event
 * loop never spends seconds on a large file (a snapshot must not delay gossip heartbeats). With
 * `pieces` it also hands the bytes it hashed to the main thread as it goes (each read buffer
 * transferred, not copied, with the chunks it holds): the store takes them from there, so a file
 * is read once and every chunk is stored under the hash of the very bytes stored. The main thread
 * gives each buffer back when it has taken its piece (`workerData.returns`).
 */
import { hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import { setPriority } from 'node:os';
import { isMainThread, parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { cutPoint, MAX_CHUNK } from '../core/volumes/fastcdc.ts';
import { PIECES_IN_FLIGHT, type ChunkHint, type ChunkJob, type ChunkJobResult, type ChunkPiece, type ChunkRange, type FileChunk } from './chunk-pool.ts';

const BLOCK = 4096;
const READ = 4 * 2 ** 20;

/** where a piece goes: the main thread, holding back while it has PIECES_IN_FLIGHT not yet taken */
type PieceSink = (piece: ChunkPiece) => void;

/** A hint made ready for lookups: which old chunk began at a file offset. */
interface Hint {
  at: Map<number, number>;
  sizes: number[];
  hashes: string[];
  endsFile?: boolean;
}

function hintOf(h: ChunkHint | undefined): Hint | undefined {
  if (!h || !h.sizes.length) return undefined;
  const at = new Map<number, number>();
  let off = h.offset ?? 0;
  h.sizes.forEach((size, i) => {
    at.set(off, i);
    off += size;
  });
  return { at, sizes: h.sizes, hashes: h.hashes, endsFile: h.endsFile };
}

/** one-shot: ~10% faster than a Hash object per 8 KiB chunk */
const sha256 = (b: Uint8Array) => hash('sha256', b, 'hex');

/** Feeds a run of data (no holes inside) to the chunker, keeping the uncut tail. */
class Splitter {
  private buf: Buffer;
  private have = 0;
  private base = 0;
  reusedBytes = 0;
  /** the file offset where a cut met one of `sync`'s (no more is cut after it) */
  syncedAt: number | undefined;
  constructor(private readonly out: FileChunk[], private readonly sink: PieceSink | undefined, capacity: number, private readonly hint?: Hint, private readonly sync?: Set<number>) {
    this.buf = sink ? lentBuffer(capacity) : Buffer.allocUnsafe(capacity);
  }

  /** the file offset of the first byte not cut yet */
  get uncutFrom(): number {
    return this.base;
  }

  /** the next data starts at this file offset (after a hole) */
  restart(offset: number): void {
    this.base = offset;
    this.have = 0;
  }

  push(data: Uint8Array): void {
    if (this.have + data.length > this.buf.length) {
      const bigger = this.sink ? lentBuffer(this.have + data.length) : Buffer.allocUnsafe(this.have + data.length);
      this.buf.copy(bigger, 0, 0, this.have);
      this.buf = bigger;
    }
    this.buf.set(data, this.have);
    this.have += data.length;
    this.cut(false);
  }

  finish(): void {
    this.cut(true);
  }

  /**
   * The old chunk that starts at buf[pos] when these bytes still hold it, else undefined. Taking
   * it cuts where the chunker would: a cut depends only on the bytes from the chunk's start to it.
   * The old file's last chunk was cut by its end, so it holds only where the data ends as well.
   */
  private reuse(pos: number, final: boolean): { len: number; hash: string } | undefined {
    const i = this.hint?.at.get(this.base + pos);
    if (i === undefined) return undefined;
    const len = this.hint!.sizes[i]!;
    const last = this.hint!.endsFile !== false && i === this.hint!.sizes.length - 1;
    if (pos + len > this.have || (last && !(final && pos + len === this.have))) return undefined;
    const h = sha256(this.buf.subarray(pos, pos + len));
    return h === this.hint!.hashes[i] ? { len, hash: h } : undefined;
  }

  private cut(final: boolean): void {
    const from = this.out.length;
    let pos = 0;
    while (this.syncedAt === undefined && pos < this.have && (final || this.have - pos >= MAX_CHUNK)) {
      const old = this.reuse(pos, final);
      if (old) this.reusedBytes += old.len;
      const len = old?.len ?? cutPoint(this.buf, pos, this.have);
      this.out.push({ hash: old?.hash ?? sha256(this.buf.subarray(pos, pos + len)), size: len, offset: this.base + pos });
      pos += len;
      if (this.sync?.has(this.base + pos)) this.syncedAt = this.base + pos;
    }
    if (this.sink && pos > 0) {
      // the cut part goes with its chunks; the uncut tail starts the next buffer
      const sent = this.buf;
      this.buf = lentBuffer(sent.length);
      sent.copy(this.buf, 0, pos, this.have);
      this.sink({ buf: sent.buffer as ArrayBuffer, chunks: this.out.splice(from).map((c) => ({ ...c, at: c.offset - this.base })) });
    } else this.buf.copy(this.buf, 0, pos, this.have);
    this.have -= pos;
    this.base += pos;
  }
}

/** buffers the main thread gave back after taking their pieces (read buffers cost page faults) */
const spare: ArrayBuffer[] = [];
const returns: MessagePort | undefined = isMainThread ? undefined : (workerData as { returns?: MessagePort } | undefined)?.returns;

/** A buffer of `size` bytes: one given back, else a new one with its own ArrayBuffer (transferred whole). */
function lentBuffer(size: number): Buffer {
  for (let m = returns && receiveMessageOnPort(returns); m; m = receiveMessageOnPort(returns!)) {
    if ((m.message as ArrayBuffer).byteLength === size && spare.length < PIECES_IN_FLIGHT * 2) spare.push(m.message as ArrayBuffer);
  }
  const i = spare.findIndex((b) => b.byteLength === size);
  return i >= 0 ? Buffer.from(spare.splice(i, 1)[0]!) : Buffer.allocUnsafeSlow(size);
}

function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Chunks a file. In a sparse file (it has holes now) every 4 KiB-aligned all-zero block is taken
 * as a hole (as `cp --sparse=always` does); data between holes is chunked on its own, so no chunk
 * spans a hole and restore writes each chunk at one offset. A hint (the file's last chunks) is for
 * a file without holes only: the offsets of its chunks are those of a file in one piece. With a
 * sink, the chunks go with the pieces only (the result's list is empty). A range (a file without
 * holes) cuts part of the file for a split job: see ChunkRange.
 */
export function chunkFile(path: string, sparse: boolean, sink?: PieceSink, hint?: ChunkHint, range?: ChunkRange): ChunkJobResult {
  if (sparse && range) throw new Error('chunkFile: a range of a sparse file');
  const fd = openSync(path, 'r');
  const chunks: FileChunk[] = [];
  const holes: Array<[number, number]> = [];
  const read = Math.max(BLOCK, Math.min(READ, fstatSync(fd).size)); // a small file needs no 4 MiB
  const split = new Splitter(chunks, sink, read + MAX_CHUNK, sparse ? undefined : hintOf(hint), range?.syncAt && new Set(range.syncAt));
  const buf = Buffer.allocUnsafe(read);
  let pos = range?.from ?? 0;
  let atTo = false; // stopped at range.to with the tail uncut
  split.restart(pos);
  try {
    for (;;) {
      const want = range?.to === undefined ? read : Math.min(read, range.to - pos);
      if (want <= 0) {
        atTo = true;
        break;
      }
      const n = readSync(fd, buf, 0, want, pos);
      if (n === 0) break;
      if (!sparse) {
        split.push(buf.subarray(0, n));
        pos += n;
        if (split.syncedAt !== undefined) break;
        continue;
      }
      let dataFrom = 0; // start of the data run in buf not yet pushed
      for (let i = 0; i < n; i += BLOCK) {
        // a short block is the file's tail: zeros there are a hole too (restore's ftruncate makes it)
        const end = Math.min(n, i + BLOCK);
        if (!isZero(buf, i, end)) continue;
        split.push(buf.subarray(dataFrom, i));
        split.finish();
        const last = holes.at(-1);
        if (last && last[0] + last[1] === pos + i) last[1] += end - i;
        else holes.push([pos + i, end - i]);
        dataFrom = end;
        split.restart(pos + end);
      }
      split.push(buf.subarray(dataFrom, n));
      pos += n;
    }
    if (!atTo && split.syncedAt === undefined) split.finish();
  } finally {
    closeSync(fd);
  }
  return { chunks, holes, reusedBytes: split.reusedBytes, ...(atTo ? { tail: split.uncutFrom } : {}), ...(split.syncedAt !== undefined ? { syncedAt: split.syncedAt } : {}) };
}

if (!isMainThread && parentPort) {
  // lower this thread's priority (Linux: setpriority on a thread id moves that thread only)
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (tid > 0) setPriority(tid, 10);
  } catch {
    // not Linux, or not allowed: normal priority
  }
  const port = parentPort;
  port.on('message', (job: ChunkJob) => {
    try {
      const flow = job.flow && new Int32Array(job.flow);
      const sink: PieceSink | undefined = flow && ((piece) => {
        // wait (bounded, then look again) while the main thread has not taken enough of the last ones
        for (let n = Atomics.load(flow, 0); n >= PIECES_IN_FLIGHT; n = Atomics.load(flow, 0)) Atomics.wait(flow, 0, n, 1000);
        Atomics.add(flow, 0, 1);
        port.postMessage({ id: job.id, piece }, [piece.buf]);
      });
      // with pieces the main thread has every chunk already: the list is not sent twice
      port.postMessage({ id: job.id, result: chunkFile(job.path, job.sparse, sink, job.hint, job.range) });
    } catch (err) {
      port.postMessage({ id: job.id, error: (err as Error).message });
    }
  });
}
