import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

export interface FileChunk {
  hash: string;
  size: number;
  /** where the chunk's bytes start in the file */
  offset: number;
}

export interface ChunkJobResult {
  chunks: FileChunk[];
  holes: Array<[number, number]>;
}

export interface ChunkJob {
  id: number;
  path: string;
  sparse: boolean;
}

/** The worker's entry point: the bundle's sibling (dist/chunk-worker.mjs) or the source under tsx. */
function workerEntry(): string {
  const here = import.meta.url;
  return fileURLToPath(new URL(here.endsWith('.ts') ? './chunk-worker.ts' : './chunk-worker.mjs', here));
}

/**
 * Worker threads that chunk and hash files. Default size: one thread on a machine with up to two
 * cores (the agent keeps one for itself), else half of them. Workers start on first use and stop
 * when idle, so an agent without volumes pays nothing.
 */
export class ChunkPool {
  private readonly idle: Worker[] = [];
  private busy = 0;
  private readonly queue: Array<{ job: Omit<ChunkJob, 'id'>; resolve: (r: ChunkJobResult) => void; reject: (e: Error) => void }> = [];
  private nextId = 1;
  private closed = false;

  constructor(readonly size = Math.max(1, Math.floor(availableParallelism() / 2))) {}

  chunk(path: string, sparse: boolean): Promise<ChunkJobResult> {
    if (this.closed) return Promise.reject(new Error('chunk pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { path, sparse }, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length && (this.idle.length || this.busy < this.size)) {
      const w = this.idle.pop() ?? this.spawn();
      const { job, resolve, reject } = this.queue.shift()!;
      const id = this.nextId++;
      this.busy++;
      const done = () => {
        w.off('message', onMessage);
        w.off('error', onError);
        this.busy--;
        if (this.closed) void w.terminate();
        else this.idle.push(w);
        this.pump();
      };
      const onMessage = (m: { id: number; result?: ChunkJobResult; error?: string }) => {
        if (m.id !== id) return;
        done();
        if (m.error !== undefined) reject(new Error(m.error));
        else resolve(m.result!);
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

  private spawn(): Worker {
    const entry = workerEntry();
    // under tsx (tests, a source checkout) the thread registers tsx itself: loader hooks given to
    // the main thread with --import do not reach worker threads on Node 20
    const w = entry.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(pathToFileURL(entry).href)}); })`, { eval: true })
      : new Worker(entry);
    w.unref();
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { reject } of this.queue.splice(0)) reject(new Error('chunk pool is closed'));
    await Promise.all(this.idle.splice(0).map((w) => w.terminate()));
  }
}
