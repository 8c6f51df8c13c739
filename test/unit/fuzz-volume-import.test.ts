/**
 * `PUT /v1/volumes/:name/import` (src/http/routes/volume-ops.ts → src/runtime/volume-ops.ts) fed
 * random, edited, truncated and garbage tars: a 201 with a volume whose snapshot is in the store,
 * or a JSON 4xx; never a 500. A name taken is a 409; a disk that would fill a 507.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isUserError } from '../../src/core/errors.ts';
import { jsonError } from '../../src/http/errors.ts';
import { requireMember } from '../../src/http/node-auth.ts';
import { volumeOpsRoutes, type VolumeOpsRouteDeps } from '../../src/http/routes/volume-ops.ts';
import { VolumeStore } from '../../src/volumes/volume-store.ts';
import { fuzz } from '../helpers/fuzz.ts';
import { damage, damaged, makeTar, tarEntry } from '../helpers/tars.ts';
import { opsOnStore } from '../helpers/volume-ops-fake.ts';

const TOKEN = 'fuzz-token';
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'warren-fuzz-import-'));
let store: VolumeStore;

function appFor(reserveBytes: number) {
  const { ops } = opsOnStore(store, dir, { reserveBytes });
  const refuse = () => {
    throw new Error('not under test');
  };
  const deps: VolumeOpsRouteDeps = { restore: refuse, restoreHere: refuse, clone: refuse, cloneHere: refuse, export: refuse, exportHere: refuse, handoverHere: refuse, importDocker: refuse, importTar: (n, b, a) => ops.importTar(n, b, a) };
  const app = new Hono();
  volumeOpsRoutes(app, { adminToken: TOKEN, ops: deps, member: { json: requireMember(() => true, { bodyHash: true }), stream: requireMember(() => true) } });
  // the API's own error handling (src/http/api.ts): a UserError is its 4xx, anything else a 500
  app.onError((err, c) => (isUserError(err) ? jsonError(c, err.status as ContentfulStatusCode, err.code, err.message) : jsonError(c, 500, 'internal', String((err as Error).stack))));
  return app;
}

before(() => {
  store = new VolumeStore(join(dir, 'volume-store'));
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const put = (app: Hono, name: string, body: Buffer, headers: Record<string, string> = {}) =>
  app.request(`/v1/volumes/${name}/import`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, ...headers }, body: new Uint8Array(body) });

test('import route: damaged tars give a 201 (the volume exists, its snapshot in the store) or a JSON 4xx, never a 500', async () => {
  const app = appFor(0);
  let n = 0, created = 0;
  await fuzz('volume import route', fc.asyncProperty(fc.array(tarEntry, { maxLength: 6 }), damage, async (entries, d) => {
    const good = await makeTar(entries).catch(() => undefined);
    if (!good) return;
    const name = `imp${n++}`;
    const res = await put(app, name, damaged(good, d));
    const body = (await res.json()) as { volume?: string; snapshot?: string; error?: { code: string; message: string } };
    assert.ok(res.status === 201 || (res.status >= 400 && res.status < 500), `${res.status}: ${JSON.stringify(body).slice(0, 400)}`);
    if (res.status === 201) {
      created++;
      assert.equal(body.volume, name);
      assert.ok(store.list(name).some((r) => r.id === body.snapshot));
    } else {
      assert.equal(typeof body.error?.code, 'string');
      assert.equal(store.list(name).length, 0, 'a refused import left a snapshot');
    }
  }), 300);
  assert.ok(created > 10, `only ${created} tars were accepted`);
});

test('import route: no admin token is a 401; a name taken is a 409; a bad name a 400; a disk that would fill a 507', async () => {
  const app = appFor(0);
  const tarBytes = await makeTar([{ name: 'f', type: 'file', data: new Uint8Array([1, 2, 3]), linkname: 'a', pax: {}, mode: undefined }]);
  assert.equal((await app.request('/v1/volumes/x/import', { method: 'PUT', body: new Uint8Array(tarBytes) })).status, 401);
  assert.equal((await put(app, 'taken', tarBytes)).status, 201);
  const again = await put(app, 'taken', tarBytes);
  assert.equal(again.status, 409);
  assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'volume_exists');
  assert.equal((await put(app, '..', tarBytes)).status, 404); // not even routed to a volume
  assert.equal((await put(app, '-bad', tarBytes)).status, 400);
  // the announced size does not fit: refused before a byte is read
  const full = appFor(2 ** 60);
  const refused = await put(full, 'big', tarBytes, { 'x-warren-size': String(tarBytes.length) });
  assert.equal(refused.status, 507);
  assert.match(((await refused.json()) as { error: { message: string } }).error.message, /not enough disk space/);
  // nothing announced: the check while it streams (every 16 MiB) stops it
  const large = await makeTar([{ name: 'big', type: 'file', data: new Uint8Array(17 * 2 ** 20).fill(7), linkname: 'a', pax: {}, mode: undefined }]);
  const streamed = await put(full, 'big2', large);
  assert.equal(streamed.status, 507, await streamed.clone().text());
  assert.equal(store.list('big2').length, 0);
});

test('an upload cut mid-tar ends the import (a 4xx), frees the name and leaves no snapshot', async () => {
  const { ops, driver } = opsOnStore(store, dir);
  const tarBytes = await makeTar([{ name: 'f', type: 'file', data: new Uint8Array(200_000).fill(3), linkname: 'a', pax: {}, mode: undefined }]);
  const cut = new Readable({ read() {} });
  cut.push(tarBytes.subarray(0, 70_000));
  setImmediate(() => cut.destroy(new Error('client went away')));
  await assert.rejects(ops.importTar('cut', cut), (err: { status?: number }) => (err.status ?? 500) < 500);
  assert.equal(driver.lock.size, 0);
  assert.equal(store.list('cut').length, 0);
  assert.equal((await ops.importTar('cut', Readable.from([tarBytes]))).volume, 'cut');
});
