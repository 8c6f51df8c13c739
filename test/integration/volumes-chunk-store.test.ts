import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import * as tar from 'tar-stream';
import { ChunkStore } from '../../src/volumes/chunk-store.ts';
import { importTar } from '../../src/volumes/tar.ts';

/** One flipped byte in a stored chunk, as a bad disk would leave it. */
function flipByte(s: ChunkStore, hash: string): void {
  s.flush();
  const loc = s.locate(hash)!;
  const fd = openSync(loc.path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, loc.offset + 10);
  b[0] = b[0]! ^ 0xff;
  writeSync(fd, b, 0, 1, loc.offset + 10);
  closeSync(fd);
}

describe('chunk store crash recovery and tar import safety', () => {
  let dir: string;
  let n = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'volumes-chunks-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const fresh = () => join(dir, `s${n++}`);

  it('keeps flushed chunks and drops unflushed ones after a crash; a torn index record is ignored', () => {
    const path = fresh();
    const a = new ChunkStore(path);
    const kept = Array.from({ length: 20 }, () => a.putData(randomBytes(5000)));
    a.flush();
    const lost = Array.from({ length: 5 }, () => a.putData(randomBytes(5000)));
    // "crash": no flush, no close; the index gets half a record from a write cut short
    appendFileSync(join(path, 'index'), randomBytes(20));
    const b = new ChunkStore(path);
    for (const h of kept) assert.equal(b.get(h).length, 5000);
    for (const h of lost) assert.equal(b.has(h), false);
    assert.equal(b.count, 20);
    // new chunks go on after the torn tail was dropped, and survive a reopen
    const more = b.putData(randomBytes(3000));
    b.close();
    const c = new ChunkStore(path);
    assert.equal(c.get(more).length, 3000);
    assert.equal(c.count, 21);
    c.close();
  });

  it('drops index records that point past the end of their pack, and packs nobody indexes', () => {
    const path = fresh();
    const a = new ChunkStore(path);
    const first = a.putData(randomBytes(4000));
    const second = a.putData(randomBytes(4000));
    a.close();
    const pack = join(path, 'packs', readdirSync(join(path, 'packs'))[0]!);
    truncateSync(pack, statSync(pack).size - 100); // the pack lost its tail (a disk that lied about fsync)
    const b = new ChunkStore(path);
    assert.equal(b.has(first), true);
    assert.equal(b.has(second), false);
    b.putData(randomBytes(100)); // a new pack, never flushed
    const c = new ChunkStore(path); // b "crashed": its pack has no index records
    assert.equal(readdirSync(join(path, 'packs')).length, 1);
    c.close();
  });

  async function importOf(entries: Array<{ name: string; type?: 'file' | 'symlink' | 'directory'; linkname?: string; body?: string }>) {
    const pack = tar.pack();
    const out = new PassThrough();
    pack.pipe(out);
    for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname }, e.body ?? '');
    pack.finalize();
    return importTar(new ChunkStore(fresh()), out);
  }

  it('refuses a tar whose paths leave the volume, directly or through a symlink', async () => {
    await assert.rejects(importOf([{ name: '../evil', body: 'x' }]), /leaves the volume/);
    await assert.rejects(importOf([{ name: 'a', type: 'symlink', linkname: '/etc' }, { name: 'a/passwd', body: 'x' }]), /has no directory a before it/);
    const ok = await importOf([{ name: './', type: 'directory' }, { name: 'd/', type: 'directory' }, { name: 'd/f', body: 'hello' }]);
    assert.deepEqual(ok.manifest.entries.map((e) => e.path), ['.', 'd', 'd/f']);
    assert.equal(ok.manifest.entries[2]!.size, 5);
  });

  /** Parses a stream piece into its records: [hash, bytes]. */
  const parse = (buf: Buffer) => {
    const out: [string, Buffer][] = [];
    for (let at = 0; at < buf.length; ) {
      const len = buf.readUInt32LE(at + 32);
      out.push([buf.toString('hex', at, at + 32), buf.subarray(at + 36, at + 36 + len)]);
      at += 36 + len;
    }
    return out;
  };

  it('reads records in runs (flushed, written and still buffered), up to a size, each checked; a bad one throws or is left out', () => {
    const s = new ChunkStore(fresh());
    const data = Array.from({ length: 300 }, (_, i) => randomBytes(1000 + (i * 37) % 9000));
    const hashes = data.map((d, i) => {
      const h = s.putData(d);
      if (i === 99) s.flush(); // the first 100 durable, the rest written or in the write buffer
      return h;
    });
    s.putData(data[5]!); // a duplicate is stored once
    const asked = [...hashes].reverse(); // any order: records come in pack order, each once
    asked.push(hashes[7]!, 'ab'.repeat(32)); // asked twice, and one never stored
    const pieces = [...s.records(asked, { maxBytes: 256 * 1024 })];
    const got = pieces.flatMap((p) => parse(p.buf));
    assert.deepEqual(got.map(([h]) => h), hashes);
    got.forEach(([, bytes], i) => assert.ok(bytes.equals(data[i]!), `chunk ${i}`));
    assert.ok(pieces.every((p) => p.buf.length <= 256 * 1024), 'no piece over the limit');
    assert.ok(pieces.length >= 6 && pieces.length <= 8, `${pieces.length} pieces for ~1.6 MB in 256 kB runs`);
    assert.equal(pieces.reduce((n, p) => n + p.chunks, 0), 300);
    assert.equal(pieces.reduce((n, p) => n + p.bytes, 0), data.reduce((n, d) => n + d.length, 0));

    flipByte(s, hashes[42]!);
    assert.throws(() => [...s.records(hashes)], /chunk [0-9a-f]{16} is corrupt/);
    const good = [...s.records(hashes, { skipBad: true })].flatMap((p) => parse(p.buf)).map(([h]) => h);
    assert.deepEqual(good, hashes.filter((_, i) => i !== 42));
    s.close();
  });

  it('reads chunks in the order asked (repeats too), runs lying in pack order in one read, each checked; a bad or missing one throws', () => {
    const s = new ChunkStore(fresh());
    const data = Array.from({ length: 200 }, (_, i) => randomBytes(1000 + (i * 53) % 9000));
    const hashes = data.map((d, i) => {
      const h = s.putData(d);
      if (i === 49) s.flush(); // durable, written out, and still in the write buffer
      return h;
    });
    // a file's order: a run in pack order, a repeat, one out of order, the rest in order
    const order = [...hashes.slice(0, 120), hashes[3]!, hashes[150]!, ...hashes.slice(120)];
    const want = order.map((h) => data[hashes.indexOf(h)]!);
    for (const maxBytes of [2 ** 20, 20_000, 1]) {
      const got = [...s.inOrder(order, maxBytes)];
      assert.equal(got.length, order.length);
      got.forEach((b, i) => assert.ok(b.equals(want[i]!), `chunk ${i} of the order (maxBytes ${maxBytes})`));
      // the first 120 lie one after another (~0.65 MB): one read, so one buffer under them all
      if (maxBytes === 2 ** 20) assert.equal(new Set(got.slice(0, 120).map((b) => b.buffer)).size, 1);
    }
    assert.throws(() => [...s.inOrder([hashes[0]!, 'ab'.repeat(32)])], /missing from the store/);
    flipByte(s, hashes[77]!);
    const before = [...s.inOrder(hashes.slice(70, 77))];
    assert.equal(before.length, 7);
    assert.throws(() => [...s.inOrder(hashes.slice(70, 90))], /chunk [0-9a-f]{16} is corrupt/);
    s.close();
  });

  it('a full disk: the chunks a write could not store are not indexed, the pack is cut back, and storing goes on once there is room', () => {
    const mnt = fresh();
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'chunks-test', mnt]);
    try {
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(256 * 1024)); // deleted below: room again
      const s = new ChunkStore(join(mnt, 'store'));
      const data = new Map<string, Buffer>();
      let failed: unknown;
      for (let i = 0; i < 2000 && !failed; i++) {
        const d = randomBytes(5000 + (i % 7) * 1000);
        try {
          data.set(s.putData(d), d);
          if (i % 50 === 49) s.flush();
        } catch (err) {
          failed = err;
        }
      }
      assert.equal((failed as NodeJS.ErrnoException | undefined)?.code, 'ENOSPC', String(failed));
      const held = () => [...data.keys()].filter((h) => s.has(h));
      const before = held();
      assert.ok(before.length > 100 && before.length < data.size, `${before.length} of ${data.size} chunks held`);
      rmSync(join(mnt, 'filler'));
      // storing goes on after the cut: the new records are where the index says
      const more = Array.from({ length: 20 }, () => randomBytes(3000));
      for (const d of more) data.set(s.putData(d), d);
      s.close();
      const reopened = new ChunkStore(join(mnt, 'store'));
      const after = [...data.keys()].filter((h) => reopened.has(h));
      assert.deepEqual(after, [...before, ...more.map((d) => createHash('sha256').update(d).digest('hex'))]);
      for (const h of after) assert.ok(reopened.get(h).equals(data.get(h)!));
      reopened.close();
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  });
});
