import { hash } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pacer } from './pacer.ts';
import { UserError } from '../core/errors.ts';
import { chunkNeed, roomFor } from '../core/volumes/chunk-need.ts';
import { CorruptManifest, decodeManifest, type ChunkRef, type Manifest } from '../core/volumes/manifest.ts';
import { CHUNK_RECORD_HEADER, recordsOf } from './record-stream.ts';
import { manifestKey, type SnapshotRecord, type VolumeStore } from './volume-store.ts';
import type { ChunkStore } from './chunk-store.ts';

/**
 * Snapshot replication between two nodes' stores: offer -> need -> send -> commit.
 *
 *  offer(record)   the receiver answers which chunks it lacks: first the manifest's own chunks
 *                  (it cannot know the rest before it has the manifest), then, once it has them,
 *                  the file chunks. It refuses (507) when they would not fit on its disk.
 *  send(chunks)    a stream of records hash (32) | length (u32 LE) | bytes; each is re-hashed
 *                  before it is stored, and what arrived is fsynced even when the stream is cut.
 *  commit(record)  once nothing is missing, the receiver writes the snapshot record: only then
 *                  is the copy complete (a half-received snapshot is never listed).
 *
 * Resumable by construction: after a cut the sender offers again and sends only what the answer
 * lists, i.e. never what arrived before the cut.
 */

export interface OfferAnswer {
  missing: ChunkRef[];
  missingBytes: number;
  /** the manifest's chunks are still missing: offer again after sending these */
  phase: 'manifest' | 'data';
}

export { CHUNK_RECORD_HEADER };

export interface ReceiverOptions {
  /** bytes the receiver keeps free whatever it is sent (default 1 GiB) */
  reserveBytes?: number;
  /** how long chunks of an offered snapshot are kept from GC without a commit (default 1 h) */
  pinMs?: number;
}

export class SnapshotReceiver {
  /** chunk streams being stored right now (one cut by its sender may still drain for a moment) */
  receiving = 0;

  constructor(
    private readonly store: VolumeStore,
    private readonly opts: ReceiverOptions = {},
  ) {}

  /** bytes kept free whatever arrives (an import checks against it too) */
  get reserveBytes(): number {
    return this.opts.reserveBytes ?? 2 ** 30;
  }

  private freeBytes(): number {
    const s = statfsSync(this.store.dataDir);
    return s.bavail * s.bsize;
  }

  /**
   * The file chunks of the snapshot's manifest, decoded once per snapshot: a push offers it two
   * or three times and commits it, and a 1 GiB file's manifest has ~130k chunks (its decoding
   * was most of each offer). With them, the hashes that pin them and the manifest's own chunks
   * (a list: the GC only walks it; a set of ~130k hashes cost more than the rest of the offer).
   * The last two snapshots offered are kept (one per peer pushing).
   */
  private dataChunks(rec: SnapshotRecord): Decoded {
    const key = pinKey(rec);
    const manifest = manifestKey(rec);
    const hit = this.decoded.get(key);
    if (hit?.manifest === manifest) return hit;
    const chunks = this.store.chunks;
    const m = manifestOf(rec, Buffer.concat([...chunks.inOrder(rec.manifest.map((c) => c.hash))]));
    // every file chunk reference in order, repeats too: chunkNeed lists each missing one once
    const data = m.entries.flatMap((e) => e.chunks ?? []);
    const pinned = [...rec.manifest, ...data].map((c) => c.hash);
    const decoded = { manifest, data, pinned };
    this.decoded.delete(key);
    this.decoded.set(key, decoded);
    for (const k of this.decoded.keys()) if (this.decoded.size > 2) this.decoded.delete(k);
    return decoded;
  }

  private readonly decoded = new Map<string, Decoded>();

