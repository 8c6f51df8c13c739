import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDevices, DeviceWatch, hasDevice } from '../../src/runtime/device-watch.ts';
import type { ServiceSpec } from '../../src/core/service-types.ts';

const withDevices = (...hosts: string[]) => ({ options: { devices: hosts.map((host) => ({ host, container: host, permissions: 'rwm' })) } }) as Pick<ServiceSpec, 'options'>;

test('hasDevice: a device node, a directory of them or a link to one; not a file, not nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'device-watch-'));
  try {
    writeFileSync(join(dir, 'file'), 'x');
    mkdirSync(join(dir, 'dri'));
    symlinkSync('/dev/null', join(dir, 'by-id'));
    symlinkSync(join(dir, 'gone'), join(dir, 'dangling'));
    assert.equal(hasDevice('/dev/null'), true);
    assert.equal(hasDevice(join(dir, 'dri')), true);
    assert.equal(hasDevice(join(dir, 'by-id')), true);
    assert.equal(hasDevice(join(dir, 'file')), false);
    assert.equal(hasDevice(join(dir, 'dangling')), false);
    assert.equal(hasDevice(join(dir, 'none')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkDevices: every device any service asks for, once, sorted', () => {
  const has = (p: string) => p === '/dev/ttyUSB0';
  assert.deepEqual(checkDevices([withDevices('/dev/ttyUSB0', '/dev/dri'), { options: {} }, {}, withDevices('/dev/ttyUSB0')], has), { '/dev/dri': false, '/dev/ttyUSB0': true });
  assert.deepEqual(Object.keys(checkDevices([withDevices('/dev/b', '/dev/a')], has)), ['/dev/a', '/dev/b']);
  assert.deepEqual(checkDevices([], has), {});
});

test('DeviceWatch: writes only a changed answer, never an older one after a newer, and again after a new client', async () => {
  let services: Pick<ServiceSpec, 'options'>[] = [withDevices('/dev/null')];
  const written: Record<string, boolean>[] = [];
  let fail = false;
  let gate: Promise<void> | undefined;
  const watch = new DeviceWatch({
    services: () => services as ServiceSpec[],
    ready: () => true,
    publish: async (d) => {
      await gate;
      if (fail) return false;
      written.push(d);
      return true;
    },
    intervalMs: 60_000,
  });
  await watch.check();
  await watch.check();
  assert.deepEqual(written, [{ '/dev/null': true }], 'an unchanged answer is not written again');
  assert.equal(watch.published, true);

  // a check while one is writing: the newer answer is written after it, never before
  let open!: () => void;
  gate = new Promise((r) => (open = r));
  services = [withDevices('/dev/null', '/nonexistent/dev')];
  const first = watch.check();
  services = [withDevices('/nonexistent/dev')];
  const second = watch.check();
  open();
  await Promise.all([first, second]);
  gate = undefined;
  assert.deepEqual(written.at(-1), { '/nonexistent/dev': false });

  // a failed write is tried again at the next check; a new client writes afresh
  fail = true;
  services = [];
  await watch.check();
  fail = false;
  await watch.check();
  assert.deepEqual(written.at(-1), {});
  const count = written.length;
  watch.forget();
  assert.equal(watch.published, false);
  await watch.check();
  assert.equal(written.length, count + 1);
});
