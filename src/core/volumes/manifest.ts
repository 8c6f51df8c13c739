/**
 * A snapshot's manifest: every path of the volume with its metadata and, for a regular file, the
 * chunks (SHA-256 of each, hex) that hold its bytes. Every snapshot has a full manifest, so any one
 * can be restored or deleted on its own. The encoding is a compact binary form (a 1 GiB volume of
 * ~8 KiB chunks lists ~130k hashes: 4.5 MiB here, twice that as JSON hex); the store keeps it as
 * chunks too, so an unchanged manifest costs nothing twice.
 */

export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo';

export interface ChunkRef {
  /** SHA-256 of the chunk's bytes, 64 hex digits */
  hash: string;
  size: number;
}

export interface Entry {
  /** relative to the volume root, '/'-separated; '.' is the root itself */
  path: string;
  type: EntryType;
  /** permission bits with setuid/setgid/sticky (mode & 0o7777) */
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  /** ctime and inode number: never restored, only compared by change detection next time */
  ctimeNs: bigint;
  ino: bigint;
  /** bytes of a file (its logical size, holes included); 0 for others */
  size: number;
  /** extended attributes sorted by name, ACLs included (system.posix_acl_access/_default) */
  xattrs: Array<[string, Uint8Array]>;
  /** symlink: its target */
  target?: string;
  /** file: another path of the same hard-link group that comes earlier and holds the content */
  linkTo?: string;
  /** file: holes as [offset, length], ascending; no chunk spans one */
  holes?: Array<[number, number]>;
  /** file (not a linkTo): its data outside holes, in order */
  chunks?: ChunkRef[];
}

export interface Manifest {
  /** when the capture froze the tree (ms since the epoch) */
  createdAt: number;
  /** scan start (ns since the epoch): change detection re-checks anything modified after it */
  scanStartNs: bigint;
  /** sorted by path (a parent before its children) */
  entries: Entry[];
}

export class CorruptManifest extends Error {
  constructor(why: string) {
    super(`corrupt manifest: ${why}`);
    this.name = 'CorruptManifest';
  }
}

const MAGIC = [0x57, 0x52, 0x4e, 0x4d, 1]; // "WRNM", version 1
const TYPES: EntryType[] = ['file', 'dir', 'symlink', 'fifo'];
const HAS_TARGET = 1, HAS_LINK = 2, HAS_HOLES = 4, HAS_CHUNKS = 8;

/** Order of paths in a manifest: by components, so 'a/b' sorts right after 'a' (not after 'a.b'). */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '.') return -1;
  if (b === '.') return 1;
  const x = a.split('/'), y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return x.length - y.length;
}

class Writer {
  private buf = Buffer.allocUnsafe(1 << 16);
  private len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }
  uvar(v: bigint | number): void {
    // plain numbers where they are exact: a 1 GiB file's ~130k chunk sizes made a BigInt each
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) {
      this.room(8);
      while (v >= 0x80) {
        this.buf[this.len++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.buf[this.len++] = v;
      return;
    }
    let x = BigInt(v);
    if (x < 0n) throw new RangeError('negative varint');
    do {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      this.byte(x ? b | 0x80 : b);
    } while (x);
  }
  /** zig-zag: mtimes before 1970 are negative */
  svar(v: bigint): void {
    this.uvar(v >= 0n ? v << 1n : ((-v) << 1n) - 1n);
  }
  bytes(b: Uint8Array): void {
    this.uvar(b.length);
    this.raw(b);
  }
  raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /** a SHA-256 given as 64 hex digits, written as its 32 bytes */
  hash(hex: string): void {
    this.room(32);
    if (hex.length !== 64 || this.buf.write(hex, this.len, 32, 'hex') !== 32) throw new RangeError(`not a SHA-256 in hex: "${hex.slice(0, 70)}"`);
    this.len += 32;
  }
  str(s: string): void {
    this.bytes(Buffer.from(s, 'utf8'));
  }
  done(): Uint8Array {
    return new Uint8Array(this.buf.subarray(0, this.len));
  }
}