  offer(rec: SnapshotRecord): OfferAnswer {
    const chunks = this.store.chunks;
    const has = (h: string) => chunks.has(h);
    let need = chunkNeed(rec.manifest, has);
    let phase: OfferAnswer['phase'] = 'manifest';
    let pinned: readonly string[] | undefined;
    if (need.missing.length === 0) {
      const decoded = this.dataChunks(rec);
      need = chunkNeed(decoded.data, has);
      phase = 'data';
      pinned = decoded.pinned;
    }
    // what arrives before the commit is referenced by no snapshot yet: GC must leave it
    this.store.pin(pinKey(rec), pinned ?? rec.manifest.map((c) => c.hash), this.opts.pinMs ?? 3_600_000);
    // manifest chunks are small; the check that matters is on the data phase, with its real size
    const room = roomFor(phase === 'data' ? need.missingBytes : 0, this.freeBytes(), this.reserveBytes);
    if (!room.ok) throw new UserError('insufficient_storage', `volume ${rec.volume} snapshot ${rec.id}: ${room.reason}`, 507);
    return { missing: need.missing, missingBytes: need.missingBytes, phase };
  }

  /**
   * Stores the chunk records of a stream as they arrive (each checked against its hash); what
   * arrived is made durable even when the stream breaks off.
   */
  async receive(body: AsyncIterable<Uint8Array>): Promise<{ stored: number; bytes: number }> {
    const chunks = this.store.chunks;
    let stored = 0, bytes = 0;
    // a fast sender's pieces arrive back to back: hashing and storing them must leave the loop turns
    const pace = pacer();
    this.receiving++;
    try {
      for await (const { hash: name, data } of recordsOf(body)) {
        await pace();
        if (hash('sha256', data, 'hex') !== name) throw new UserError('bad_chunk', `chunk ${name.slice(0, 16)} does not match its hash`);
        if (chunks.put(name, data)) {
          stored++;
          bytes += data.length;
        }
      }
    } finally {
      chunks.flush();
      this.receiving--;
    }
    return { stored, bytes };
  }

  async commit(rec: SnapshotRecord): Promise<SnapshotRecord> {
    const answer = this.offer(rec);
    if (answer.missing.length) throw new UserError('incomplete', `volume ${rec.volume} snapshot ${rec.id}: ${answer.missing.length} chunks still missing`, 409);
    const adopted = await this.store.adopt(rec);
    this.store.unpin(pinKey(rec));
    this.decoded.delete(pinKey(rec));
    return adopted;
  }
}

/** The record's manifest; chunks that are no manifest are the sender's error (a 400, not a 500). */
function manifestOf(rec: SnapshotRecord, bytes: Buffer): Manifest {
  try {
    return decodeManifest(bytes);
  } catch (err) {
    if (!(err instanceof CorruptManifest)) throw err;
    throw new UserError('bad_snapshot', `volume ${rec.volume} snapshot ${rec.id}: its manifest chunks hold no manifest (${err.message})`, 400);
  }
}

const pinKey = (rec: SnapshotRecord) => `receive:${rec.volume}/${rec.id}`;

/** an offered snapshot's file chunks, with the set of every chunk it pins (the manifest's too) */
interface Decoded {
  /** manifestKey of the record: the cache key's check that it is the same snapshot */
  manifest: string;
  data: ChunkRef[];
  pinned: readonly string[];
}

/** How a sender reaches a receiver (HTTP in the agent, a direct call in some tests). */
export interface ReplicaTransport {
  offer(rec: SnapshotRecord): Promise<OfferAnswer>;
  send(body: AsyncIterable<Uint8Array>): Promise<void>;
  commit(rec: SnapshotRecord): Promise<void>;
}

export interface PushResult {
  /** chunk bytes sent (without record headers) */
  sentBytes: number;
  sentChunks: number;
  rounds: number;
  /** where the time went (ms): each offer's answer, each send, the commit */
  offerMs: number[];
  sendMs: number[];
  commitMs: number;
}

/** what one piece of the upload holds at most (many ~8 KiB chunk records: one socket write each, not one per chunk) */
const BATCH_BYTES = 1 << 20;

