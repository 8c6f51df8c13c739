import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, ftruncateSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { listAttributesSync, getAttributeSync, setAttributeSync } from '@napi-rs/xattr';

/** A POSIX ACL in the kernel's xattr form (version 2; entries tag, perm, id). */
export function aclXattr(entries: Array<[tag: 'user_obj' | 'user' | 'group_obj' | 'group' | 'mask' | 'other', perm: number, id?: number]>): Buffer {
  const TAGS = { user_obj: 1, user: 2, group_obj: 4, group: 8, mask: 0x10, other: 0x20 };
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(TAGS[tag], 4 + i * 8);
    b.writeUInt16LE(perm, 6 + i * 8);
    b.writeUInt32LE(id ?? 0xffffffff, 8 + i * 8);
  });
  return b;
}

function bytes(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  // half random, half repeated pieces (so chunks dedup inside and across files)
  if (rand() < 0.5) for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  else {
    const piece = Buffer.from(`warren-${Math.floor(rand() * 5)}-`.repeat(100));
    for (let i = 0; i < n; i++) b[i] = piece[i % piece.length]!;
  }
  return b;
}

/**
 * Fills `root` (an existing empty dir) with a random tree of every kind Warren keeps: files of
 * many sizes (empty to ~400 KiB), sparse files, empty and nested dirs, symlinks (dangling too),
 * hard links, FIFOs; random owners, modes (setuid/sticky), mtimes (some set, some from the
 * clock), user xattrs, access and default ACLs.
 */
export function randomTree(root: string, rand: () => number, size = 40): void {
  const dirs = ['.'];
  const files: string[] = [];
  const all: string[] = [];
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const name = () => pick(['a', 'b', 'data', 'x y', 'é', 'db.sqlite', 'long-' + 'n'.repeat(120), '.hidden']) + Math.floor(rand() * 1000);
  for (let i = 0; i < size; i++) {
    const rel = `${pick(dirs) === '.' ? '' : pick(dirs) + '/'}${name()}`.replace(/^\//, '');
    const abs = join(root, rel);
    const kind = rand();
    try {
      if (kind < 0.2) {
        mkdirSync(abs);
        dirs.push(rel);
      } else if (kind < 0.55) {
        const n = pick([0, 1, 100, 4096, 9000, 70_000, 400_000]);
        writeFileSync(abs, bytes(rand, Math.floor(n * (0.5 + rand()))));
        files.push(rel);
      } else if (kind < 0.62) {
        // sparse: holes between 4 KiB-aligned blocks of data, maybe a trailing hole
        const fd = openSync(abs, 'w');
        const blocks = 8 + Math.floor(rand() * 200);
        for (let b = 0; b < blocks; b++) if (rand() < 0.3) writeSync(fd, bytes(rand, 4096).fill(1, 0, 1), 0, 4096, b * 4096);
        ftruncateSync(fd, blocks * 4096 + Math.floor(rand() * 3) * 1000);
        closeSync(fd);
        files.push(rel);
      } else if (kind < 0.72) {
        symlinkSync(pick(['../x', '/etc/passwd', 'dangling', files.length ? pick(files) : 'nothing']), abs);
      } else if (kind < 0.8 && files.length) {
        linkSync(join(root, pick(files)), abs);
      } else if (kind < 0.85) {
        execFileSync('mkfifo', [abs]);
      } else {
        writeFileSync(abs, bytes(rand, Math.floor(rand() * 20000)));
        files.push(rel);
      }
      all.push(rel);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  // metadata, children first (writing into a dir moves its mtime)
  for (const rel of [...all, ...dirs].reverse()) {
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs);
    if (rand() < 0.5) lchownSync(abs, pick([0, 1000, 65534, 123456]), pick([0, 100, 65534, 654321]));
    if (!st.isSymbolicLink()) {
      // user.* xattrs exist on files and directories only (the kernel refuses them on a FIFO)
      if (!st.isFIFO() && rand() < 0.4) setAttributeSync(abs, `user.k${Math.floor(rand() * 3)}`, bytes(rand, Math.floor(rand() * 50)));
      if (rand() < 0.2) setAttributeSync(abs, 'system.posix_acl_access', aclXattr([['user_obj', 6], ['user', 4, 1000], ['group_obj', 4], ['mask', 6], ['other', 0]]));
      if (st.isDirectory() && rand() < 0.3) setAttributeSync(abs, 'system.posix_acl_default', aclXattr([['user_obj', 7], ['group_obj', 5], ['group', 5, 2000], ['mask', 7], ['other', 5]]));
      if (rand() < 0.6) chmodSync(abs, pick([0o644, 0o600, 0o755, 0o4755, 0o1777, 0o2750, 0o000]));
    }
    if (rand() < 0.7) {
      const t = 1_500_000_000 + rand() * 300_000_000;
      lutimesSync(abs, t, t);
    }
  }
}

/** Adds a Unix socket at `abs` that outlives its server (sockets are skipped by captures). */
export async function makeSocket(abs: string): Promise<void> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(`${abs}.tmp`, () => r()));
  linkSync(`${abs}.tmp`, abs);
  await new Promise<void>((r) => server.close(() => r()));
}

