/**
 * A leader deposed while cut off (its lease expired on the majority's side) learns of it only when
 * a keep-alive fails; meanwhile its scheduler must not write. Seen after a partition healed: the
 * old leader, still seeing the majority's nodes as dead, moved a replica back to itself. Deleting
 * the election key stands in for the lease expiring: the agent's lease lives on, so nothing but
 * the fence on its writes can tell it that it no longer leads.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ELECTION_PREFIX } from '../../src/consensus/cluster-store.ts';
import { cleanupAll, etcdClientOf } from '../helpers/agents.ts';
import { ensureHttpdImage, removeClusterContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { postService, startCluster, waitServing } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const IP = '127.0.25.2';
const ELECTION = ELECTION_PREFIX;

before(async () => {
  await ensureHttpdImage();
});

after(async () => {
  await cleanupAll();
  await removeClusterContainers();
});

test('a leader whose election key is gone schedules nothing until it is elected again', { timeout: 120_000 }, async () => {
  const { agents } = await startCluster([IP]);
  const a = agents[0]!;
  const client = await etcdClientOf(a, [`https://${IP}:7372`]);
  try {
    const keys = await waitFor('the agent holds the election key', async () => {
      const held = await client.getAll().prefix(ELECTION).keys();
      return held.length === 1 ? held : undefined;
    }, 30_000, 100);
    const deleted = await client.delete().key(keys[0]!);
    const deletedAt = Number(deleted.header.revision);

    const created = await postService(a, { name: 'fenced', image: HTTPD_IMAGE, ports: ['80'], replicas: 1 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitServing(a, 'fenced', 1, 60_000);

    const [election] = (await client.getAll().prefix(ELECTION).exec()).kvs;
    assert.ok(election, 'the agent campaigned again');
    assert.notEqual(election.key.toString(), keys[0], 'under a new lease');
    const assignment = (await client.get('/warren/assignments/fenced').exec()).kvs[0];
    assert.ok(assignment, 'the service is assigned');
    const electedAt = Number(election.create_revision);
    // every write to the assignment came after the new election: none while no key existed
    assert.ok(electedAt > deletedAt, `re-elected after the deletion (${electedAt} > ${deletedAt})`);
    assert.ok(Number(assignment.create_revision) > electedAt, `assigned only once elected again (${assignment.create_revision} > ${electedAt})`);
    assert.match(a.log(), /leader campaign failed; campaigning again.*election key is gone|election key is gone.*leader campaign failed/);
  } finally {
    client.close();
  }
});