/**
 * Chunk records for those of `hashes` the store holds, in pieces of up to BATCH_BYTES read
 * straight from its packs (the same record layout). Paced: the socket takes writes without ever
 * making the loop wait, so a seed of a large volume would otherwise hold the event loop (and the
 * gossip heartbeats) for seconds. With `skipBad` every chunk is hashed and a bad one left out;
 * otherwise only the records' headers are checked here: the receiver hashes every chunk and
 * refuses a bad one (hashing them here too was a sixth of a seed's time on the sender).
 */
async function* chunkRecords(chunks: ChunkStore, hashes: Iterable<string>, opts: { skipBad?: boolean; counter?: Pick<PushResult, 'sentBytes' | 'sentChunks'>; sent?: () => void } = {}): AsyncGenerator<Uint8Array> {
  const pace = pacer();
  // runs of adjacent records go as read; scattered ones are gathered into one write
  let batch: Buffer[] = [];
  let size = 0;
  for (const piece of chunks.records(hashes, { maxBytes: BATCH_BYTES, skipBad: opts.skipBad, rehash: opts.skipBad ?? false })) {
    if (size + piece.buf.length > BATCH_BYTES && size) {
      yield batch.length === 1 ? batch[0]! : Buffer.concat(batch, size);
      opts.sent?.();
      [batch, size] = [[], 0];
    }
    if (opts.counter) {
      opts.counter.sentBytes += piece.bytes;
      opts.counter.sentChunks += piece.chunks;
    }
    batch.push(piece.buf);
    size += piece.buf.length;
    await pace();
  }
  if (size) yield batch.length === 1 ? batch[0]! : Buffer.concat(batch, size);
  opts.sent?.();
}

/** at most this many chunks per ask of `POST /v1/volume-sync/chunks/get` (~80 MiB of ~8 KiB chunks): a scrub asks in several */
export const MAX_CHUNKS_PER_ASK = 10_000;

/**
 * The chunk records of those of `hashes` this store holds good (`POST /v1/volume-sync/chunks/get`:
 * a peer's scrub fetching the chunks it found bad); a chunk missing or bad here too is left out.
 */
export function heldChunkRecords(chunks: ChunkStore, hashes: string[]): AsyncGenerator<Uint8Array> {
  return chunkRecords(chunks, hashes, { skipBad: true });
}

/**
 * Sends a snapshot to a receiver: offers, sends what it lacks, offers again (the data phase, or
 * what a cut left missing) until nothing is, then commits. A transport error propagates; calling
 * pushSnapshot again resumes where the receiver stands.
 */
export async function pushSnapshot(store: VolumeStore, rec: SnapshotRecord, to: ReplicaTransport, opts: { onProgress?: (sentBytes: number, totalBytes: number, phase: OfferAnswer['phase']) => void } = {}): Promise<PushResult> {
  const result: PushResult = { sentBytes: 0, sentChunks: 0, rounds: 0, offerMs: [], sendMs: [], commitMs: 0 };
  const since = (t0: number) => Math.round(performance.now() - t0);
  for (;;) {
    let t0 = performance.now();
    const answer = await to.offer(rec);
    result.offerMs.push(since(t0));
    result.rounds++;
    if (answer.missing.length === 0) break;
    if (result.rounds > 4) throw new Error(`volume ${rec.volume} snapshot ${rec.id}: the receiver still misses ${answer.missing.length} chunks after ${result.rounds} rounds`);
    // the total grows by each round's ask (the manifest's chunks first, then the data's)
    const total = result.sentBytes + answer.missingBytes;
    const report = () => opts.onProgress?.(result.sentBytes, total, answer.phase);
    report();
    t0 = performance.now();
    await to.send(chunkRecords(store.chunks, answer.missing.map((c) => c.hash), { counter: result, sent: report }));
    result.sendMs.push(since(t0));
  }
  const t0 = performance.now();
  await to.commit(rec);
  result.commitMs = since(t0);
  return result;
}