export interface PathDesc {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  size?: number;
  sha256?: string;
  /** allocated bytes of a sparse file (holes come back as holes) */
  allocated?: number;
  target?: string;
  xattrs: Record<string, string>;
  /** the first path of its hard-link group */
  linkGroup?: string;
}

/** Everything Warren promises to keep about a tree, by path, comparable with deepEqual. */
export function describeTree(root: string): Record<string, PathDesc> {
  const out: Record<string, PathDesc> = {};
  const firstOf = new Map<bigint, string>();
  const walk = (rel: string) => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs, { bigint: true });
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : 'other';
    const d: PathDesc = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, xattrs: {} };
    if (type !== 'symlink') for (const n of listAttributesSync(abs).sort()) d.xattrs[n] = (getAttributeSync(abs, n) ?? Buffer.alloc(0)).toString('hex');
    if (type === 'symlink') d.target = readlinkSync(abs, 'utf8');
    if (type === 'file') {
      d.size = Number(st.size);
      d.sha256 = createHash('sha256').update(readFileSync(abs)).digest('hex');
      if (st.blocks * 512n < st.size) d.allocated = Number(st.blocks * 512n);
      if (st.nlink > 1n) {
        if (!firstOf.has(st.ino)) firstOf.set(st.ino, rel);
        d.linkGroup = firstOf.get(st.ino);
      }
    }
    out[rel] = d;
    if (type === 'dir') for (const n of readdirSync(abs).sort()) walk(rel === '.' ? n : `${rel}/${n}`);
  };
  walk('.');
  return out;
}

/**
 * Compares two described trees (undefined when equal, else the first difference): everything
 * exactly (mtimes to the nanosecond), except a sparse file's allocation within 8 KiB.
 */
export function sameTree(a: Record<string, PathDesc>, b: Record<string, PathDesc>): string | undefined {
  const strip = (t: Record<string, PathDesc>) => Object.fromEntries(Object.entries(t).map(([p, d]) => [p, { ...d, allocated: d.allocated !== undefined }]));
  const sa = JSON.stringify(strip(a), (_, v) => (typeof v === 'bigint' ? String(v) : v));
  const sb = JSON.stringify(strip(b), (_, v) => (typeof v === 'bigint' ? String(v) : v));
  if (sa !== sb) {
    for (const p of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const x = JSON.stringify(strip(a)[p] ?? null, (_, v) => (typeof v === 'bigint' ? String(v) : v));
      const y = JSON.stringify(strip(b)[p] ?? null, (_, v) => (typeof v === 'bigint' ? String(v) : v));
      if (x !== y) return `${p}: ${x} != ${y}`;
    }
  }
  for (const [p, d] of Object.entries(a)) {
    // holes come back as holes; ext4 may count an extent-tree block more or less
    if (d.allocated !== undefined && Math.abs(d.allocated - b[p]!.allocated!) > 8192) return `${p}: ${d.allocated} bytes allocated != ${b[p]!.allocated}`;
  }
  return undefined;
}
