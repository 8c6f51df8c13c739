import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FINAL_STOP_MAX_AGE_MS, parseFinalStopMarker, stopModeFor } from '../../src/core/membership/final-stop.ts';
import { readFinalStopMarker, writeFinalStopMarker } from '../../src/system/final-stop-file.ts';

const execFileP = promisify(execFile);

test('final stop: a marker written during this run, recently, makes the stop a leave', () => {
  const started = 1_000_000;
  assert.equal(stopModeFor({ at: started + 5000 }, started, started + 6000), 'leave');
  assert.equal(stopModeFor({ at: started }, started, started), 'leave', 'written the instant it started');
  assert.equal(stopModeFor({ at: started + 10 }, started, started + 10 + FINAL_STOP_MAX_AGE_MS), 'leave', 'at the age limit');
});

test('final stop: no marker, a stale one or a bogus one keep the stop a restart', () => {
  const started = 1_000_000;
  assert.equal(stopModeFor(undefined, started, started + 1000), 'restart');
  assert.equal(stopModeFor({ at: started - 1 }, started, started + 1000), 'restart', 'left over from before this run');
  assert.equal(stopModeFor({ at: started + 10 }, started, started + 11 + FINAL_STOP_MAX_AGE_MS), 'restart', 'too old');
  assert.equal(stopModeFor({ at: started + 5000 }, started, started + 1000), 'restart', 'from the future');
});

test('final stop: the marker file parses only as { at: finite number }', () => {
  assert.deepEqual(parseFinalStopMarker('{"at":12}\n'), { at: 12 });
  for (const bad of [undefined, '', 'x', '{}', '{"at":"12"}', '{"at":null}', 'null', '[]', '{"at":1e999}']) {
    assert.equal(parseFinalStopMarker(bad), undefined, JSON.stringify(bad));
  }
});

test('final stop: the marker written to a data dir is read back; a missing one reads as none', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'footprint-final-stop-'));
  try {
    assert.equal(await readFinalStopMarker(dir), undefined);
    await writeFinalStopMarker(dir, 4242);
    assert.deepEqual(await readFinalStopMarker(dir), { at: 4242 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * The package's prerm, run by sh with systemctl and warren replaced by stubs that log their
 * arguments, and its systemd check pointed at a directory of the test's.
 */
async function runPrerm(arg: string, opts: { systemd: boolean; active: boolean }): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'footprint-prerm-'));
  try {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const log = join(dir, 'calls');
    await writeFile(log, '');
    const stub = (name: string, extra = '') => `#!/bin/sh\necho "${name} $*" >> ${log}\n${extra}exit 0\n`;
    await writeFile(join(bin, 'systemctl'), stub('systemctl', `[ "$1" = is-active ] && exit ${opts.active ? 0 : 3}\n`));
    await writeFile(join(bin, 'warren'), stub('warren'));
    for (const f of ['systemctl', 'warren']) await chmod(join(bin, f), 0o755);
    const sysd = join(dir, 'systemd');
    if (opts.systemd) await mkdir(sysd);
    const script = (await readFile(new URL('../../packaging/prerm', import.meta.url), 'utf8'))
      .replaceAll('/run/systemd/system', sysd)
      .replaceAll('/usr/bin/warren', join(bin, 'warren'));
    assert.notEqual(script, await readFile(new URL('../../packaging/prerm', import.meta.url), 'utf8'), 'the paths were found in the script');
    await writeFile(join(dir, 'prerm'), script);
    await execFileP('sh', [join(dir, 'prerm'), arg], { env: { PATH: `${bin}:/usr/bin:/bin` } });
    return (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('prerm remove: the running agent is told its stop is final before systemd stops it', async () => {
  assert.deepEqual(await runPrerm('remove', { systemd: true, active: true }), [
    'systemctl is-active --quiet warren.service',
    'warren leave --at-stop --data-dir /var/lib/warren',
    'systemctl stop warren.service',
    'systemctl disable warren.service',
  ]);
});

test('prerm remove of a stopped agent: nothing to tell, the unit is still stopped and disabled', async () => {
  assert.deepEqual(await runPrerm('remove', { systemd: true, active: false }), [
    'systemctl is-active --quiet warren.service',
    'systemctl stop warren.service',
    'systemctl disable warren.service',
  ]);
});

test('prerm upgrade (and the other calls): no leave, no stop: an upgrade is a restart', async () => {
  for (const arg of ['upgrade', 'deconfigure', 'failed-upgrade']) {
    assert.deepEqual(await runPrerm(arg, { systemd: true, active: true }), [], arg);
  }
});
