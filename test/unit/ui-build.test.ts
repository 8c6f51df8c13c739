import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
// @ts-expect-error: a plain .mjs build script, no type declarations
import { buildUi, JS_BUDGET_GZIP_BYTES } from '../../scripts/build-ui.mjs';
import { Hono } from 'hono';
import { loadUiAssets, uiPageRoutes } from '../../src/http/routes/ui-page.ts';
import { SseParser } from '../../src/ui/sse.ts';
import { fieldOf } from '../../src/ui/fields.tsx';

test('the UI builds into hashed, precompressed files, and its JavaScript is at most 60 kB gzipped', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warren-ui-build-'));
  try {
    const out = join(dir, 'ui');
    const r = await buildUi(out);
    assert.ok(r.jsGzipBytes <= JS_BUDGET_GZIP_BYTES, `the JS is ${r.jsGzipBytes} bytes gzipped (budget ${JS_BUDGET_GZIP_BYTES})`);
    assert.equal(JS_BUDGET_GZIP_BYTES, 60 * 1024);
    const files = await readdir(out);
    const js = files.find((f) => /^app-[0-9a-f]{10}\.js$/.test(f));
    assert.ok(js, `a hashed JS file: ${files.join(' ')}`);
    const raw = await readFile(join(out, js));
    assert.deepEqual(gunzipSync(await readFile(join(out, `${js}.gz`))), raw);
    assert.deepEqual(brotliDecompressSync(await readFile(join(out, `${js}.br`))), raw);
    // the page names the hashed files and has no inline script (the CSP forbids it)
    const html = await readFile(join(out, 'index.html'), 'utf8');
    assert.match(html, new RegExp(`<script type="module" src="/assets/${js}"></script>`));
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/);
    assert.doesNotMatch(raw.toString(), /\beval\(|new Function\(/);
    const assets = loadUiAssets(out);
    assert.ok(assets.get(`/assets/${js}`)?.immutable);
    assert.equal(assets.get('/index.html')?.immutable, false);

    // served as the browser asks: brotli, else gzip, else plain; hashed files cached for good, the
    // page (it names the current hashes and the members) never
    const app = new Hono();
    app.use('*', async (c, next) => {
      c.set('connectOrigins', 'http://127.0.0.9:7370');
      await next();
    });
    uiPageRoutes(app, assets);
    const get = (path: string, encoding?: string) => app.request(path, { headers: encoding ? { 'accept-encoding': encoding } : {} });
    for (const [accept, enc, decode] of [['gzip, deflate, br', 'br', brotliDecompressSync], ['gzip', 'gzip', gunzipSync], [undefined, null, (b: Buffer) => b]] as const) {
      const res = await get(`/assets/${js}`, accept);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-encoding'), enc, `asked ${accept}`);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.equal(res.headers.get('vary'), 'Accept-Encoding');
      assert.match(res.headers.get('content-type')!, /^text\/javascript/);
      assert.deepEqual(decode(Buffer.from(await res.arrayBuffer())), raw);
    }
    const page = await get('/', 'gzip, br');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.equal(page.headers.get('content-encoding'), 'gzip');
    assert.match(gunzipSync(Buffer.from(await page.arrayBuffer())).toString(), /<meta name="warren-connect" content="http:\/\/127\.0\.0\.9:7370">/);
    assert.equal((await get('/assets/app-0000000000.js')).status, 404);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the SSE parser splits messages across any chunking and joins multi-line data', () => {
  const text = 'event: snapshot\ndata: {"a":1}\n\n: keep-alive\n\nevent: event\ndata: x\ndata: y\n\ndata: plain\r\n\r\n';
  const bytes = new TextEncoder().encode(text);
  for (let cut = 1; cut < bytes.length; cut++) {
    const p = new SseParser();
    const got = [...p.push(bytes.slice(0, cut)), ...p.push(bytes.slice(cut))];
    assert.deepEqual(got, [{ event: 'snapshot', data: '{"a":1}' }, { event: 'event', data: 'x\ny' }, { event: 'message', data: 'plain' }], `cut at ${cut}`);
  }
});

test('an API validation message is shown on the field it starts with', () => {
  const fields = ['name', 'image', 'ports', 'env', 'volumes', 'replicas', 'constraints'];
  assert.equal(fieldOf('image "Not An Image!" is not a valid image reference', fields), 'image');
  assert.equal(fieldOf('ports 70000 must be a container port from 1 to 65535', fields), 'ports');
  assert.equal(fieldOf('there is already a service named "web"', fields), undefined);
  assert.equal(fieldOf('', fields), undefined);
});
