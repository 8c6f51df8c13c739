import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { Catalog } from '../../src/runtime/catalog.ts';
import { KEYS } from '../../src/consensus/cluster-store.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * src/runtime/catalog.ts: the periodic check reads everything again only when etcd's revision
 * moved, and still catches a change its watch missed. A plain etcd on 127.71.0.90 (helper
 * "footprint"'s range), the check every 200 ms instead of 5 s.
 */
test('catalog: idle, the periodic check reads nothing again; a change its watch missed is still caught', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'footprint-catalog-'));
  const url = 'http://127.71.0.90:23790';
  const etcd = spawn('/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', '/usr/bin/etcd', '--name', 'footprint', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', 'http://127.71.0.90:23800',
    '--initial-advertise-peer-urls', 'http://127.71.0.90:23800', '--initial-cluster', 'footprint=http://127.71.0.90:23800'], { stdio: 'ignore' });
  const client = new Etcd3({ hosts: url });
  const catalog = new Catalog(pino({ level: 'silent' }), 200);
  try {
    await waitFor('etcd answering', async () => (await client.get('x').exec().then(() => true, () => false)), 20_000, 100);
    let full = 0;
    const reload = catalog.reload.bind(catalog);
    catalog.reload = (gen?: number) => ((full += 1), reload(gen));
    let changes = 0;
    catalog.on('change', () => changes++);
    await catalog.attach(client);
    assert.equal(catalog.ready, true);
    const idle = async (what: string) => {
      const [f, c] = [full, changes];
      await new Promise((r) => setTimeout(r, 1500)); // 7 checks' worth of nothing happening
      assert.equal(full, f, `${what}: no full read while nothing changed`);
      assert.equal(changes, c, `${what}: no 'change' either`);
    };
    await idle('after the first read');

    await client.put(KEYS.servicePrefix + 'a').value(JSON.stringify({ name: 'a' }));
    await waitFor('the watch brought a', () => catalog.maps.services.has('a'), 5000, 20);
    const f = full;
    await waitFor('a full read after the revision moved', () => full > f, 5000, 20);
    // a read already under way when the put landed may have seen the older revision: one more then
    let seen = -1;
    await waitFor('full reads settled (none over 3 checks)', () => {
      const settled = full === seen;
      seen = full;
      return settled;
    }, 5000, 600);
    assert.ok(full - f <= 2, `${full - f} full reads for one change`);
    await idle('after that read');

    // a watch that misses a change (as while etcd reconfigures): the check still brings it
    await (catalog as unknown as { watcher: { cancel(): Promise<void> } }).watcher.cancel();
    await client.put(KEYS.servicePrefix + 'b').value(JSON.stringify({ name: 'b' }));
    await waitFor('the check brought b', () => catalog.maps.services.has('b'), 5000, 20);
  } finally {
    catalog.stop();
    client.close();
    etcd.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
