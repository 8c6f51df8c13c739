#!/usr/bin/env node
// Builds the web UI (src/ui) into dist/ui: one JS and one CSS file named by content hash, each
// also gzip- and brotli-compressed ahead of time, an index.html naming them, and manifest.json
// (what src/http/routes/ui-page.ts serves). Fails when the JS is over its budget gzipped.
//   node scripts/build-ui.mjs [--out DIR] [--json]
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

export const JS_BUDGET_GZIP_BYTES = 60 * 1024;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds into `outDir` (replaced whole); returns the sizes. */
export async function buildUi(outDir = join(ROOT, 'dist/ui')) {
  const result = await build({
    entryPoints: [join(ROOT, 'src/ui/main.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: 'out',
    write: false,
    legalComments: 'none',
    logLevel: 'error',
  });
  const pick = (ext) => result.outputFiles.find((f) => f.path.endsWith(ext));
  const files = {};
  const sizes = {};
  const tmp = `${outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const put = (path, file, type, contents, immutable) => {
    writeFileSync(join(tmp, file), contents);
    const gz = gzipSync(contents, { level: 9 });
    writeFileSync(join(tmp, `${file}.gz`), gz);
    writeFileSync(join(tmp, `${file}.br`), brotliCompressSync(contents, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
    files[path] = { file, type, immutable };
    sizes[file] = { raw: contents.length, gzip: gz.length };
  };
  const hashed = (name, ext, contents) => `${name}-${createHash('sha256').update(contents).digest('hex').slice(0, 10)}.${ext}`;
  const js = Buffer.from(pick('.js').contents);
  const css = Buffer.from(pick('.css').contents);
  const jsFile = hashed('app', 'js', js);
  const cssFile = hashed('style', 'css', css);
  put(`/assets/${jsFile}`, jsFile, 'text/javascript; charset=utf-8', js, true);
  put(`/assets/${cssFile}`, cssFile, 'text/css; charset=utf-8', css, true);
  const html = readFileSync(join(ROOT, 'src/ui/index.html'), 'utf8').replace('%JS%', jsFile).replace('%CSS%', cssFile);
  put('/index.html', 'index.html', 'text/html; charset=utf-8', Buffer.from(html), false);
  writeFileSync(join(tmp, 'manifest.json'), JSON.stringify({ files }, null, 2));
  const jsGzip = sizes[jsFile].gzip;
  if (jsGzip > JS_BUDGET_GZIP_BYTES) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`the UI's JavaScript is ${jsGzip} bytes gzipped: over its budget of ${JS_BUDGET_GZIP_BYTES}`);
  }
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmp, outDir);
  return { outDir, js: jsFile, jsGzipBytes: jsGzip, sizes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--out');
  try {
    const r = await buildUi(i > 0 ? process.argv[i + 1] : undefined);
    if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  } catch (err) {
    console.error(`build-ui: ${err.message}`);
    process.exit(1);
  }
}
