import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';

/** tar-stream reads and writes pax records (its types say `unknown`) */
type PaxHeaders = Partial<tar.Header> & { name: string; pax?: Record<string, string> };
import { isUserError, UserError } from '../core/errors.ts';
import { cutChunks, MAX_CHUNK } from '../core/volumes/fastcdc.ts';
import { comparePaths, type ChunkRef, type Entry, type EntryType, type Manifest } from '../core/volumes/manifest.ts';
import type { ChunkStore } from './chunk-store.ts';

/**
 * Export of a snapshot as a POSIX (pax) tar, and import of one. tar-stream (3.x, ~230M weekly
 * downloads, no native code) is a streaming generator and parser and nothing else: Warren writes
 * entries from a manifest and the chunk store, never from a directory, so node-tar's file-system
 * side (and its own notion of metadata) would be in the way.
 *
 * What the tar carries beyond ustar, as pax records: the exact mtime (`mtime=S.NNNNNNNNN`), uid/gid,
 * and Warren's own keys (other tools ignore them): `WARREN.mode` (octal), `WARREN.xattr.NAME` = base64 of the value (ACLs
 * are the system.posix_acl_* xattrs) and `WARREN.holes` = "off:len,..." (the data is written in full,
 * zeros included, so any tar reads it; an import makes the holes again).
 */

const B = 1_000_000_000n;

