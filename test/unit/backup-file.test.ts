import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decryptBackup, encryptBackup, packBundle, unpackBundle } from '../../src/system/backup-file.ts';

const manifest = { format: 1 as const, clusterId: 'cluster-c1', createdAt: 1, warrenVersion: '0.2.0', caPem: '-----BEGIN CERTIFICATE-----\nX\n', caKeyPem: '-----BEGIN PRIVATE KEY-----\nSECRET\n' };

test('a bundle packs the manifest and the snapshot, and checks the snapshot on unpacking', () => {
  const snap = randomBytes(5000);
  const b = packBundle(manifest, snap);
  const { manifest: m, snapshot } = unpackBundle(b);
  assert.deepEqual(snapshot, snap);
  assert.equal(m.clusterId, 'cluster-c1');
  assert.equal(m.snapshotBytes, 5000);
  const cut = b.subarray(0, b.length - 1);
  assert.throws(() => unpackBundle(cut), /damaged: the snapshot does not match its checksum/);
  const flipped = Buffer.from(b);
  flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
  assert.throws(() => unpackBundle(flipped), /checksum/);
  assert.throws(() => unpackBundle(Buffer.from([0, 0])), /too short/);
});

test('encryption: the right passphrase gives the bundle back; nothing readable in the file', async () => {
  const bundle = packBundle(manifest, randomBytes(1000));
  const file = await encryptBackup(bundle, 'correct horse battery');
  assert.ok(file.subarray(0, 16).toString() === 'warren-backup 1\n');
  assert.equal(file.includes('SECRET'), false);
  // a marker long enough that random ciphertext never holds it (two bytes did, once in ~60 runs)
  assert.equal(file.includes('cluster-c1'), false);
  assert.deepEqual(await decryptBackup(file, 'correct horse battery'), bundle);
  // two encryptions of one bundle differ (fresh salt and IV)
  assert.notDeepEqual(await encryptBackup(bundle, 'correct horse battery'), file);
});

test('a wrong passphrase, a changed byte anywhere, or another file is refused with one line', async () => {
  const file = await encryptBackup(packBundle(manifest, randomBytes(100)), 'correct horse battery');
  await assert.rejects(decryptBackup(file, 'wrong horse battery'), /^UserError: wrong passphrase, or the backup file was changed or damaged$/);
  for (const at of [20, file.indexOf(0x0a, 16) + 5, file.length - 3]) {
    const changed = Buffer.from(file);
    changed[at] = changed[at]! ^ 0x01;
    await assert.rejects(decryptBackup(changed, 'correct horse battery'), /wrong passphrase|damaged/, `byte ${at}`);
  }
  await assert.rejects(decryptBackup(Buffer.from('hello'), 'correct horse battery'), /not a Warren backup file/);
  await assert.rejects(encryptBackup(Buffer.from('x'), 'short'), /at least 8 characters/);
});
