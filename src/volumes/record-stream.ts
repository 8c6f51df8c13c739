import { UserError } from '../core/errors.ts';
import { REC_HEADER } from './chunk-records.ts';

/** hash (32) | length (u32 LE): the head of a chunk record in a replication stream, a pack record's layout */
export const CHUNK_RECORD_HEADER = REC_HEADER;

/** no chunk is larger (the chunker's maximum is far below) */
const MAX_RECORD_DATA = 1 << 20;

export interface StreamRecord {
  /** the hash the sender names the chunk by, hex (the receiver checks it) */
  hash: string;
  data: Buffer;
}

/**
 * The chunk records of a stream (hash | length | bytes), each whole. A record is taken in place
 * from the piece that holds it; only one the stream split across pieces is put together, from its
 * own parts. (Joining each piece to the tail of the one before copied the whole stream once more,
 * and the garbage collector then ran ~8 times as often in a seed under --optimize-for-size.)
 * A record longer than any chunk, or a stream that ends inside one, is the sender's error.
 */
export async function* recordsOf(body: AsyncIterable<Uint8Array>): AsyncGenerator<StreamRecord> {
  let parts: Buffer[] = []; // the start of a record the pieces so far ended inside
  let partsLen = 0;
  let recordLen: number | undefined; // that record's whole length, once its header is in
  for await (const raw of body) {
    let piece = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    if (partsLen) {
      if (recordLen === undefined && partsLen + piece.length >= CHUNK_RECORD_HEADER) {
        recordLen = CHUNK_RECORD_HEADER + lengthAt(Buffer.concat([...parts, piece.subarray(0, CHUNK_RECORD_HEADER - partsLen)]), 0);
      }
      const missing = recordLen === undefined ? Infinity : recordLen - partsLen;
      if (piece.length < missing) {
        parts.push(piece);
        partsLen += piece.length;
        continue;
      }
      const rec = Buffer.concat([...parts, piece.subarray(0, missing)]);
      [parts, partsLen, recordLen] = [[], 0, undefined];
      piece = piece.subarray(missing);
      yield recordAt(rec, 0, rec.length - CHUNK_RECORD_HEADER);
    }
    let at = 0;
    while (piece.length - at >= CHUNK_RECORD_HEADER) {
      const len = lengthAt(piece, at);
      if (at + CHUNK_RECORD_HEADER + len > piece.length) {
        recordLen = CHUNK_RECORD_HEADER + len;
        break;
      }
      yield recordAt(piece, at, len);
      at += CHUNK_RECORD_HEADER + len;
    }
    if (at < piece.length) {
      parts = [piece.subarray(at)];
      partsLen = piece.length - at;
    }
  }
  if (partsLen) throw new UserError('bad_chunk', `the stream ended inside a chunk record (${partsLen} bytes left)`);
}

function lengthAt(buf: Buffer, at: number): number {
  const len = buf.readUInt32LE(at + 32);
  if (len > MAX_RECORD_DATA) throw new UserError('bad_chunk', `a chunk record of ${len} bytes (more than any chunk)`);
  return len;
}

function recordAt(buf: Buffer, at: number, len: number): StreamRecord {
  return { hash: buf.toString('hex', at, at + 32), data: buf.subarray(at + CHUNK_RECORD_HEADER, at + CHUNK_RECORD_HEADER + len) };
}
