import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { meshAddrsText, readMeshAddrs, writeMeshAddrs, type MeshAddrs } from '../../src/routing/mesh-addrs-file.ts';
import { allocateNameAddrs } from '../../src/core/mesh/name-addrs.ts';

test('the stack services\' addresses go to the data dir and come back as they were; a missing or broken file gives none', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-mesh-addrs-'));
  const file = join(dir, 'mesh-addrs.json');
  try {
    assert.deepEqual(readMeshAddrs(file), new Map(), 'no file yet');
    const addrs: MeshAddrs = new Map([['web', new Map([['web-db', '172.18.255.253'], ['web-app', '172.18.255.254']])], ['blog', new Map([['blog-wp', '172.19.255.254']])]]);
    const text = meshAddrsText(addrs);
    assert.equal(text, '{"blog":{"blog-wp":"172.19.255.254"},"web":{"web-app":"172.18.255.254","web-db":"172.18.255.253"}}\n', 'sorted: the same allocation gives the same text');
    await writeMeshAddrs(file, text);
    assert.deepEqual(readMeshAddrs(file), addrs);
    assert.equal(readFileSync(file, 'utf8'), text);
    writeFileSync(file, '{"web":{"web-app":7,"web-db":"172.18.255.253"},"x":[1],"y":null}');
    assert.deepEqual(readMeshAddrs(file), new Map([['web', new Map([['web-db', '172.18.255.253']])]]), 'what is not an address is dropped');
    for (const junk of ['not json', '[]', 'null', '']) {
      writeFileSync(file, junk);
      assert.deepEqual(readMeshAddrs(file), new Map(), junk);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kept addresses survive a service added since that sorts first; given afresh, every address would shift', () => {
  const pool = ['10.0.0.254', '10.0.0.253', '10.0.0.252'];
  const before = allocateNameAddrs(new Map(), ['s-b', 's-c'], pool);
  const after = allocateNameAddrs(before, ['s-a', 's-b', 's-c'], pool);
  assert.equal(after.get('s-b'), before.get('s-b'));
  assert.equal(after.get('s-c'), before.get('s-c'));
  const afresh = allocateNameAddrs(new Map(), ['s-a', 's-b', 's-c'], pool);
  assert.notEqual(afresh.get('s-b'), before.get('s-b'), 'why the file exists');
});
