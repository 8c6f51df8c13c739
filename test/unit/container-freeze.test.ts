import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freezerFile } from '../../src/runtime/container-freeze.ts';

test('freezerFile: the freezer control file of a process, cgroup v1 and v2; none without a cgroup file', async () => {
  const proc = await mkdtemp(join(tmpdir(), 'warren-freeze-'));
  try {
    await mkdir(join(proc, '1'));
    await writeFile(join(proc, '1', 'cgroup'), '12:freezer:/docker/abc\n11:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/docker/abc\n');
    await mkdir(join(proc, '2'));
    await writeFile(join(proc, '2', 'cgroup'), '0::/system.slice/docker-abc.scope\n');
    await mkdir(join(proc, '3'));
    await writeFile(join(proc, '3', 'cgroup'), '5:cpu,cpuacct,freezer:/docker/x\n');
    assert.deepEqual(await freezerFile(1, proc, '/cg'), { path: '/cg/freezer/docker/abc/freezer.state', thaw: 'THAWED' });
    assert.deepEqual(await freezerFile(2, proc, '/cg'), { path: '/cg/system.slice/docker-abc.scope/cgroup.freeze', thaw: '0' });
    assert.deepEqual(await freezerFile(3, proc, '/cg'), { path: '/cg/freezer/docker/x/freezer.state', thaw: 'THAWED' });
    assert.equal(await freezerFile(4, proc, '/cg'), undefined);
  } finally {
    await rm(proc, { recursive: true, force: true });
  }
});
