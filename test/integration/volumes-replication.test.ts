import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { serve, type ServerType } from '@hono/node-server';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isUserError } from '../../src/core/errors.ts';
import { decodeManifest, manifestChunks } from '../../src/core/volumes/manifest.ts';
import { jsonError } from '../../src/http/errors.ts';
import { volumeSyncRoutes } from '../../src/http/routes/volume-sync.ts';
import { ChunkPool } from '../../src/volumes/chunk-pool.ts';
import { heldChunkRecords, httpTransport, pushSnapshot, SnapshotReceiver } from '../../src/volumes/replication.ts';
import { VolumeStore } from '../../src/volumes/volume-store.ts';
import { prng } from '../helpers/prng.ts';
import { waitFor } from '../helpers/wait.ts';
import { describeTree, randomTree, sameTree } from '../helpers/trees.ts';

const HOST = '127.61.0.2'; // this helper's loopback range
const TOKEN = 'volumes-test-token';

/** Two stores in one process; B receives over real HTTP on loopback. */
describe('snapshot replication (offer / need / send / commit over HTTP)', () => {
  let dir: string;
  let pool: ChunkPool;
  let server: ServerType;
  let url: string;
  let receiver: { current: SnapshotReceiver };
  let n = 0;
  const fresh = () => {
    const d = join(dir, `t${n++}`);
    mkdirSync(d);
    return d;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'volumes-repl-'));
    pool = new ChunkPool(1);
    receiver = { current: undefined as unknown as SnapshotReceiver };
    const app = new Hono();
    // the receiver is swapped per test; the routes read it through this indirection
    volumeSyncRoutes(app, { adminToken: TOKEN, receiver: new Proxy({} as SnapshotReceiver, { get: (_, k) => (receiver.current as unknown as Record<string | symbol, unknown>)[k] && ((receiver.current as unknown as Record<string | symbol, (...a: unknown[]) => unknown>)[k]!).bind(receiver.current) }) });
    app.onError((err, c) => (isUserError(err) ? jsonError(c, err.status as ContentfulStatusCode, err.code, err.message) : jsonError(c, 500, 'internal', String(err))));
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: HOST, port: 0 }, () => resolve(s));
    });
    url = `http://${HOST}:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function pair(opts: { reserveBytes?: number; bDir?: string } = {}) {
    const a = new VolumeStore(fresh(), { pool });
    const b = new VolumeStore(opts.bDir ?? fresh(), { pool });
    receiver.current = new SnapshotReceiver(b, { reserveBytes: opts.reserveBytes ?? 0 });
    return { a, b };
  }

  it('sends a snapshot, then only the chunks a later one adds; the copy restores equal', async () => {
    const { a, b } = await pair();
    const src = fresh();
    randomTree(src, prng(3), 60);
    writeFileSync(join(src, 'big'), randomBytes(4 * 2 ** 20));
    const first = await a.snapshot('vol', src);
    const seen: [number, number][] = [];
    const phases: string[] = [];
    const r1 = await pushSnapshot(a, first, httpTransport(url, TOKEN), { onProgress: (sent, total, phase) => seen.push([sent, total]) && phases.push(phase) });
    // the manifest's chunks first, then the data: only the data phase's total is the change's size
    assert.deepEqual([...new Set(phases)], ['manifest', 'data']);
    assert.equal(r1.sentBytes, a.chunks.storedBytes(), 'the first copy sends every chunk once');
    // progress: never backwards, never past what was asked for, at least once per ~1 MiB batch, ends at all of it
    assert.ok(seen.length >= 4, `${seen.length} progress reports for a 4 MiB push`);
    seen.forEach(([sent, total], i) => {
      assert.ok(sent <= total, `report ${i}: ${sent} of ${total}`);
      if (i) assert.ok(sent >= seen[i - 1]![0] && total >= seen[i - 1]![1], `report ${i} went backwards`);
    });
    assert.deepEqual(seen.at(-1), [r1.sentBytes, r1.sentBytes]);
    assert.deepEqual(b.list('vol').map((r) => r.id), [first.id]);
    writeFileSync(join(src, 'added'), randomBytes(50_000));
    const second = await a.snapshot('vol', src);
    const before = b.chunks.storedBytes();
    const r2 = await pushSnapshot(a, second, httpTransport(url, TOKEN));
    // B held exactly A's chunks after the first copy: the second sends only what A added since
    assert.equal(r2.sentBytes, a.chunks.storedBytes() - before);
    assert.ok(r2.sentBytes < 200_000, `${r2.sentBytes} bytes for a 50 kB change`);
    const target = join(fresh(), 'copy');
    await b.restore('vol', second.id, target, { durable: false });
    assert.equal(sameTree(describeTree(src), describeTree(target)), undefined);
    await a.close();
    await b.close();
  });

  it('each offer is answered from its own manifest, also when a record of the same id offered another', async () => {
    const { a, b } = await pair();
    const rx = receiver.current;
    const trees = [fresh(), fresh()];
    trees.forEach((t, i) => writeFileSync(join(t, 'f'), randomBytes(300_000 * (i + 1))));
    const [one, two] = [await a.snapshot('vol', trees[0]!), await a.snapshot('vol', trees[1]!)];
    const dataOf = (r: typeof one) => manifestChunks(decodeManifest(Buffer.concat(r.manifest.map((c) => a.chunks.get(c.hash)))));
    for (const r of [one, two]) await rx.receive(heldChunkRecords(a.chunks, r.manifest.map((c) => c.hash)));
    const missing = (r: typeof one) => rx.offer(r).missing.map((c) => c.hash).sort();
    assert.deepEqual(missing(one), [...new Set(dataOf(one).map((c) => c.hash))].sort());
    const sameId = { ...two, id: one.id };
    assert.deepEqual(missing(sameId), [...new Set(dataOf(two).map((c) => c.hash))].sort());
    await rx.receive(heldChunkRecords(a.chunks, dataOf(one).map((c) => c.hash)));
    assert.deepEqual(missing(one), []);
    assert.ok(missing(sameId).length > 0, 'the other manifest still lacks its data');
    await assert.rejects(rx.commit(sameId), /chunks still missing/);
    await rx.commit(one);
    assert.deepEqual(b.list('vol').map((r) => r.id), [one.id]);
    await a.close();
    await b.close();
  });

  it('a push leaves the event loop its turns: the gossip heartbeats run while a large volume is seeded', async () => {
    const { a } = await pair();
    const src = fresh();
    writeFileSync(join(src, 'big'), randomBytes(32 * 2 ** 20));
    const rec = await a.snapshot('vol', src);
    // sender and receiver in this process, no socket between them: only their own pacing turns the loop
    const rx = receiver.current;
    const direct = { offer: async (r: typeof rec) => rx.offer(r), send: async (body: AsyncIterable<Uint8Array>) => void (await rx.receive(body)), commit: async (r: typeof rec) => void (await rx.commit(r)) };
    let turns = 0;
    const timer = setInterval(() => turns++, 1);
    const started = performance.now();
    try {
      await pushSnapshot(a, rec, direct);
    } finally {
      clearInterval(timer);
    }
    const ms = performance.now() - started;
    // a seed that held the loop for seconds got its owner declared dead by its peers (the volumes benchmark, 1 GiB)
    assert.ok(turns >= Math.floor(ms / 100), `${turns} timer turns during a ${Math.round(ms)} ms push`);
    await a.close();
  });

  it('a transfer cut half way resumes without resending what arrived', async () => {
    const { a, b } = await pair();
    const src = fresh();
    writeFileSync(join(src, 'big'), randomBytes(16 * 2 ** 20));
    const rec = await a.snapshot('vol', src);
    const total = manifestChunks(a.manifest('vol', rec.id)).reduce((s, c) => s + c.size, 0) + rec.manifest.reduce((s, c) => s + c.size, 0);
    // a TCP relay that cuts the connection after ~half the volume went through it
    const cut = await cuttingRelay(url, total / 2);
    await assert.rejects(pushSnapshot(a, rec, httpTransport(cut.url, TOKEN)));
    await cut.close();
    await waitFor('the receiver to finish with the cut stream', () => receiver.current.receiving === 0);
    const arrived = b.chunks.storedBytes();
    // what was in flight at the cut (socket buffers) is lost; the rest was kept. At most what the
    // relay forwarded: its limit is per connection, and the manifest may come on another one
    // (ci88: 8,430,401 bytes of 16,838,538 arrived, 11 KB over half)
    assert.ok(arrived > total * 0.25 && arrived <= cut.forwarded(), `arrived ${arrived} of ${total}, ${cut.forwarded()} forwarded`);
    assert.deepEqual(b.list('vol'), [], 'a half-received snapshot is not listed');
    // a GC meanwhile keeps what arrived for the transfer under way
    assert.equal((await b.gc()).removedChunks, 0);
    const resumed = await pushSnapshot(a, rec, httpTransport(url, TOKEN));
    assert.equal(resumed.sentBytes, total - arrived, 'the resumed transfer sends exactly what was missing');
    // both attempts together: the volume once plus what the cut lost in flight
    const overhead = (cut.forwarded() + resumed.sentBytes) / total - 1;
    assert.ok(overhead < 0.3, `sent ${(overhead * 100).toFixed(1)}% more than the volume`);
    assert.deepEqual(b.list('vol').map((r) => r.id), [rec.id]);
    await b.restore('vol', rec.id, join(fresh(), 'copy'), { durable: false });
    await a.close();
    await b.close();
  });

  it('refuses a snapshot that would fill the receiver\'s disk, with the reason, and stores no data', async () => {
    // the receiver's data dir on its own small disk: a 16 MiB tmpfs
    const small = fresh();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'volumes-test', small]);
    const { a, b } = await pair({ reserveBytes: 2 * 2 ** 20, bDir: join(small, 'store') });
    try {
      const src = fresh();
      writeFileSync(join(src, 'big'), randomBytes(20 * 2 ** 20));
      const rec = await a.snapshot('vol', src);
      await assert.rejects(pushSnapshot(a, rec, httpTransport(url, TOKEN)), (err: unknown) => {
        assert.ok(isUserError(err) && err.code === 'insufficient_storage' && err.status === 507, String(err));
        assert.match((err as Error).message, /not enough disk space: needs 20 MiB and keeps 2\.0 MiB free, has \d+ MiB free/);
        return true;
      });
      assert.ok(b.chunks.storedBytes() < 256 * 1024, 'only the manifest came over');
      assert.deepEqual(b.list('vol'), []);
      const s = statfsSync(small);
      assert.ok(s.bavail * s.bsize > 14 * 2 ** 20, 'the disk was not filled');
    } finally {
      await a.close();
      await b.close();
      execFileSync('umount', ['-l', small]);
    }
  });

  it('rejects a chunk whose bytes do not match its hash, and calls without the admin token', async () => {
    const { a, b } = await pair();
    const bad = Buffer.alloc(36 + 10);
    randomBytes(32).copy(bad);
    bad.writeUInt32LE(10, 32);
    const res = await fetch(`${url}/v1/volume-sync/chunks`, { method: 'POST', body: bad, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'bad_chunk');
    assert.equal(b.chunks.count, 0);
    const anon = await fetch(`${url}/v1/volume-sync/chunks`, { method: 'POST', body: bad });
    assert.equal(anon.status, 401);
    // through the sender's transport: the receiver answers before the upload's end, and that answer is the error
    async function* badThenMore() {
      yield bad;
      for (let i = 0; i < 64; i++) yield randomBytes(2 ** 20);
    }
    const refused = (code: string, status: number) => (err: unknown) => isUserError(err) && err.code === code && err.status === status;
    await assert.rejects(httpTransport(url, TOKEN).send(badThenMore()), refused('bad_chunk', 400));
    await assert.rejects(httpTransport(url, 'not-the-token').send(badThenMore()), refused('unauthorized', 401));
    assert.equal(b.chunks.count, 0);
    await a.close();
    await b.close();
  });
});

/** Relays TCP to `target` and destroys both sides once `limit` bytes went upstream. */
async function cuttingRelay(target: string, limit: number): Promise<{ url: string; forwarded: () => number; close: () => Promise<void> }> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  let total = 0;
  const server: Server = createServer((down) => {
    const up = connect(Number(t.port), t.hostname);
    sockets.add(down).add(up);
    let sent = 0;
    down.on('data', (d: Buffer) => {
      sent += d.length;
      total += d.length;
      if (sent > limit) {
        down.destroy();
        up.destroy();
        return;
      }
      // with backpressure, as a real link: what is in flight at the cut is what the kernel buffers
      if (!up.write(d)) {
        down.pause();
        up.once('drain', () => down.resume());
      }
    });
    up.on('data', (d) => down.write(d));
    const end = () => { down.destroy(); up.destroy(); };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.61.0.3', () => r()));
  return {
    url: `http://127.61.0.3:${(server.address() as AddressInfo).port}`,
    forwarded: () => total,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
