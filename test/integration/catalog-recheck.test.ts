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
/** A plain single-member etcd on `ip` and a client of it. */
async function plainEtcd(ip: string): Promise<{ client: Etcd3; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'footprint-catalog-'));
  const url = `http://${ip}:23790`;
  const peer = `http://${ip}:23800`;
  const etcd = spawn('/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', '/usr/bin/etcd', '--name', 'footprint', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer, '--initial-cluster', `footprint=${peer}`], { stdio: 'ignore' });
  const client = new Etcd3({ hosts: url });
  const close = async () => {
    client.close();
    etcd.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('etcd answering', async () => (await client.get('x').exec().then(() => true, () => false)), 20_000, 100);
  } catch (err) {
    await close();
    throw err;
  }
  return { client, close };
}

/**
 * Holds back the answers of `client`'s full reads (getAll) until `release`, as when one of the
 * catalog's reads waits on a slow member; `restore` gives the client its own getAll back.
 */
function holdAnswers(client: Etcd3): { release: () => void; restore: () => void } {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const getAll = client.getAll.bind(client);
  client.getAll = () => {
    const builder = getAll();
    const exec = builder.exec.bind(builder);
    builder.exec = async () => {
      const res = await exec();
      await held;
      return res;
    };
    return builder;
  };
  return { release, restore: () => void (client.getAll = getAll) };
}

test('catalog: idle, the periodic check reads nothing again; a change its watch missed is still caught', { timeout: 60_000 }, async () => {
  const { client, close } = await plainEtcd('127.71.0.90');
  const catalog = new Catalog(pino({ level: 'silent' }), 200);
  try {
    let full = 0;
    const reload = catalog.reload.bind(catalog);
    catalog.reload = (gen?: number) => ((full += 1), reload(gen));
    let changes = 0;
    const maps: (string | undefined)[] = [];
    catalog.on('change', (map?: string) => (changes++, maps.push(map)));
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
    // a watched change names its map (the device check runs on service changes only)
    assert.ok(maps.includes('services'), JSON.stringify(maps));
    assert.ok(!maps.includes('statuses'), JSON.stringify(maps));
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
    await client.put(KEYS.statusPrefix + 'a/r1').value(JSON.stringify({ state: 'running' }));
    await waitFor('the watch brought a status, naming its map', () => maps.includes('statuses'), 5000, 20);

    // a watch that misses a change (as while etcd reconfigures): the check still brings it
    await (catalog as unknown as { watcher: { cancel(): Promise<void> } }).watcher.cancel();
    await client.put(KEYS.servicePrefix + 'b').value(JSON.stringify({ name: 'b' }));
    await waitFor('the check brought b', () => catalog.maps.services.has('b'), 5000, 20);
  } finally {
    catalog.stop();
    await close();
  }
});

test('catalog: a full read answered before a change the watch brought meanwhile does not put the older state back', { timeout: 60_000 }, async () => {
  const { client, close } = await plainEtcd('127.71.0.91');
  const catalog = new Catalog(pino({ level: 'silent' }), 60_000);
  try {
    const key = (name: string) => KEYS.servicePrefix + name;
    await client.put(key('moved')).value(JSON.stringify({ name: 'moved', owner: 'old' }));
    await client.put(key('gone')).value(JSON.stringify({ name: 'gone' }));
    await catalog.attach(client);
    assert.equal((catalog.maps.services.get('moved')?.value as unknown as { owner: string }).owner, 'old');

    // a full read whose answers are held back, as when one of its 9 reads waits on a slow member
    const reads = holdAnswers(client);
    let answered = 0;
    const reading = catalog.reload().then(() => answered++);
    // after it read: one value changes, one goes, one is new; the watch brings all three
    await new Promise((r) => setTimeout(r, 300));
    await client.put(key('moved')).value(JSON.stringify({ name: 'moved', owner: 'new' }));
    await client.delete().key(key('gone'));
    await client.put(key('added')).value(JSON.stringify({ name: 'added' }));
    await waitFor('the watch brought the changes', () => catalog.maps.services.has('added') && !catalog.maps.services.has('gone'), 5000, 20);
    reads.release();
    await reading;
    assert.equal(answered, 1);
    assert.equal((catalog.maps.services.get('moved')?.value as unknown as { owner: string }).owner, 'new', 'the newer value stays');
    assert.equal(catalog.maps.services.has('gone'), false, 'a deleted key does not come back');
    assert.equal(catalog.maps.services.has('added'), true, 'a key added meanwhile stays');

    // and a read made after all of it is taken whole
    reads.restore();
    await client.delete().key(key('added'));
    await waitFor('the watch took added away', () => !catalog.maps.services.has('added'), 5000, 20);
    await catalog.reload();
    assert.deepEqual([...catalog.maps.services.keys()].sort(), ['moved']);
  } finally {
    catalog.stop();
    await close();
  }
});

test('catalog: a client handed over to the same cluster keeps the catalog ready while it reads again; a new cluster\'s client does not', { timeout: 60_000 }, async () => {
  const { client, close } = await plainEtcd('127.71.0.92');
  const url = 'http://127.71.0.92:23790';
  const successor = new Etcd3({ hosts: url });
  const other = new Etcd3({ hosts: url });
  const catalog = new Catalog(pino({ level: 'silent' }), 60_000);
  try {
    await client.put(KEYS.servicePrefix + 'a').value(JSON.stringify({ name: 'a' }));
    await catalog.attach(client);
    assert.equal(catalog.ready, true);
    const loadedAt = catalog.loadedAt;
    // the successor's first read is held back: the catalog must stay ready meanwhile
    const reads = holdAnswers(successor);
    const attaching = catalog.attach(successor, true);
    assert.equal(catalog.ready, true, 'ready while the successor reads');
    assert.equal(catalog.loadedAt, loadedAt);
    assert.ok(catalog.maps.services.has('a'), 'what was read stays');
    client.close(); // the old client goes: the catalog uses the successor from here on
    await successor.put(KEYS.servicePrefix + 'b').value(JSON.stringify({ name: 'b' }));
    await waitFor('the successor\'s watch brought b', () => catalog.maps.services.has('b'), 5000, 20);
    reads.release();
    await attaching;
    assert.ok(catalog.loadedAt > loadedAt, 'read again through the successor');

    // any other new client (a re-admission, a rebuilt cluster) is read before the catalog is ready
    reads.restore();
    const reading = catalog.attach(other);
    assert.equal(catalog.ready, false, 'not ready until the new client was read');
    await reading;
    assert.equal(catalog.ready, true);
  } finally {
    catalog.stop();
    successor.close();
    other.close();
    await close();
  }
});
