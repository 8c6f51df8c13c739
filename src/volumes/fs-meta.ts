import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, lchownSync, lstatSync, lutimesSync, readdirSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { listAttributesSync, getAttributeSync, setAttributeSync, removeAttributeSync } from '@napi-rs/xattr';
import type { EntryType } from '../core/volumes/manifest.ts';
import type { ScanEntry } from '../core/volumes/changes.ts';
import { pacer } from './pacer.ts';

/**
 * File metadata Node has no API for. Extended attributes (ACLs are the system.posix_acl_access and
 * system.posix_acl_default xattrs, in the kernel's binary form) go through @napi-rs/xattr: prebuilt
 * N-API binaries for linux x64/arm64 (gnu and musl), no compiler at install, no process per file
 * (getfattr/setfattr would cost a fork for each of thousands of files), and l*xattr semantics
 * (never follows a symlink).
 */

export interface ScannedPath extends ScanEntry {
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  dev: bigint;
  /** allocated bytes below the size: the file has holes */
  sparse: boolean;
}

export interface ScanResult {
  entries: ScannedPath[];
  /** device nodes (refused: a volume must not carry them) and sockets (skipped: they mean nothing copied) */
  refused: string[];
  skipped: string[];
}

export function typeOf(st: BigIntStats): EntryType | 'socket' | 'device' {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'device';
}

export function scanEntry(path: string, st: BigIntStats, type: EntryType): ScannedPath {
  return {
    path, type, size: type === 'file' ? Number(st.size) : 0, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino,
    mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), nlink: Number(st.nlink), dev: st.dev,
    sparse: type === 'file' && st.blocks * 512n < st.size,
  };
}

/**
 * Walks a tree with readdirSync + lstatSync (measured ~10-15 µs a file here; the promise API is ~5x
 * slower), parents before children, names sorted. Paths are relative ('.' for the root).
 */
export async function scanTree(root: string): Promise<ScanResult> {
  const out: ScanResult = { entries: [], refused: [], skipped: [] };
  const pace = pacer();
  const walk = async (rel: string): Promise<void> => {
    await pace();
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs, { bigint: true });
    const type = typeOf(st);
    if (type === 'device') return void out.refused.push(rel);
    if (type === 'socket') return void out.skipped.push(rel);
    out.entries.push(scanEntry(rel, st, type));
    if (type !== 'dir') return;
    for (const name of readdirSync(abs).sort()) await walk(rel === '.' ? name : `${rel}/${name}`);
  };
  await walk('.');
  return out;
}

/** xattrs of a path (not followed), sorted by name. Symlinks carry none Warren keeps. */
export function readXattrs(abs: string, type: EntryType): Array<[string, Uint8Array]> {
  if (type === 'symlink') return [];
  const names = listAttributesSync(abs).sort();
  const out: Array<[string, Uint8Array]> = [];
  for (const name of names) {
    const v = getAttributeSync(abs, name);
    if (v) out.push([name, new Uint8Array(v)]);
  }
  return out;
}

/** Makes a path's xattrs exactly `want` (removes others: a re-applied path may have stale ones). */
export function writeXattrs(abs: string, want: Array<[string, Uint8Array]>): void {
  const keep = new Set(want.map(([n]) => n));
  for (const name of listAttributesSync(abs)) if (!keep.has(name)) removeAttributeSync(abs, name);
  for (const [name, value] of want) setAttributeSync(abs, name, Buffer.from(value));
}

export function mkfifo(abs: string): void {
  // Node has no mkfifo(3); FIFOs are rare in a volume, one process each is fine
  execFileSync('mkfifo', ['--', abs], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Owner, xattrs (ACLs), then mode: chown clears setuid/setgid bits and setting an ACL rewrites the
 * group bits, so chmod comes after both. Times are set afterwards for the whole tree (setTimes).
 */
export function applyMeta(abs: string, e: { type: EntryType; uid: number; gid: number; mode: number; xattrs: Array<[string, Uint8Array]> }): void {
  lchownSync(abs, e.uid, e.gid);
  if (e.type !== 'symlink') {
    writeXattrs(abs, e.xattrs);
    chmodSync(abs, e.mode);
  }
}

const B = 1_000_000_000n;

/** utimensat(2)'s number: Node's utimes takes a double and keeps microseconds only */
const UTIMENSAT: Partial<Record<string, number>> = { x64: 280, arm64: 88 };

// one perl process sets every time with utimensat(AT_FDCWD, path, [t, t], AT_SYMLINK_NOFOLLOW):
// perl-base is Essential on Debian/Ubuntu (always installed) and its syscall() reaches the call
// Node lacks, so mtimes come back to the nanosecond at the cost of one process per apply
const SET_TIMES = String.raw`$/ = "\0"; my $nr = shift;
while (my $rec = <STDIN>) { chomp $rec; my ($s, $ns, $p) = split /\t/, $rec, 3; my $t = pack("q4", $s, $ns, $s, $ns);
  if (syscall($nr, -100, $p, $t, 0x100) != 0) { print STDERR "$p: $!\n"; exit 1 } }`;

/**
 * Sets atime and mtime (both to the mtime) of many paths, not following symlinks: exact to the
 * nanosecond through perl's utimensat where it can, else with Node's lutimes (microseconds).
 */
export async function setTimes(items: Array<[abs: string, mtimeNs: bigint]>): Promise<void> {
  const nr = UTIMENSAT[process.arch];
  if (nr !== undefined && perlAvailable()) {
    const input = Buffer.concat(items.map(([abs, ns]) => {
      let s = ns / B, rest = ns % B;
      if (rest < 0n) { s -= 1n; rest += B; }
      return Buffer.from(`${s}\t${rest}\t${abs}\0`);
    }));
    await new Promise<void>((resolve, reject) => {
      const child = execFile('perl', ['-e', SET_TIMES, String(nr)], { maxBuffer: 1 << 20 }, (err, _out, errText) => {
        if (err) reject(new Error(`setting file times failed: ${String(errText).trim() || err.message}`));
        else resolve();
      });
      child.stdin!.end(input);
    });
    return;
  }
  for (const [abs, ns] of items) {
    const t = Number(ns / 1000n) / 1e6;
    lutimesSync(abs, t, t);
  }
}

let perlFound: boolean | undefined;
function perlAvailable(): boolean {
  if (perlFound === undefined) {
    try {
      execFileSync('perl', ['-e', '1'], { stdio: 'ignore' });
      perlFound = true;
    } catch {
      perlFound = false;
    }
  }
  return perlFound;
}