/** Headers that authenticate one call (the admin token in tests; a member's signature in the agent). */
export type CallAuth = string | ((method: string, path: string, body?: string) => Promise<Record<string, string>>);

/**
 * A POST to a volume-sync route of another agent, authenticated by `auth` (the signature covers
 * `signedBody`); a non-2xx answer is thrown as its error. The Response is the caller's to read.
 */
export async function volumeSyncPost(baseUrl: string, auth: CallAuth, path: string, init: RequestInit, signedBody: string | undefined, timeoutMs?: number): Promise<Response> {
  const authHeaders = typeof auth === 'string' ? { authorization: `Bearer ${auth}` } : await auth('POST', path, signedBody);
  const headers = { ...authHeaders, ...(init.headers as Record<string, string> | undefined) };
  const res = await fetch(`${baseUrl}${path}`, { ...init, method: 'POST', headers, ...(timeoutMs ? { signal: AbortSignal.timeout(timeoutMs) } : {}) });
  if (res.ok) return res;
  const body = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  throw new UserError(body.error?.code ?? 'replication_failed', body.error?.message ?? `HTTP ${res.status}`, res.status);
}

/**
 * Streams `body` to a volume-sync route of another agent with node:http (undici's fetch copies
 * every piece of an iterable body into a web stream: a third of a sender's time in a seed). The
 * answer's error, when not 2xx, is thrown as volumeSyncPost does.
 */
async function upload(baseUrl: string, auth: CallAuth, path: string, body: AsyncIterable<Uint8Array>, timeoutMs?: number): Promise<void> {
  const authHeaders = typeof auth === 'string' ? { authorization: `Bearer ${auth}` } : await auth('POST', path, undefined);
  const req = request(new URL(path, baseUrl), { method: 'POST', agent: false, headers: { ...authHeaders, 'content-type': 'application/octet-stream' } });
  const timer = timeoutMs ? setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs) : undefined;
  try {
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      req.once('error', reject);
      req.once('response', (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
        res.once('error', reject);
      });
    });
    // a receiver that refuses early answers before the upload ends: its answer is the error to show
    const sent = pipeline(Readable.from(body, { objectMode: false }), req).catch(() => undefined);
    const { status, text } = await answer;
    const ok = status >= 200 && status < 300;
    if (!ok) req.destroy(); // what is still unsent would only be read and thrown away
    await sent;
    if (ok) return;
    let err: { code?: string; message?: string } | undefined;
    try {
      err = (JSON.parse(text) as { error?: typeof err }).error;
    } catch {
      // not JSON: the status says it
    }
    throw new UserError(err?.code ?? 'replication_failed', err?.message ?? `HTTP ${status}`, status);
  } finally {
    clearTimeout(timer);
  }
}

/** The HTTP transport: the routes of src/http/routes/volume-sync.ts on another agent. */
export function httpTransport(baseUrl: string, auth: CallAuth, opts: { timeoutMs?: number } = {}): ReplicaTransport {
  const call = async (path: string, init: RequestInit, signedBody?: string) => {
    const res = await volumeSyncPost(baseUrl, auth, path, init, signedBody, opts.timeoutMs);
    return (await res.json().catch(() => ({}))) as Record<string, unknown>;
  };
  const json = async (path: string, rec: SnapshotRecord) => {
    const text = JSON.stringify(rec);
    return call(path, { method: 'POST', body: text, headers: { 'content-type': 'application/json' } }, text);
  };
  return {
    offer: async (rec) => (await json(`/v1/volume-sync/${encodeURIComponent(rec.volume)}/offer`, rec)) as unknown as OfferAnswer,
    send: (body) => upload(baseUrl, auth, '/v1/volume-sync/chunks', body, opts.timeoutMs),
    commit: async (rec) => {
      await json(`/v1/volume-sync/${encodeURIComponent(rec.volume)}/commit`, rec);
    },
  };
}
