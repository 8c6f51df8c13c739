import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CorruptManifest, comparePaths, decodeManifest, encodeManifest, manifestChunks, type Entry, type EntryType, type Manifest } from '../../src/core/volumes/manifest.ts';
import { prng } from '../helpers/prng.ts';

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const hex = (rand: () => number) => Array.from({ length: 32 }, () => Math.floor(rand() * 256).toString(16).padStart(2, '0')).join('');

export function randomManifest(rand: () => number): Manifest {
  const names = ['a', 'b', 'é', 'x y', 'data.db', '..x', 'ünï', 'z'];
  const paths = new Set<string>(['.']);
  const n = Math.floor(rand() * 40);
  for (let i = 0; i < n; i++) {
    const depth = 1 + Math.floor(rand() * 3);
    paths.add(Array.from({ length: depth }, () => pick(rand, names)).join('/'));
  }
  const big = () => BigInt(Math.floor(rand() * 2 ** 31)) * 1_000_000_000n + BigInt(Math.floor(rand() * 1e9)) * (rand() < 0.1 ? -1n : 1n);
  const entries: Entry[] = [...paths].sort(comparePaths).map((path) => {
    const type: EntryType = path === '.' ? 'dir' : pick(rand, ['file', 'file', 'dir', 'symlink', 'fifo'] as const);
    const e: Entry = {
      path, type, mode: Math.floor(rand() * 0o7777), uid: Math.floor(rand() * 70000), gid: Math.floor(rand() * 70000),
      mtimeNs: big(), ctimeNs: big(), ino: BigInt(Math.floor(rand() * 2 ** 53)), size: 0,
      xattrs: rand() < 0.3 ? [['system.posix_acl_access', new Uint8Array([2, 0, 0, 0, 1, 0, 6, 0])], ['user.k', new Uint8Array(Math.floor(rand() * 9))]] : [],
    };
    if (type === 'symlink') e.target = pick(rand, ['../a', '/abs/olute', 'é']);
    if (type === 'file') {
      if (rand() < 0.2) e.linkTo = 'a';
      else {
        e.chunks = Array.from({ length: Math.floor(rand() * 5) }, () => ({ hash: hex(rand), size: 1 + Math.floor(rand() * 65536) }));
        e.size = e.chunks.reduce((s, c) => s + c.size, 0);
        if (rand() < 0.3) {
          e.holes = [[0, 4096], [8192 + Math.floor(rand() * 4) * 4096, 4096]];
          e.size += 8192;
        }
      }
    }
    return e;
  });
  return { createdAt: Math.floor(rand() * 2 ** 42), scanStartNs: big(), entries };
}

describe('manifest encoding', () => {
  it('round-trips random manifests exactly', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const m = randomManifest(prng(seed));
      assert.deepEqual(decodeManifest(encodeManifest(m)), m, `seed ${seed}`);
    }
  });

  it('refuses every truncation and trailing garbage', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const buf = encodeManifest(randomManifest(prng(seed)));
      for (let cut = 0; cut < buf.length; cut += Math.max(1, Math.floor(buf.length / 50))) {
        assert.throws(() => decodeManifest(buf.subarray(0, cut)), CorruptManifest, `seed ${seed} cut ${cut}`);
      }
      assert.throws(() => decodeManifest(Buffer.concat([buf, Buffer.from([0])])), CorruptManifest);
    }
    assert.throws(() => decodeManifest(Buffer.from('WRNM\x02')), /version/);
  });

  it('round-trips sizes at every varint length, up to 2^53 - 1', () => {
    const sizes = [0, 1, 127, 128, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 49 - 1, 2 ** 49, Number.MAX_SAFE_INTEGER];
    const base = { type: 'file' as const, mode: 0o644, uid: 2 ** 32 - 1, gid: 2 ** 31, mtimeNs: -5n, ctimeNs: 2n ** 62n, ino: 2n ** 63n, xattrs: [] };
    const m: Manifest = { createdAt: 1_765_000_000_000, scanStartNs: -1n, entries: sizes.map((size, i) => ({ ...base, path: `f${String(i).padStart(2, '0')}`, size, chunks: [{ hash: String(i % 10).repeat(64), size }] })) };
    assert.deepEqual(decodeManifest(encodeManifest(m)), m);
  });

  it('reads the wire format: varints as LEB128 (a long form too), refuses a number past 2^53 - 1', () => {
    const magic = [...encodeManifest({ createdAt: 0, scanStartNs: 0n, entries: [] }).subarray(0, 5)];
    const withCreatedAt = (varint: number[]) => Uint8Array.from([...magic, ...varint, 0, 0]);
    assert.equal(decodeManifest(withCreatedAt([0x80, 0x01])).createdAt, 128);
    assert.equal(decodeManifest(withCreatedAt([0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])).createdAt, 5);
    assert.equal(decodeManifest(withCreatedAt([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])).createdAt, Number.MAX_SAFE_INTEGER);
    assert.throws(() => decodeManifest(withCreatedAt([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])), /out of range/);
    assert.throws(() => decodeManifest(withCreatedAt(new Array(11).fill(0x80).concat([0]))), /too long/);
    assert.deepEqual([...encodeManifest({ createdAt: 300, scanStartNs: -2n, entries: [] }).subarray(5)], [0xac, 0x02, 0x03, 0x00]);
  });

  it('refuses a chunk hash that is not a SHA-256 in hex', () => {
    const base = { path: 'x', type: 'file' as const, mode: 0, uid: 0, gid: 0, mtimeNs: 0n, ctimeNs: 0n, ino: 0n, size: 1, xattrs: [] };
    for (const hash of ['ab', 'zz'.repeat(32), 'ab'.repeat(33)]) {
      assert.throws(() => encodeManifest({ createdAt: 0, scanStartNs: 0n, entries: [{ ...base, chunks: [{ hash, size: 1 }] }] }), /not a SHA-256/);
    }
  });

  it('sorts paths parent first, children right after their parent', () => {
    const paths = ['a.b', 'a/b', 'a', '.', 'a/b/c', 'a-', 'b'];
    assert.deepEqual([...paths].sort(comparePaths), ['.', 'a', 'a/b', 'a/b/c', 'a-', 'a.b', 'b']);
  });

  it('lists each chunk once', () => {
    const c = { hash: 'ab'.repeat(32), size: 5 };
    const d = { hash: 'cd'.repeat(32), size: 7 };
    const base = { type: 'file' as const, mode: 0, uid: 0, gid: 0, mtimeNs: 0n, ctimeNs: 0n, ino: 0n, size: 17, xattrs: [] };
    const m: Manifest = { createdAt: 0, scanStartNs: 0n, entries: [{ ...base, path: 'x', chunks: [c, d, c] }, { ...base, path: 'y', chunks: [d] }] };
    assert.deepEqual(manifestChunks(m), [c, d]);
    const seen = new Set([c.hash]);
    assert.deepEqual(manifestChunks(m, seen), [d], 'those already seen are left out');
    assert.deepEqual([...seen], [c.hash, d.hash], 'and the others are added');
  });
});
