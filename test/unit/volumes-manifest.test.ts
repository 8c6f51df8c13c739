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
  });
});