function paxTime(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / B}.${String(a % B).padStart(9, '0')}`;
}

function parsePaxTime(s: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,9})\d*)?$/.exec(s);
  if (!m) throw new UserError('bad_tar', `bad pax mtime "${s}"`);
  const ns = BigInt(m[2]!) * B + BigInt((m[3] ?? '').padEnd(9, '0'));
  // a manifest keeps times as signed 64-bit nanoseconds (years 1678-2262)
  if (ns >= 2n ** 63n) throw new UserError('bad_tar', `pax mtime "${s.slice(0, 40)}" is out of range`);
  return m[1] ? -ns : ns;
}

/** A pax number Warren wrote (uid, gid: decimal; WARREN.mode: octal); anything else is refused. */
function paxNumber(text: string, key: string, path: string, radix: 8 | 10 = 10): number {
  const n = (radix === 8 ? /^[0-7]{1,8}$/ : /^\d{1,15}$/).test(text) ? parseInt(text, radix) : NaN;
  if (!Number.isSafeInteger(n)) throw new UserError('bad_tar', `${path}: bad pax ${key} "${text.slice(0, 40)}"`);
  return n;
}

/**
 * WARREN.holes = "off:len,...": in order, not overlapping, inside the file. Anything else would
 * make the chunks disagree with the size (a file restored with other bytes than it had).
 */
function parseHoles(text: string, size: number, path: string): Array<[number, number]> {
  const holes: Array<[number, number]> = [];
  let end = 0;
  for (const part of text.split(',')) {
    const m = /^(\d{1,15}):(\d{1,15})$/.exec(part);
    const [off, len] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
    if (!(off >= end && len > 0 && off + len <= size)) throw new UserError('bad_tar', `${path}: bad WARREN.holes "${text.slice(0, 60)}" (holes must be off:len, in order, inside the file)`);
    holes.push([off, len]);
    end = off + len;
  }
  return holes;
}

const tarName = (e: Entry) => (e.path === '.' ? './' : e.type === 'dir' ? `${e.path}/` : e.path);

export async function exportTar(store: ChunkStore, m: Manifest, out: Writable): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, out);
  for (const e of m.entries) {
    // WARREN.mode: tar-stream writes a mode of 0 as 0644 (it takes 0 for "not given")
    const pax: Record<string, string> = { mtime: paxTime(e.mtimeNs), uid: String(e.uid), gid: String(e.gid), 'WARREN.mode': e.mode.toString(8) };
    for (const [name, value] of e.xattrs) pax[`WARREN.xattr.${name}`] = Buffer.from(value).toString('base64');
    if (e.holes?.length) pax['WARREN.holes'] = e.holes.map(([o, l]) => `${o}:${l}`).join(',');
    const header: PaxHeaders = {
      name: tarName(e), mode: e.mode, uid: e.uid, gid: e.gid, mtime: new Date(Number(e.mtimeNs / 1_000_000n)), pax,
      type: e.type === 'dir' ? 'directory' : e.type === 'symlink' ? 'symlink' : e.type === 'fifo' ? 'fifo' : e.linkTo !== undefined ? 'link' : 'file',
      size: e.type === 'file' && e.linkTo === undefined ? e.size : 0,
    };
    if (e.target !== undefined) header.linkname = e.target;
    if (e.linkTo !== undefined) header.linkname = e.linkTo;
    if (header.type !== 'file') {
      await new Promise<void>((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
      continue;
    }
    const entry = pack.entry(header);
    let pos = 0, h = 0;
    const zeros = (n: number) => Buffer.alloc(n);
    const write = (b: Buffer) => (entry.write(b) ? Promise.resolve() : new Promise<void>((r) => entry.once('drain', () => r())));
    const holes = e.holes ?? [];
    for (const data of store.inOrder((e.chunks ?? []).map((c) => c.hash))) {
      while (h < holes.length && holes[h]![0] <= pos) {
        const [, len] = holes[h++]!;
        for (let left = len; left > 0; left -= MAX_CHUNK) await write(zeros(Math.min(left, MAX_CHUNK)));
        pos += len;
      }
      await write(data);
      pos += data.length;
    }
    for (let left = e.size - pos; left > 0; left -= MAX_CHUNK) await write(zeros(Math.min(left, MAX_CHUNK)));
    await new Promise<void>((resolve, reject) => entry.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
}

const TYPES: Partial<Record<string, EntryType>> = { file: 'file', 'contiguous-file': 'file', link: 'file', directory: 'dir', symlink: 'symlink', fifo: 'fifo' };

function cleanPath(name: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new UserError('bad_tar', `tar entry "${name}" leaves the volume`);
  return parts.length ? parts.join('/') : '.';
}

/**
 * Reads a tar into the store: file data is chunked as it streams (in steps of at most a few
 * hundred KiB, so the event loop is never held long), holes from WARREN.holes are dropped from the
 * data. Returns the manifest (not yet saved as a snapshot) and the bytes it added to the store.
 */
export async function importTar(store: ChunkStore, input: Readable): Promise<{ manifest: Manifest; newBytes: number; skipped: string[] }> {
  const extract = tar.extract();
  const parsing = pipeline(input, extract).catch((err) => {
    throw new UserError('bad_tar', `not a readable tar: ${(err as Error).message}`);
  });
  let read: { entries: Map<string, Entry>; newBytes: number; skipped: string[] };
  try {
    read = await readEntries(store, extract);
  } catch (err) {
    extract.destroy();
    await parsing.catch(() => undefined);
    // the parser's own errors ("Invalid tar header", "Unexpected end of data") come out of the
    // entry loop; the store's (a full disk: err.code) stay what they are
    if (isUserError(err) || typeof (err as NodeJS.ErrnoException).code === 'string') throw err;
    throw new UserError('bad_tar', `not a readable tar: ${(err as Error).message}`);
  }
  await parsing;
  const { entries } = read;
  if (!entries.has('.')) entries.set('.', { path: '.', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: 0n, ctimeNs: 0n, ino: 0n, size: 0, xattrs: [] });
  for (const path of entries.keys()) {
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '.';
    if (path !== '.' && entries.get(parent)?.type !== 'dir') throw new UserError('bad_tar', `${path} has no directory ${parent} before it in the tar`);
  }
  const manifest = { createdAt: Date.now(), scanStartNs: 0n, entries: [...entries.values()].sort((a, b) => comparePaths(a.path, b.path)) };
  return { manifest, newBytes: read.newBytes, skipped: read.skipped };
}

async function readEntries(store: ChunkStore, extract: tar.Extract): Promise<{ entries: Map<string, Entry>; newBytes: number; skipped: string[] }> {
  const entries = new Map<string, Entry>();
  const skipped: string[] = [];
  let newBytes = 0;
  for await (const entry of extract) {
    const hd = entry.header as PaxHeaders;
    const pax = hd.pax ?? {};
    const type = TYPES[hd.type ?? 'file'];
    const path = cleanPath(hd.name);
    if (!type) {
      skipped.push(`${path} (${hd.type})`);
      entry.resume();
      continue;
    }
    const e: Entry = {
      path, type, mode: (pax['WARREN.mode'] !== undefined ? paxNumber(pax['WARREN.mode'], 'WARREN.mode', path, 8) : hd.mode ?? 0o644) & 0o7777,
      uid: pax.uid !== undefined ? paxNumber(pax.uid, 'uid', path) : hd.uid ?? 0, gid: pax.gid !== undefined ? paxNumber(pax.gid, 'gid', path) : hd.gid ?? 0,
      mtimeNs: pax.mtime ? parsePaxTime(pax.mtime) : BigInt(hd.mtime?.getTime() ?? 0) * 1_000_000n, ctimeNs: 0n, ino: 0n, size: 0, xattrs: [],
    };
    for (const [k, v] of Object.entries(pax)) {
      if (k.startsWith('WARREN.xattr.')) e.xattrs.push([k.slice('WARREN.xattr.'.length), new Uint8Array(Buffer.from(v, 'base64'))]);
    }
    e.xattrs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (type === 'symlink') e.target = hd.linkname ?? '';
    if (hd.type === 'link') {
      e.linkTo = cleanPath(hd.linkname ?? '');
      const holder = entries.get(e.linkTo);
      if (!holder || holder.type !== 'file') throw new UserError('bad_tar', `hard link ${path} to ${e.linkTo}, which comes before it as no file`);
      e.size = holder.size;
    }
    if (type === 'file' && hd.type !== 'link') {
      const holes = pax['WARREN.holes'] ? parseHoles(pax['WARREN.holes'], hd.size ?? 0, path) : [];
      const r = await chunkStream(store, entry as AsyncIterable<Buffer>, holes);
      e.size = r.size;
      e.chunks = r.chunks;
      if (holes.length) e.holes = holes;
      newBytes += r.newBytes;
    } else entry.resume();
    entries.set(path, e);
  }
  return { entries, newBytes, skipped };
}

/** Chunks a file's data as it streams, leaving out its holes (each data run chunked on its own). */
async function chunkStream(store: ChunkStore, data: AsyncIterable<Buffer>, holes: Array<[number, number]>): Promise<{ size: number; chunks: ChunkRef[]; newBytes: number }> {
  const chunks: ChunkRef[] = [];
  let newBytes = 0, pos = 0, h = 0;
  let pending = Buffer.alloc(0);
  const cut = (final: boolean) => {
    const { lengths, consumed } = cutChunks(pending, 0, pending.length, final);
    let off = 0;
    for (const len of lengths) {
      const piece = pending.subarray(off, off + len);
      const hash = createHash('sha256').update(piece).digest('hex');
      if (store.put(hash, piece)) newBytes += len;
      chunks.push({ hash, size: len });
      off += len;
    }
    pending = pending.subarray(consumed);
  };
  for await (const buf of data) {
    let at = 0;
    while (at < buf.length) {
      const hole = holes[h];
      if (hole && pos >= hole[0]) {
        // inside a hole: skip its bytes; the run before it is complete
        if (pos === hole[0]) cut(true);
        const skip = Math.min(buf.length - at, hole[0] + hole[1] - pos);
        at += skip;
        pos += skip;
        if (pos === hole[0] + hole[1]) h++;
        continue;
      }
      const take = Math.min(buf.length - at, hole ? hole[0] - pos : Infinity);
      pending = Buffer.concat([pending, buf.subarray(at, at + take)]);
      at += take;
      pos += take;
      if (pending.length >= 4 * MAX_CHUNK) cut(false);
    }
  }
  cut(true);
  return { size: pos, chunks, newBytes };
}
