/**
 * Worker thread: cuts one file into content-defined chunks and hashes them, so the agent's event
 * loop never spends seconds on a large file (a snapshot must not delay gossip heartbeats). It only
 * reads: the main thread copies the new chunks' bytes into the store by offset.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';
import { setPriority } from 'node:os';
import { isMainThread, parentPort } from 'node:worker_threads';
import { cutChunks, MAX_CHUNK } from '../core/volumes/fastcdc.ts';
import type { ChunkJob, ChunkJobResult, FileChunk } from './chunk-pool.ts';

const BLOCK = 4096;
const READ = 4 * 2 ** 20;

/** Feeds a run of data (no holes inside) to the chunker, keeping the uncut tail. */
class Splitter {
  private buf = Buffer.allocUnsafe(READ + MAX_CHUNK);
  private have = 0;
  private base = 0;
  constructor(private readonly out: FileChunk[]) {}

  /** the next data starts at this file offset (after a hole) */
  restart(offset: number): void {
    this.base = offset;
    this.have = 0;
  }

  push(data: Uint8Array): void {
    if (this.have + data.length > this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.have + data.length);
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

  private cut(final: boolean): void {
    const { lengths, consumed } = cutChunks(this.buf, 0, this.have, final);
    let off = 0;
    for (const len of lengths) {
      this.out.push({ hash: createHash('sha256').update(this.buf.subarray(off, off + len)).digest('hex'), size: len, offset: this.base + off });
      off += len;
    }
    this.buf.copy(this.buf, 0, consumed, this.have);
    this.have -= consumed;
    this.base += consumed;
  }
}

function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Chunks a file. In a sparse file (it has holes now) every 4 KiB-aligned all-zero block is taken
 * as a hole (as `cp --sparse=always` does); data between holes is chunked on its own, so no chunk
 * spans a hole and restore writes each chunk at one offset.
 */
export function chunkFile(path: string, sparse: boolean): ChunkJobResult {
  const fd = openSync(path, 'r');
  const chunks: FileChunk[] = [];
  const holes: Array<[number, number]> = [];
  const split = new Splitter(chunks);
  const buf = Buffer.allocUnsafe(READ);
  try {
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, READ, pos);
      if (n === 0) break;
      if (!sparse) {
        split.push(buf.subarray(0, n));
        pos += n;
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
    split.finish();
  } finally {
    closeSync(fd);
  }
  return { chunks, holes };
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
      port.postMessage({ id: job.id, result: chunkFile(job.path, job.sparse) });
    } catch (err) {
      port.postMessage({ id: job.id, error: (err as Error).message });
    }
  });
}
