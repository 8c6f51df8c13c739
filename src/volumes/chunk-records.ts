import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';

/** The chunk store's pack and index records (their layout: src/volumes/chunk-store.ts), read and written. */

/** where a chunk's bytes sit: an index record's fields */
export interface Loc {
  pack: number;
  /** offset of the chunk's bytes (after its record header) */
  offset: number;
  size: number;
}

export const REC_HEADER = 36;
export const INDEX_REC = 48;

/** Whether the record at `at` of `buf` is `hash`'s, of `size` bytes (that hash to it, with `rehash`). */
export function recordHolds(buf: Buffer, at: number, hash: string, size: number, rehash: boolean): boolean {
  if (buf.toString('hex', at, at + 32) !== hash || buf.readUInt32LE(at + 32) !== size) return false;
  if (!rehash) return true;
  const data = buf.subarray(at + REC_HEADER, at + REC_HEADER + size);
  return createHash('sha256').update(data).digest('hex') === hash;
}

/** Writes a pack record's header (hash | length) at `at` of `buf`; the chunk's bytes follow it. */
export function writeRecHeader(buf: Buffer, at: number, hash: string, size: number): void {
  buf.write(hash, at, 'hex');
  buf.writeUInt32LE(size, at + 32);
}

export function writeAll(fd: number, buf: Uint8Array): void {
  for (let at = 0; at < buf.length; ) at += writeSync(fd, buf, at, buf.length - at);
}

export function readIndexRec(buf: Buffer, at: number): { hash: string; loc: Loc } {
  const hash = buf.subarray(at, at + 32).toString('hex');
  return { hash, loc: { pack: buf.readUInt32LE(at + 32), offset: Number(buf.readBigUInt64LE(at + 36)), size: buf.readUInt32LE(at + 44) } };
}

export function writeIndexRec(buf: Buffer, at: number, hash: string, l: Loc): void {
  Buffer.from(hash, 'hex').copy(buf, at);
  buf.writeUInt32LE(l.pack, at + 32);
  buf.writeBigUInt64LE(BigInt(l.offset), at + 36);
  buf.writeUInt32LE(l.size, at + 44);
}