class Reader {
  private pos = 0;
  private readonly buf: Buffer;
  constructor(buf: Uint8Array) {
    this.buf = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  byte(): number {
    if (this.pos >= this.buf.length) throw new CorruptManifest('truncated');
    return this.buf[this.pos++]!;
  }
  uvar(): bigint {
    let x = 0n, shift = 0n;
    for (;;) {
      const b = this.byte();
      x |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return x;
      shift += 7n;
      if (shift > 70n) throw new CorruptManifest('varint too long');
    }
  }
  num(): number {
    // up to 7 bytes (49 bits) are exact as plain numbers; longer ones take the BigInt way
    const start = this.pos;
    let x = 0, mul = 1;
    for (let i = 0; i < 7; i++) {
      const b = this.byte();
      x += (b & 0x7f) * mul;
      if (!(b & 0x80)) return x;
      mul *= 0x80;
    }
    this.pos = start;
    const v = this.uvar();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptManifest('number out of range');
    return Number(v);
  }
  svar(): bigint {
    const v = this.uvar();
    return v & 1n ? -((v + 1n) >> 1n) : v >> 1n;
  }
  private take(n: number): number {
    if (this.pos + n > this.buf.length) throw new CorruptManifest('truncated');
    const at = this.pos;
    this.pos += n;
    return at;
  }
  raw(n: number): Uint8Array {
    const at = this.take(n);
    return new Uint8Array(this.buf.subarray(at, at + n));
  }
  bytes(): Uint8Array {
    return this.raw(this.num());
  }
  /** 32 bytes as the hex of a SHA-256 */
  hash(): string {
    const at = this.take(32);
    return this.buf.toString('hex', at, at + 32);
  }
  str(): string {
    const n = this.num();
    const at = this.take(n);
    return this.buf.toString('utf8', at, at + n);
  }
  atEnd(): boolean {
    return this.pos === this.buf.length;
  }
}

export function encodeManifest(m: Manifest): Uint8Array {
  const w = new Writer();
  w.raw(Uint8Array.from(MAGIC));
  w.uvar(m.createdAt);
  w.svar(m.scanStartNs);
  w.uvar(m.entries.length);
  for (const e of m.entries) {
    w.str(e.path);
    w.byte(TYPES.indexOf(e.type));
    const flags = (e.target !== undefined ? HAS_TARGET : 0) | (e.linkTo !== undefined ? HAS_LINK : 0) |
      (e.holes ? HAS_HOLES : 0) | (e.chunks ? HAS_CHUNKS : 0);
    w.byte(flags);
    w.uvar(e.mode);
    w.uvar(e.uid);
    w.uvar(e.gid);
    w.svar(e.mtimeNs);
    w.svar(e.ctimeNs);
    w.uvar(e.ino);
    w.uvar(e.size);
    w.uvar(e.xattrs.length);
    for (const [name, value] of e.xattrs) {
      w.str(name);
      w.bytes(value);
    }
    if (e.target !== undefined) w.str(e.target);
    if (e.linkTo !== undefined) w.str(e.linkTo);
    if (e.holes) {
      w.uvar(e.holes.length);
      for (const [off, len] of e.holes) {
        w.uvar(off);
        w.uvar(len);
      }
    }
    if (e.chunks) {
      w.uvar(e.chunks.length);
      for (const c of e.chunks) {
        w.hash(c.hash);
        w.uvar(c.size);
      }
    }
  }
  return w.done();
}

export function decodeManifest(buf: Uint8Array): Manifest {
  const r = new Reader(buf);
  for (const b of MAGIC) if (r.byte() !== b) throw new CorruptManifest('bad magic or version');
  const createdAt = r.num();
  const scanStartNs = r.svar();
  const count = r.num();
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const path = r.str();
    const type = TYPES[r.byte()];
    if (!type) throw new CorruptManifest(`bad type at ${path}`);
    const flags = r.byte();
    const e: Entry = {
      path, type, mode: r.num(), uid: r.num(), gid: r.num(), mtimeNs: r.svar(), ctimeNs: r.svar(),
      ino: r.uvar(), size: r.num(), xattrs: [],
    };
    const nx = r.num();
    for (let j = 0; j < nx; j++) e.xattrs.push([r.str(), r.bytes()]);
    if (flags & HAS_TARGET) e.target = r.str();
    if (flags & HAS_LINK) e.linkTo = r.str();
    if (flags & HAS_HOLES) {
      const n = r.num();
      e.holes = [];
      for (let j = 0; j < n; j++) e.holes.push([r.num(), r.num()]);
    }
    if (flags & HAS_CHUNKS) {
      const n = r.num();
      e.chunks = [];
      for (let j = 0; j < n; j++) e.chunks.push({ hash: r.hash(), size: r.num() });
    }
    entries.push(e);
  }
  if (!r.atEnd()) throw new CorruptManifest('trailing bytes');
  return { createdAt, scanStartNs, entries };
}

/**
 * Every chunk a manifest references, each once, in first-use order; with `seen`, those not in it,
 * each added to it (a receiver's pin set is built in the same pass).
 */
export function manifestChunks(m: Manifest, seen = new Set<string>()): ChunkRef[] {
  const out: ChunkRef[] = [];
  for (const e of m.entries) {
    for (const c of e.chunks ?? []) {
      if (seen.has(c.hash)) continue;
      seen.add(c.hash);
      out.push(c);
    }
  }
  return out;
}

/** Bytes of a file outside its holes: what its chunks must add up to. */
export function dataBytes(e: Entry): number {
  return e.size - (e.holes ?? []).reduce((s, [, len]) => s + len, 0);
}
