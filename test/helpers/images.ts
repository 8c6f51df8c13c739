import { execFile, spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, symlink, copyFile, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testClusterIds } from './agents.ts';

const execFileP = promisify(execFile);

/** A tiny HTTP server image from Debian's busybox-static (no registry is reachable here). */
export const HTTPD_IMAGE = 'warren-test/httpd:1';

/**
 * The image serves GET / with "<service> <slot> <node>" (from the env Warren sets), on port 80,
 * with busybox httpd; /www is where a volume can be mounted. Built once per machine.
 */
export async function ensureHttpdImage(): Promise<string> {
  const exists = await execFileP('docker', ['image', 'inspect', HTTPD_IMAGE]).then(() => true, () => false);
  if (exists) return HTTPD_IMAGE;
  const root = await mkdtemp(join(tmpdir(), 'warren-image-'));
  try {
    await mkdir(join(root, 'bin'));
    await mkdir(join(root, 'www'));
    await mkdir(join(root, 'tmp'));
    await copyFile('/bin/busybox', join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    for (const tool of ['sh', 'httpd', 'sleep', 'echo', 'cat', 'ls', 'env', 'hostname', 'wget', 'nc', 'date', 'dd', 'head', 'seq', 'yes']) {
      await symlink('busybox', join(root, 'bin', tool));
    }
    await writeFile(
      join(root, 'serve.sh'),
      '#!/bin/sh\nmkdir -p /www\necho "$WARREN_SERVICE $WARREN_SLOT $WARREN_NODE" > /www/index.html\nexec httpd -f -p 80 -h /www\n',
      { mode: 0o755 },
    );
    await importImage(root, HTTPD_IMAGE);
    return HTTPD_IMAGE;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** `docker import` of a root file system directory as `tag`, running its /serve.sh (`changes`: more Dockerfile lines, e.g. EXPOSE). */
export async function importImage(root: string, tag: string, changes: string[] = []): Promise<void> {
  const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const imp = spawn('docker', ['import', '--change', 'CMD ["/serve.sh"]', ...changes.flatMap((c) => ['--change', c]), '-', tag], { stdio: ['pipe', 'ignore', 'inherit'] });
  tar.stdout!.pipe(imp.stdin!);
  await new Promise<void>((resolve, reject) => {
    imp.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker import exited with ${code}`))));
    imp.on('error', reject);
  });
}

/** Running containers of a service, on every node. */
export async function runningCopies(service: string): Promise<number> {
  // only this test process's clusters: other tests on the engine may run a service of that name
  let n = 0;
  for (const cluster of await testClusterIds()) {
    const { stdout } = await execFileP('docker', ['ps', '-q', '--filter', `label=warren.service=${service}`, '--filter', `label=warren.cluster=${cluster}`]);
    n += stdout.split('\n').filter(Boolean).length;
  }
  return n;
}

export { removeClusterContainers } from './agents.ts';

/** Service containers of one node (labels warren.node, warren.service), as `docker ps` sees them. */
export async function nodeContainers(nodeId: string, all = false): Promise<string[]> {
  const { stdout } = await execFileP('docker', ['ps', ...(all ? ['-a'] : []), '-q', '--filter', `label=warren.node=${nodeId}`, '--filter', 'label=warren.service']);
  return stdout.split('\n').filter(Boolean);
}

export async function docker(...args: string[]): Promise<string> {
  return (await execFileP('docker', args)).stdout;
}
