import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Context, Hono } from 'hono';

/** One built file of the UI in its three encodings (scripts/build-ui.mjs writes them). */
interface Asset {
  type: string;
  raw: Buffer;
  gz: Buffer;
  br: Buffer;
  immutable: boolean;
}

export interface UiManifest {
  /** path served (e.g. "/index.html", "/assets/app-1a2b3c4d.js") → file name in the dir */
  files: Record<string, { file: string; type: string; immutable: boolean }>;
}

/** dist/ui next to the running bundle (dist/main.mjs), or the checkout's dist/ui under tsx. */
export function defaultUiDir(): string | undefined {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const dir of [join(here, 'ui'), join(here, '../../../dist/ui'), join(here, '../../dist/ui')]) if (existsSync(join(dir, 'manifest.json'))) return dir;
  return undefined;
}

export function loadUiAssets(dir: string | undefined): Map<string, Asset> {
  const out = new Map<string, Asset>();
  if (!dir) return out;
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as UiManifest;
  for (const [path, f] of Object.entries(manifest.files)) {
    const p = join(dir, f.file);
    out.set(path, { type: f.type, immutable: f.immutable, raw: readFileSync(p), gz: readFileSync(`${p}.gz`), br: readFileSync(`${p}.br`) });
  }
  return out;
}

function send(c: Context, a: Asset): Response {
  const accept = c.req.header('accept-encoding') ?? '';
  const [body, encoding] = /\bbr\b/.test(accept) ? [a.br, 'br'] : /\bgzip\b/.test(accept) ? [a.gz, 'gzip'] : [a.raw, undefined];
  const headers: Record<string, string> = {
    'content-type': a.type,
    // hashed names never change; the page itself is checked every time (it names the current hashes)
    'cache-control': a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    vary: 'Accept-Encoding',
  };
  if (encoding) headers['content-encoding'] = encoding;
  return c.body(new Uint8Array(body), 200, headers);
}

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * The page names the origins its CSP lets it connect to (the guard computed both from one member
 * list), so it can tell when a member that joined later is out of its reach and reload its policy
 * (src/ui/policy.ts). Rendered per request; it is a few hundred bytes.
 */
function sendIndex(c: Context, index: Asset): Response {
  const html = Buffer.from(index.raw.toString('utf8').replace('%CONNECT%', escapeAttr(c.get('connectOrigins') ?? '')));
  const gzip = /\bgzip\b/.test(c.req.header('accept-encoding') ?? '');
  const headers: Record<string, string> = { 'content-type': index.type, 'cache-control': 'no-store', vary: 'Accept-Encoding' };
  if (gzip) headers['content-encoding'] = 'gzip';
  return c.body(new Uint8Array(gzip ? gzipSync(html) : html), 200, headers);
}

/** GET / (the web UI) and its hashed assets, all from memory, compressed ahead of time. */
export function uiPageRoutes(app: Hono, assets: Map<string, Asset>): void {
  app.get('/', (c) => {
    const index = assets.get('/index.html');
    if (!index) return c.text('the web UI is not built: run scripts/build-ui.mjs (bin/warren does it)', 503);
    return sendIndex(c, index);
  });
  app.get('/assets/:file', (c) => {
    const a = assets.get(c.req.path);
    return a ? send(c, a) : c.notFound();
  });
}
