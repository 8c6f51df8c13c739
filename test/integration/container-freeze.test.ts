/**
 * The snapshot freeze against a Docker deadlock (src/runtime/container-freeze.ts): a `docker exec`
 * whose `runc init` lands in a container as it is being paused wedges containerd's shim, and
 * `docker unpause` then never answers (seen on this machine: the app stayed frozen for good). That
 * race is milliseconds wide, so the wedge is stood in for by an unpause that never answers; the
 * pause, the container and its freezer cgroup are real.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import Docker from 'dockerode';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { freeze, freezerFile, thaw } from '../../src/runtime/container-freeze.ts';

const NAME = `warren-test-freeze-${process.pid}`;

after(async () => {
  await docker('unpause', NAME).catch(() => undefined);
  await docker('rm', '-f', NAME).catch(() => undefined);
});

test('a container Docker does not unpause in time is thawed through its freezer cgroup', { timeout: 60_000 }, async () => {
  await ensureHttpdImage();
  const id = (await docker('run', '-d', '--name', NAME, '--label', 'warren.test=freeze', HTTPD_IMAGE)).trim();
  const api = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
  // a Docker that answers is simply asked
  const first = await freeze(api, [id]);
  assert.equal(first.length, 1);
  assert.equal((await docker('inspect', '-f', '{{.State.Paused}}', id)).trim(), 'true');
  const none: string[] = [];
  await thaw(api, first, (_c, how) => none.push(how));
  assert.deepEqual(none, []);
  assert.equal((await docker('inspect', '-f', '{{.State.Paused}}', id)).trim(), 'false');

  const frozen = await freeze(api, [id]);
  const file = await freezerFile(frozen[0]!.pid);
  assert.ok(file, 'the container has a freezer cgroup');
  const state = async () => (await readFile(file.path, 'utf8')).trim();
  assert.ok(['FROZEN', '1'].includes(await state()), `frozen by docker pause (${await state()})`);
  // Docker wedged: its unpause never answers (the real wedge's lands once the exec finishes)
  const wedged = { getContainer: (cid: string) => ({ ...api.getContainer(cid), unpause: () => new Promise(() => undefined) }) } as unknown as Docker;
  const forced: string[] = [];
  const t0 = Date.now();
  await thaw(wedged, frozen, (_c, how) => forced.push(how));
  assert.ok(Date.now() - t0 < 15_000, 'bounded');
  assert.deepEqual(forced, [`thawed through ${file.path}`]);
  assert.ok(['THAWED', '0'].includes(await state()), `thawed (${await state()})`);
});
