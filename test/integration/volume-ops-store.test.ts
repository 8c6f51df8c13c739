/**
 * Restore, clone, export → import (src/runtime/volume-ops.ts) on a real store and real files, as
 * root (owners, ACLs): random trees of every file kind come back byte- and metadata-equal, round
 * after round; a restore keeps the data it replaces as `before` and makes the restored data the
 * newest of the lineage. The cluster around it is maps (test/helpers/volume-ops-fake.ts); the
 * agents' side is test/integration/volumes-ops.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { VolumeStore } from '../../src/volumes/volume-store.ts';
import { prng } from '../helpers/prng.ts';
import { describeTree, randomTree, sameTree } from '../helpers/trees.ts';
import { opsOnStore } from '../helpers/volume-ops-fake.ts';

describe('volume ops on a store (restore, clone, export/import)', () => {
  let dir: string;
  let store: VolumeStore;
  let n = 0;
  const fresh = () => {
    const d = join(dir, `t${n++}`);
    mkdirSync(d);
    return d;
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'volops-store-'));
    store = new VolumeStore(join(dir, 'volume-store'));
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('export → import and clone give random trees of every kind back equal, round after round', async () => {
    const { ops, own, liveDir } = opsOnStore(store, dir);
    for (let seed = 1; seed <= 6; seed++) {
      const src = fresh();
      randomTree(src, prng(seed), 50);
      const want = describeTree(src);
      own(`src${seed}`);
      const rec = await store.snapshot(`src${seed}`, src, { epoch: 1 });
      const exported = ops.exportTar(`src${seed}`, undefined);
      assert.equal(exported.snapshot, rec.id);
      const tarBytes = await buffer(exported.body);
      const imported = await ops.importTar(`imp${seed}`, Readable.from([tarBytes]), tarBytes.length);
      assert.equal(imported.volume, `imp${seed}`);
      assert.equal(sameTree(want, describeTree(liveDir(`imp${seed}`))), undefined, `seed ${seed}: import`);
      // the imported snapshot exports to the same tar again
      assert.ok((await buffer(ops.exportTar(`imp${seed}`, imported.snapshot).body)).equals(tarBytes), `seed ${seed}: export of the import`);
      const cloned = await ops.clone(`src${seed}`, rec.id, `cl${seed}`);
      assert.deepEqual({ volume: cloned.volume, from: cloned.from, snapshot: cloned.snapshot }, { volume: `cl${seed}`, from: `src${seed}`, snapshot: rec.id });
      assert.equal(sameTree(want, describeTree(liveDir(`cl${seed}`))), undefined, `seed ${seed}: clone`);
    }
  });

  it('a restore of a live copy brings the snapshot back, keeps the data it replaced as before, and is the newest of the lineage', async () => {
    const { ops, own, liveDir, events, volumeCopies, driver } = opsOnStore(store, dir);
    own('vol');
    const live = liveDir('vol');
    mkdirSync(live, { recursive: true });
    randomTree(live, prng(41), 40);
    const a = describeTree(live);
    const s1 = await store.snapshot('vol', live, { epoch: 1 });
    randomTree(live, prng(42), 20);
    writeFileSync(join(live, 'later'), 'written after s1');
    const b = describeTree(live); // not snapshotted: only the restore's `before` holds it
    const r = await ops.restore('vol', s1.id);
    assert.equal(r.restored, s1.id);
    assert.equal(sameTree(a, describeTree(live)), undefined, 'the live copy holds s1 again');
    const list = store.list('vol');
    const before = list.find((x) => x.id === r.before)!;
    const restored = list.find((x) => x.id === r.snapshot)!;
    assert.ok(before.seq > s1.seq && restored.seq > before.seq, 'before, then the restored data, after s1 in the lineage');
    assert.ok(before.keepUntil! > Date.now() + 6 * 86_400_000, 'retention keeps before for a week');
    const check = fresh();
    await store.restore('vol', before.id, join(check, 't'));
    assert.equal(sameTree(b, describeTree(join(check, 't'))), undefined, 'before holds the data the restore replaced');
    assert.equal(volumeCopies.get('vol/self')?.value.snapshot, restored.id, 'the copy record is the restored snapshot');
    assert.deepEqual(events.filter((e) => e.name === 'volume.restored').map((e) => e.payload), [{ volume: 'vol', service: null, snapshot: s1.id, before: before.id, restored: restored.id, node: 'self' }]);
    assert.equal(driver.holds.size, 0);
    assert.equal(driver.lock.size, 0);
    // an unknown snapshot: 404, nothing changed
    await assert.rejects(ops.restore('vol', '999999-00000000'), (err: { status: number }) => err.status === 404);
    assert.equal(store.list('vol').length, list.length);
  });

  it('a volume no service owns: the restore re-points its lineage and its copy follows', async () => {
    const { ops, own, liveDir } = opsOnStore(store, dir);
    const src = fresh();
    writeFileSync(join(src, 'f'), 'first');
    own('seed');
    await store.snapshot('seed', src, { epoch: 1 });
    const t1 = Readable.from([await buffer(ops.exportTar('seed', undefined).body)]);
    const imported = await ops.importTar('loose', t1);
    const other = fresh();
    writeFileSync(join(other, 'f'), 'second');
    const s2 = await store.snapshot('loose', other, { epoch: 1 });
    const r = await ops.restore('loose', imported.snapshot);
    assert.equal(r.restored, imported.snapshot);
    assert.equal(describeTree(liveDir('loose')).f!.sha256, describeTree(src).f!.sha256, 'its copy holds the restored data');
    const list = store.list('loose');
    assert.ok(list.find((x) => x.id === r.snapshot)!.seq > s2.seq);
    const check = fresh();
    await store.restore('loose', r.before, join(check, 't'));
    assert.equal(describeTree(join(check, 't')).f!.sha256, describeTree(other).f!.sha256, 'before holds the newest data it had');
  });
});
