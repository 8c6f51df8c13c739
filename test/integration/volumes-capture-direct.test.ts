/**
 * Large files are chunked where they lie (no copy aside) when they hold still across the read,
 * and copied as before when they do not: the snapshot is the file as it was at the freeze in
 * every case, and no chunk is stored under a hash its bytes do not have.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RACY_WINDOW_NS } from '../../src/core/volumes/changes.ts';
import type { Entry } from '../../src/core/volumes/manifest.ts';
import { Capture, DIRECT_MIN_BYTES, nowNs } from '../../src/volumes/capture.ts';
import { ChunkPool, type ChunkPiece } from '../../src/volumes/chunk-pool.ts';
import { ChunkStore } from '../../src/volumes/chunk-store.ts';
import { waitFor } from '../helpers/wait.ts';

const SIZE = DIRECT_MIN_BYTES + 4 * 2 ** 20;

describe('capture of large files where they lie', () => {
  let dir: string;
  let pool: ChunkPool;
  let n = 0;
  const fresh = () => join(dir, `d${n++}`);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'volumes-direct-'));
    pool = new ChunkPool(1);
  });
  after(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const bytes = (seed: number, size = SIZE) => createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16, 0)).update(Buffer.alloc(size));
  const contentOf = (store: ChunkStore, e: Entry) => Buffer.concat((e.chunks ?? []).map((c) => store.get(c.hash)));
  /** a tree with one large file whose times are out of the racy window (a change after the scan moves them) */
  async function tree(): Promise<{ root: string; file: string }> {
    const root = fresh();
    const file = join(root, 'db');
    mkdirSync(root);
    writeFileSync(file, bytes(1));
    await settled(file);
    return { root, file };
  }
  async function settled(file: string): Promise<void> {
    const ctimeNs = statSync(file, { bigint: true }).ctimeNs;
    await waitFor('the file out of the racy window', () => nowNs() - ctimeNs > 2n * RACY_WINDOW_NS, 5000, 10);
  }
  const overwrite = (file: string, at: number, data: Buffer) => {
    const fd = openSync(file, 'r+');
    writeSync(fd, data, 0, data.length, at);
    closeSync(fd);
  };

  it('a file that holds still is chunked in place: no copy, its chunks stored, the content exact', async () => {
    const { root, file } = await tree();
    const store = new ChunkStore(fresh());
    const staging = fresh();
    const c = new Capture(root, undefined, staging);
    await c.prepare(store, pool);
    assert.deepEqual(readdirSync(staging), [], 'nothing copied aside');
    await c.freeze();
    const { manifest, stats, newBytes } = await c.commit(store, pool);
    assert.equal(stats.directBytes, SIZE);
    assert.equal(stats.frozenCopyBytes, 0);
    assert.equal(newBytes, SIZE);
    assert.ok(contentOf(store, manifest.entries.find((e) => e.path === 'db')!).equals(readFileSync(file)));
    store.close();
  });

  it('a file written just before the capture is not read again in the freeze (the pre-pass waits out the racy window)', async () => {
    const root = fresh();
    const file = join(root, 'db');
    mkdirSync(root);
    const data = bytes(3);
    const store = new ChunkStore(fresh());
    const c = new Capture(root, undefined, fresh());
    writeFileSync(file, data);
    // a last small write (a large one's times can lag it), the pre-pass right after it: well inside the window
    let racy = false;
    for (let i = 0; i < 20 && !racy; i++) {
      overwrite(file, 0, data.subarray(0, 4096));
      racy = nowNs() - statSync(file, { bigint: true }).ctimeNs < RACY_WINDOW_NS / 2n;
    }
    assert.ok(racy, 'no write landed within the racy window of the pre-pass');
    await c.prepare(store, pool);
    await c.freeze();
    const { manifest, stats } = await c.commit(store, pool);
    assert.equal(stats.directBytes, SIZE);
    assert.equal(stats.frozenCopyBytes, 0, 'read again with the containers paused');
    assert.ok(contentOf(store, manifest.entries.find((e) => e.path === 'db')!).equals(readFileSync(file)));
    store.close();
  });

  it('a file written between the read and the freeze is copied in the freeze: the snapshot holds the new bytes', async () => {
    const { root, file } = await tree();
    const store = new ChunkStore(fresh());
    const c = new Capture(root, undefined, fresh());
    await c.prepare(store, pool);
    overwrite(file, 5 * 2 ** 20, bytes(2, 4096)); // same size: only the times tell
    await c.freeze();
    const { manifest, stats } = await c.commit(store, pool);
    assert.equal(stats.directBytes, 0);
    assert.equal(stats.frozenCopyBytes, SIZE);
    // the copy is chunked with the read's chunks as a hint: all but those around the write taken as they were
    assert.ok(stats.reusedBytes > SIZE - 2 ** 20 && stats.reusedBytes < SIZE, `reused ${stats.reusedBytes}`);
    assert.ok(contentOf(store, manifest.entries.find((e) => e.path === 'db')!).equals(readFileSync(file)));
    store.close();
  });

  it('the next snapshot of a file changed in place takes its unchanged chunks from the last one', async () => {
    const { root, file } = await tree();
    const store = new ChunkStore(fresh());
    const first = new Capture(root, undefined, fresh());
    await first.prepare(store, pool);
    await first.freeze();
    const { manifest: last, stats: firstStats } = await first.commit(store, pool);
    assert.equal(firstStats.reusedBytes, 0);
    for (let i = 0; i < 20; i++) overwrite(file, i * 997 * 1024, bytes(4 + i, 4096));
    await settled(file);
    const next = new Capture(root, last, fresh());
    await next.prepare(store, pool);
    await next.freeze();
    const { manifest, stats, newBytes } = await next.commit(store, pool);
    assert.equal(stats.directBytes, SIZE);
    assert.ok(stats.reusedBytes > SIZE - 20 * 3 * 64 * 1024, `reused ${stats.reusedBytes}`);
    assert.ok(newBytes < 20 * 3 * 64 * 1024, `new ${newBytes}`);
    assert.ok(contentOf(store, manifest.entries.find((e) => e.path === 'db')!).equals(readFileSync(file)));
    store.close();
  });

  /** step 1 of a capture whose read in place is raced by a write (after its first piece): the file is copied instead */
  async function racedPrepare(root: string, file: string, store: ChunkStore): Promise<{ c: Capture; pieces: number }> {
    let pieces = 0;
    const racing = {
      chunk: (path: string, sparse: boolean, onPiece?: (p: ChunkPiece) => void) => pool.chunk(path, sparse, onPiece && ((p) => {
        onPiece(p);
        if (path === file && pieces++ === 0) overwrite(file, SIZE - 2 * 2 ** 20, bytes(3, 4096));
      })),
    } as unknown as ChunkPool;
    const c = new Capture(root, undefined, fresh());
    await c.prepare(store, racing);
    return { c, pieces };
  }

  it('a file written while it is read is copied instead; every chunk stored holds the bytes of its hash', async () => {
    const { root, file } = await tree();
    const store = new ChunkStore(fresh());
    const { c, pieces } = await racedPrepare(root, file, store);
    await c.freeze();
    const { manifest, stats } = await c.commit(store, pool);
    assert.ok(pieces > 1, `${pieces} pieces`);
    assert.equal(stats.directBytes, 0);
    // the write came before the copy: the freeze compares the copy with the file and writes nothing
    assert.equal(stats.frozenCopyBytes, 0);
    assert.ok(contentOf(store, manifest.entries.find((e) => e.path === 'db')!).equals(readFileSync(file)));
    // whatever the read in place stored before the write is content-addressed all the same: get() re-hashes
    for (const h of store.hashes()) store.get(h);
    store.close();
  });

  it('a copy from step 1 that moved by the freeze is brought up to date there: only the blocks that differ are written', async () => {
    const { root, file } = await tree();
    const store = new ChunkStore(fresh());
    const { c } = await racedPrepare(root, file, store);
    // a busy database: more writes after the copy, before the freeze
    overwrite(file, 3 * 2 ** 20 + 100, bytes(5, 4096));
    overwrite(file, SIZE - 4096, bytes(6, 4096));
    await c.freeze();
    const { manifest, stats } = await c.commit(store, pool);
    assert.ok(stats.frozenCopyBytes >= 2 * 16384 && stats.frozenCopyBytes <= 3 * 16384, `${stats.frozenCopyBytes} bytes written in the freeze`);
    assert.ok(contentOf(store, manifest.entries.find((e) => e.path === 'db')!).equals(readFileSync(file)), 'the snapshot holds the file as at the freeze');
    store.close();
  });
});

describe('chunk pool threads', () => {
  it('stop once idle and start again for the next job, with the same chunks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chunk-pool-idle-'));
    const pool = new ChunkPool(1, undefined, 300);
    try {
      const file = join(dir, 'f');
      writeFileSync(file, createCipheriv('aes-128-ctr', Buffer.alloc(16, 9), Buffer.alloc(16, 0)).update(Buffer.alloc(2 ** 20)));
      assert.equal(pool.threads, 0, 'no thread before the first job');
      const first = await pool.chunk(file, false);
      assert.equal(pool.threads, 1);
      await waitFor('the idle thread stopped', () => pool.threads === 0, 10_000, 50);
      const again = await pool.chunk(file, false);
      assert.deepEqual(again.chunks, first.chunks);
      assert.ok(first.chunks.length > 10);
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
