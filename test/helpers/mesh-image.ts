/**
 * The mesh tests' image: busybox (httpd, wget, sh) plus a static UDP echo server
 * (test/fixtures/mesh/udp-echo.c, built with gcc -static), with `EXPOSE 80` (so the test covers a
 * stack service reached on a port its compose entry does not list) and labelled
 * `warren.helper=mesh`. Built once per machine.
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { importImage } from './images.ts';

const run = promisify(execFile);
export const MESH_IMAGE = 'warren-test/mesh:1';
const SOURCE = new URL('../fixtures/mesh/udp-echo.c', import.meta.url).pathname;

export async function ensureMeshImage(): Promise<string> {
  if (await run('docker', ['image', 'inspect', MESH_IMAGE]).then(() => true, () => false)) return MESH_IMAGE;
  const root = await mkdtemp(join(tmpdir(), 'mesh-image-'));
  try {
    for (const d of ['bin', 'www', 'tmp']) await mkdir(join(root, d));
    await copyFile('/bin/busybox', join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    for (const tool of ['sh', 'httpd', 'sleep', 'echo', 'cat', 'wget', 'nslookup', 'mv']) await symlink('busybox', join(root, 'bin', tool));
    await run('gcc', ['-static', '-O2', '-o', join(root, 'bin/udp-echo'), SOURCE]);
    await writeFile(join(root, 'serve.sh'), '#!/bin/sh\nmkdir -p /www\necho "$WARREN_SERVICE $WARREN_NODE" > /www/index.html\nexec httpd -f -p 80 -h /www\n', { mode: 0o755 });
    await importImage(root, MESH_IMAGE, ['EXPOSE 80', 'LABEL warren.helper=mesh']);
    return MESH_IMAGE;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
