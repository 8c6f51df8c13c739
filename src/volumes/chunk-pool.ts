import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { mergeSplit, partHints, SPLIT_MIN_BYTES, splitPoint, syncPoints } from './chunk-split.ts';

export interface FileChunk {
  hash: string;
  size: number;
  /** where the chunk's bytes start in the file */
  offset: number;
}

export interface ChunkJobResult {
  chunks: FileChunk[];
  holes: Array<[number, number]>;
  /** bytes taken as the hint's chunks (found unchanged without the content-defined cut) */
  reusedBytes?: number;
  /** a range job stopped at its `to`: the offset of the first byte it left uncut */
  tail?: number;
  /** a range job with `syncAt`: the offset where its cut met one of them (it stopped there) */
  syncedAt?: number;
}

/**
 * Part of a file (without holes) for one worker of a split job. The part starts a chunk at `from`
 * and, with `to`, stops reading there and leaves the bytes after its last cut uncut (`tail`): the
 * cut there depends on bytes beyond `to`. With `syncAt`, it stops at the first cut that lands on
 * one of those offsets: the next part's chunk starts, where the two cuts agree from then on.
 */
export interface ChunkRange {
  from: number;
  to?: number;
  syncAt?: number[];
}

/**
 * The file's chunks in its last snapshot (a file with no holes), in order. Where the file still
 * holds one of them at its old offset (same SHA-256), the worker takes it without running the
 * chunker over it: a 1% change to a 1 GiB file then costs its hashing, not the cut as well.
 */
export interface ChunkHint {
  sizes: number[];
  hashes: string[];
  /** the file offset of the first chunk listed (a slice of the hint): 0 when absent */
  offset?: number;
  /** false for a slice that stops before the file's last chunk (that one was cut by the file's end) */
  endsFile?: boolean;
}

export interface ChunkJob {
  id: number;
  path: string;
  sparse: boolean;
  hint?: ChunkHint;
  range?: ChunkRange;
  /** with pieces: one Int32, the pieces sent and not yet taken (the worker waits at PIECES_IN_FLIGHT) */
  flow?: SharedArrayBuffer;
}

/** Bytes the worker read and hashed, handed over whole: `chunks[i]` is `buf[at, at + size)`. */
export interface ChunkPiece {
  buf: ArrayBuffer;
  chunks: Array<FileChunk & { at: number }>;
}

/** pieces (~4 MiB each) a worker gets ahead of the thread taking them, at most */
export const PIECES_IN_FLIGHT = 4;

/** the file's size now; 0 when it cannot be read (the job itself then reports why) */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** The worker's entry point: the bundle's sibling (dist/chunk-worker.mjs) or the source under tsx. */
function workerEntry(): string {
  const here = import.meta.url;
  return fileURLToPath(new URL(here.endsWith('.ts') ? './chunk-worker.ts' : './chunk-worker.mjs', here));
}

/** how long a worker waits for the next job before it stops (a snapshot every 2 s keeps it) */
const IDLE_STOP_MS = 30_000;

/**
 * Worker threads that chunk and hash files. Default size: one thread on a machine with up to two
 * cores (the agent keeps one for itself), else half of them. Workers start on first use and stop
 * after IDLE_STOP_MS without a job, so an agent without volumes, or whose volumes are not
 * written, pays nothing for them (a thread with its own V8 heap each).
 */
export class ChunkPool {
  private readonly idle: Worker[] = [];
  private readonly idleTimers = new Map<Worker, NodeJS.Timeout>();
  private busy = 0;
  private readonly queue: Array<{ job: Omit<ChunkJob, 'id'>; onPiece?: (p: ChunkPiece) => void; wide: boolean; resolve: (r: ChunkJobResult) => void; reject: (e: Error) => void }> = [];
  private nextId = 1;
  private readonly returns = new WeakMap<Worker, MessagePort>();
  private closed = false;

  constructor(
    readonly size = Math.max(1, Math.floor(availableParallelism() / 2)),
    /** files from this size on are cut by two threads at once (tests set a small one) */
    private readonly splitMinBytes = SPLIT_MIN_BYTES,
    private readonly idleStopMs = IDLE_STOP_MS,
  ) {}

  /** worker threads running now, busy or idle */
  get threads(): number {
    return this.busy + this.idle.length;
  }

