/**
 * Fuzzing what another node (or a user's file) feeds a volume store: the replication routes
 * (src/http/routes/volume-sync.ts → src/volumes/replication.ts) with truncated, reordered,
 * corrupted, oversized and garbage chunk streams and snapshot records, and tar import
 * (src/volumes/tar.ts) with edited and broken tars. Nothing crashes; every answer is a 2xx or a
 * JSON 4xx; the store never holds a chunk whose bytes do not match its hash, and holds exactly
 * the intact records that came before the first bad one; an accepted tar gives a manifest that
 * encodes and decodes to itself.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isUserError, UserError } from '../../src/core/errors.ts';
import { decodeManifest, encodeManifest } from '../../src/core/volumes/manifest.ts';
import { jsonError } from '../../src/http/errors.ts';
import { volumeSyncRoutes } from '../../src/http/routes/volume-sync.ts';
import { CHUNK_RECORD_HEADER, SnapshotReceiver } from '../../src/volumes/replication.ts';
import { importTar } from '../../src/volumes/tar.ts';
import { VolumeStore } from '../../src/volumes/volume-store.ts';
import { fuzz } from '../helpers/fuzz.ts';
import { damage, damaged, makeTar, tarEntry } from '../helpers/tars.ts';

const TOKEN = 'fuzz-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
// tmpfs when there is one: the store fsyncs every stream
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'warren-fuzz-volumes-'));
let store: VolumeStore;
let app: Hono;

before(() => {
  store = new VolumeStore(join(dir, 'store'));
  app = new Hono();
  volumeSyncRoutes(app, { adminToken: TOKEN, receiver: new SnapshotReceiver(store, { reserveBytes: 0 }) });
  // the API's own error handling (src/http/api.ts): a UserError is its 4xx, anything else a 500
  app.notFound((c) => jsonError(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => (isUserError(err) ? jsonError(c, err.status as ContentfulStatusCode, err.code, err.message) : jsonError(c, 500, 'internal', String(err))));
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A 2xx, or a 4xx with the API's error body; never a 5xx. */
async function answer(res: Response): Promise<{ status: number; body: any }> {
  const body = await res.json();
  if (res.status >= 300) {
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}: ${JSON.stringify(body)}`);
    assert.equal(typeof body.error?.code, 'string');
    assert.ok(typeof body.error.message === 'string' && body.error.message.length > 0 && !body.error.message.includes('\n    at '), JSON.stringify(body));
  }
  return { status: res.status, body };
}

/** Every chunk the store holds reads back matching its hash (ChunkStore.get re-hashes). */
function assertStoreSound(): void {
  for (const hash of store.chunks.hashes()) {
    const data = store.chunks.get(hash);
    assert.equal(createHash('sha256').update(data).digest('hex'), hash);
  }
}

const record = (data: Uint8Array, hash = createHash('sha256').update(data).digest()) => {
  const head = Buffer.alloc(CHUNK_RECORD_HEADER);
  Buffer.from(hash).copy(head);
  head.writeUInt32LE(data.length, 32);
  return Buffer.concat([head, data]);
};

/** The records of a stream that a correct receiver stores: intact ones, up to the first bad one. */
function expectedStored(stream: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (stream.length - at >= CHUNK_RECORD_HEADER) {
    const len = stream.readUInt32LE(at + 32);
    if (len > 1 << 20 || stream.length - at < CHUNK_RECORD_HEADER + len) break;
    const hash = stream.subarray(at, at + 32).toString('hex');
    if (createHash('sha256').update(stream.subarray(at + CHUNK_RECORD_HEADER, at + CHUNK_RECORD_HEADER + len)).digest('hex') !== hash) break;
    out.push(hash);
    at += CHUNK_RECORD_HEADER + len;
  }
  return out;
}

/** A chunk stream: valid records, then damage of every kind. */
const chunkStream = fc
  .record({
    chunks: fc.array(fc.uint8Array({ minLength: 0, maxLength: 3000 }), { maxLength: 6 }),
    damage: fc.oneof(
      fc.constant({ kind: 'none' as const }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('length' as const), record: fc.nat(), len: fc.oneof(fc.constantFrom(0, 1, 0xffffffff, (1 << 20) + 1, 1 << 20), fc.nat()) }),
      fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 200 }), at: fc.nat() }),
      fc.record({ kind: fc.constant('wrong-hash' as const), record: fc.nat() }),
    ),
    reorder: fc.boolean(),
    duplicate: fc.boolean(),
    pieces: fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 8 }),
  });
type StreamCase = typeof chunkStream extends fc.Arbitrary<infer T> ? T : never;

function buildStream(c: StreamCase): Buffer {
  let recs = c.chunks.map((d) => record(d));
  if (c.reorder) recs = [...recs].reverse();
  if (c.duplicate && recs.length) recs.push(recs[0]!);
  const d = c.damage;
  if (d.kind === 'wrong-hash' && recs.length) {
    const i = d.record % recs.length;
    recs[i] = record(c.chunks[c.reorder ? recs.length - 1 - i : i] ?? new Uint8Array(), createHash('sha256').update('another chunk').digest());
  }
  let buf = Buffer.concat(recs);
  if (d.kind === 'length' && recs.length) {
    const i = d.record % recs.length;
    const offset = recs.slice(0, i).reduce((n, r) => n + r.length, 0);
    buf = Buffer.from(buf);
    buf.writeUInt32LE(d.len >>> 0, offset + 32);
  }
  if (d.kind === 'truncate') buf = buf.subarray(0, d.at % (buf.length + 1));
  if (d.kind === 'flip' && buf.length) {
    buf = Buffer.from(buf);
    buf[d.at % buf.length]! ^= 1 << d.bit;
  }
  if (d.kind === 'garbage') buf = Buffer.concat([buf.subarray(0, d.at % (buf.length + 1)), Buffer.from(d.bytes), buf.subarray(d.at % (buf.length + 1))]);
  return buf;
}

/** The stream cut into the pieces the network would deliver. */
function pieces(buf: Buffer, sizes: number[]): ReadableStream<Uint8Array> {
  const parts: Buffer[] = [];
  let at = 0;
  for (const s of sizes) {
    if (at >= buf.length) break;
    parts.push(buf.subarray(at, at + s));
    at += s;
  }
  if (at < buf.length) parts.push(buf.subarray(at));
  // one piece per pull, as a socket delivers them; the receiver may cancel half way
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull: (ctl) => (i < parts.length ? ctl.enqueue(parts[i++]!) : ctl.close()),
  });
}

test('chunk streams: truncated, reordered, corrupted, oversized, garbage: a 2xx or a 4xx; only intact chunks stored, none unverified', async () => {
  await fuzz('volume chunk streams', fc.asyncProperty(chunkStream, async (c) => {
    const buf = buildStream(c);
    const expected = [...new Set(expectedStored(buf))].filter((h) => !store.chunks.has(h));
    const countBefore = store.chunks.count;
    const res = await app.request('/v1/volume-sync/chunks', { method: 'POST', headers: { ...AUTH, 'content-type': 'application/octet-stream' }, body: pieces(buf, c.pieces), duplex: 'half' } as RequestInit);
    const { status, body } = await answer(res);
    // exactly the intact records before the first bad one were added (all of them, and no other)
    assert.ok(expected.every((h) => store.chunks.has(h)), 'an intact record before the first bad one was not stored');
    assert.equal(store.chunks.count - countBefore, expected.length, 'a chunk was stored that no intact record before the first bad one carried');
    if (status === 200) assert.equal(body.stored, expected.length);
    else assert.equal(body.error.code, 'bad_chunk');
  }), 10_000);
  assertStoreSound();
});

test('snapshot records: random, edited, pointing at chunks that are no manifest: a 2xx or a 4xx, never a 500', async () => {
  const notAManifest = store.chunks.putData(Buffer.from('these bytes are file data, not a manifest'));
  const absent = createHash('sha256').update('never sent').digest('hex');
  store.chunks.flush();
  const ref = fc.oneof(fc.constantFrom({ hash: notAManifest, size: 41 }, { hash: absent, size: 10 }), fc.record({ hash: fc.oneof(fc.string({ maxLength: 70 }), fc.constant(absent)), size: fc.oneof(fc.integer(), fc.double(), fc.string()) }), fc.anything());
  const rec = fc.record({
    id: fc.oneof(fc.constantFrom('s1', '../../etc', '', 'a'.repeat(65), 'UPPER'), fc.string({ maxLength: 70 }), fc.anything()),
    volume: fc.oneof(fc.constantFrom('data', 'other', '..'), fc.anything()),
    seq: fc.anything(),
    createdAt: fc.anything(),
    manifest: fc.oneof(fc.array(ref, { maxLength: 3 }), fc.anything()),
    files: fc.anything(),
  }, { requiredKeys: [] });
  const body = fc.oneof(rec.map((r) => JSON.stringify(r)), fc.string({ maxLength: 200 }), fc.constantFrom('', 'null', '[]', '{', '{"id": "s1"}'));
  await fuzz('volume snapshot records', fc.asyncProperty(body, fc.constantFrom('offer', 'commit'), fc.constantFrom('data', '..', '%2e%2e', 'a%2Fb', 'x'.repeat(300)), async (text, step, volume) => {
    await answer(await app.request(`/v1/volume-sync/${volume}/${step}`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: text }));
  }), 10_000);
  assert.deepEqual(store.volumes().filter((v) => v !== 'data'), [], 'no snapshot record was written outside a valid volume');
});

test('tar import: edited, truncated and corrupted tars give a manifest that round-trips, or a UserError; no unverified chunk', async () => {
  await fuzz('volume tar import', fc.asyncProperty(fc.array(tarEntry, { maxLength: 6 }), damage, async (entries, d) => {
    const good = await makeTar(entries).catch(() => undefined);
    if (!good) return; // tar-stream itself refused to write it
    const buf = damaged(good, d);
    const start = performance.now();
    try {
      const { manifest } = await importTar(store.chunks, Readable.from([buf]));
      // what import accepts is a manifest the store can keep and read back
      const decoded = decodeManifest(encodeManifest(manifest));
      assert.deepEqual(decoded.entries.map((e) => e.path), manifest.entries.map((e) => e.path));
      for (const e of manifest.entries) {
        assert.ok(!e.path.split('/').includes('..') && !e.path.startsWith('/'), `an entry leaves the volume: ${e.path}`);
        assert.ok(Number.isSafeInteger(e.uid) && Number.isSafeInteger(e.gid) && e.uid >= 0 && e.gid >= 0, `${e.path}: uid ${e.uid} gid ${e.gid}`);
      }
    } catch (err) {
      assert.ok(err instanceof UserError, `not a UserError: ${(err as Error)?.stack ?? String(err)}`);
      assert.equal(err.code, 'bad_tar', err.message);
    } finally {
      store.chunks.flush();
    }
    assert.ok(performance.now() - start < 5000, 'one import took over 5 s');
  }), 10_000);
  assertStoreSound();
});
