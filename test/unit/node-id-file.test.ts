import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateIdentity, readNodeId } from '../../src/system/identity.ts';
import { exitedCleanly } from '../../src/cli/fence-command.ts';

test('readNodeId: the id a data dir holds, none for an empty dir (never creating one), one clear error for a damaged file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warren-node-id-'));
  try {
    assert.equal(await readNodeId(dir), undefined);
    assert.equal(await readNodeId(dir), undefined, 'reading created nothing');
    const made = await loadOrCreateIdentity(dir);
    assert.equal(await readNodeId(dir), made.id);
    for (const text of ['not json', '{"version":1}', '{"id":""}', 'null']) {
      await writeFile(join(dir, 'identity.json'), text);
      await assert.rejects(readNodeId(dir), (err: Error) => /identity .* is damaged/.test(err.message), text);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('exitedCleanly: only systemd\'s "exited" with status 0 is a clean stop', () => {
  assert.equal(exitedCleanly({ EXIT_CODE: 'exited', EXIT_STATUS: '0' }), true);
  for (const env of [{}, { EXIT_CODE: 'exited', EXIT_STATUS: '1' }, { EXIT_CODE: 'killed', EXIT_STATUS: 'KILL' }, { EXIT_CODE: 'dumped', EXIT_STATUS: 'SEGV' }, { EXIT_STATUS: '0' }]) {
    assert.equal(exitedCleanly(env), false, JSON.stringify(env));
  }
});