  /**
   * Chunks and hashes a file. With `onPiece`, the bytes come too, piece by piece as they are read
   * (before the promise settles; a large file's parts are read at once, so not in file order, and
   * a few pieces' chunks may not be in the result: see chunk-split.ts); an error it throws fails
   * the job. A piece's buffer is lent: it goes back to the worker when onPiece returns (copy what
   * must outlive it).
   */
  async chunk(path: string, sparse: boolean, onPiece?: (piece: ChunkPiece) => void, hint?: ChunkHint): Promise<ChunkJobResult> {
    const mid = sparse ? undefined : splitPoint(sizeOf(path), hint, this.splitMinBytes);
    if (mid === undefined) return this.run({ path, sparse, hint }, onPiece);
    // two threads at once even in a pool of one: the second runs at the same low priority, on the
    // core the agent leaves idle (a 1 GiB file is cut in about half the time)
    // both settle before either's error is thrown: no piece of this job reaches onPiece after it failed
    const parts = await Promise.allSettled([
      this.run({ path, sparse, hint: partHints.a(hint, mid), range: { from: 0, to: mid } }, onPiece, true),
      this.run({ path, sparse, hint: partHints.b(hint, mid), range: { from: mid } }, onPiece, true),
    ]);
    const [a, b] = parts.map((p) => {
      if (p.status === 'rejected') throw p.reason;
      return p.value;
    }) as [ChunkJobResult, ChunkJobResult];
    if (a.tail === undefined) return a; // the file ended before mid (it shrank): A cut all of it
    if (a.tail === mid) return mergeSplit(a, { chunks: [], holes: [], syncedAt: mid }, b); // A's last cut was mid itself
    const resync = await this.run({ path, sparse, hint: partHints.resync(hint, a.tail, mid), range: { from: a.tail, syncAt: syncPoints(b) } }, onPiece);
    return mergeSplit(a, resync, b);
  }

  private run(job: Omit<ChunkJob, 'id' | 'flow'>, onPiece?: (piece: ChunkPiece) => void, wide = false): Promise<ChunkJobResult> {
    if (this.closed) return Promise.reject(new Error('chunk pool is closed'));
    const { hint, range, ...rest } = job;
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { ...rest, ...(hint ? { hint } : {}), ...(range ? { range } : {}), ...(onPiece ? { flow: new SharedArrayBuffer(4) } : {}) }, onPiece, wide, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    // a part of a split file may take one thread beyond the pool's size (see chunk)
    while (this.queue.length && this.busy < (this.queue[0]!.wide ? Math.max(this.size, 2) : this.size)) {
      const w = this.unpark() ?? this.spawn();
      const { job, onPiece, resolve, reject } = this.queue.shift()!;
      const id = this.nextId++;
      const flow = job.flow && new Int32Array(job.flow);
      let pieceError: Error | undefined;
      const chunks: FileChunk[] = []; // with pieces: gathered from them
      this.busy++;
      const done = () => {
        w.off('message', onMessage);
        w.off('error', onError);
        this.busy--;
        if (this.closed) void w.terminate();
        else this.park(w);
        this.pump();
      };
      const onMessage = (m: { id: number; piece?: ChunkPiece; result?: ChunkJobResult; error?: string }) => {
        if (m.id !== id) return;
        if (m.piece) {
          for (const c of m.piece.chunks) chunks.push({ hash: c.hash, size: c.size, offset: c.offset });
          try {
            if (!pieceError) onPiece?.(m.piece);
          } catch (err) {
            pieceError = err as Error; // the rest is read to the end, unused
          }
          this.returns.get(w)?.postMessage(m.piece.buf, [m.piece.buf]);
          Atomics.sub(flow!, 0, 1);
          Atomics.notify(flow!, 0);
          return;
        }
        done();
        if (m.error !== undefined) reject(new Error(m.error));
        else if (pieceError) reject(pieceError);
        else resolve(onPiece ? { ...m.result!, chunks } : m.result!);
      };
      const onError = (err: Error) => {
        this.busy--;
        w.off('message', onMessage);
        reject(err);
        this.pump();
      };
      w.on('message', onMessage);
      w.once('error', onError);
      w.postMessage({ id, ...job });
    }
  }

  /** an idle worker waits for work, and stops when none comes in time */
  private park(w: Worker): void {
    this.idle.push(w);
    const timer = setTimeout(() => {
      this.idleTimers.delete(w);
      this.idle.splice(this.idle.indexOf(w), 1);
      this.returns.delete(w);
      void w.terminate();
    }, this.idleStopMs);
    timer.unref();
    this.idleTimers.set(w, timer);
  }

  private unpark(): Worker | undefined {
    const w = this.idle.pop();
    if (w) {
      clearTimeout(this.idleTimers.get(w));
      this.idleTimers.delete(w);
    }
    return w;
  }

  private spawn(): Worker {
    const entry = workerEntry();
    // pieces' buffers go back to the worker on a port of their own: it takes them while it works
    const { port1, port2 } = new MessageChannel();
    const opts = { workerData: { returns: port1 }, transferList: [port1] };
    // under tsx (tests, a source checkout) the thread registers tsx itself: loader hooks given to
    // the main thread with --import do not reach worker threads on Node 20
    const w = entry.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(pathToFileURL(entry).href)}); })`, { eval: true, ...opts })
      : new Worker(entry, opts);
    w.unref();
    port2.unref();
    this.returns.set(w, port2);
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { reject } of this.queue.splice(0)) reject(new Error('chunk pool is closed'));
    for (const t of this.idleTimers.values()) clearTimeout(t);
    this.idleTimers.clear();
    await Promise.all(this.idle.splice(0).map((w) => w.terminate()));
  }
}
