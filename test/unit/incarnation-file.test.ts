import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INCARNATION_FILE, nextIncarnation } from '../../src/system/incarnation-file.ts';

test('each start outranks the last: the wall clock when it is past the last start, else one more than it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-inc-'));
  try {
    assert.equal(nextIncarnation(dir, 1_000_000), 1_000_000, 'first start: the clock');
    assert.equal(readFileSync(join(dir, INCARNATION_FILE), 'utf8'), '1000000\n');
    assert.equal(nextIncarnation(dir, 2_000_000.7), 2_000_000, 'clock ahead: the clock (whole ms)');
    assert.equal(nextIncarnation(dir, 5), 2_000_001, 'clock set back (booted at 1970): one above the last');
    assert.equal(nextIncarnation(dir, 2_000_001), 2_000_002, 'clock equal to the last: one above it');
    writeFileSync(join(dir, INCARNATION_FILE), 'garbage\n');
    assert.equal(nextIncarnation(dir, 7), 7, 'an unreadable file: the clock alone');
    writeFileSync(join(dir, INCARNATION_FILE), '-3\n');
    assert.equal(nextIncarnation(dir, 7), 7, 'a negative one is no floor');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
