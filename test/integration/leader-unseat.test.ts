/**
 * A Warren leader that gossip declares dead loses its seat at once, not when its lease expires
 * (core/leader-unseat.ts). The agents campaign with a 60 s lease here
 * (WARREN_TEST_LEADER_LEASE_S): after kill -9 of the leader, a survivor leads long before that
 * lease could run out, and says why. (With the default 3 s lease the gain is the ~3 s etcd adds
 * when the dead leader was also etcd's: `npm run bench -- failover` and the README.)
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ELECTION_PREFIX } from '../../src/consensus/cluster-store.ts';
import { cleanupAll, etcdClientOf } from '../helpers/agents.ts';
import { removeClusterContainers } from '../helpers/images.ts';
import { startCluster } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.0.27.1', '127.0.27.2', '127.0.27.3'];
const ELECTION = ELECTION_PREFIX;
const LEASE_S = 60;

after(async () => {
  await cleanupAll();
  await removeClusterContainers();
});

test('kill -9 of the leader: a survivor leads within seconds, though the dead leader\'s lease has a minute to run', { timeout: 180_000 }, async () => {
  const { agents, ids } = await startCluster(IPS, [], () => ({ WARREN_TEST_LEADER_LEASE_S: String(LEASE_S) }));
  const client = await etcdClientOf(agents[0]!, IPS.map((ip) => `https://${ip}:7372`));
  try {
    const leaderOf = async () => (await client.getAll().prefix(ELECTION).sort('Create', 'Ascend').limit(1).exec()).kvs[0];
    const first = await waitFor('a leader', leaderOf, 30_000, 100);
    const leaderId = first.value.toString();
    const leader = agents[ids.indexOf(leaderId)]!;
    assert.ok(leader, `the leader ${leaderId} is one of the agents`);
    const survivors = agents.filter((a) => a !== leader);
    const killedAt = performance.now();
    await leader.stop('SIGKILL', 5000);

    const next = await waitFor('a survivor elected', async () => {
      const kv = await leaderOf().catch(() => undefined);
      return kv && kv.value.toString() !== leaderId ? kv : undefined;
    }, 30_000, 100);
    const tookS = (performance.now() - killedAt) / 1000;
    assert.ok(survivors.some((a) => ids[agents.indexOf(a)] === next.value.toString()), 'a survivor leads');
    assert.ok(tookS < LEASE_S / 2, `elected ${tookS.toFixed(1)} s after the kill, with the dead leader's lease still running`);
    const said = survivors.filter((a) => /removed the election key of a leader gossip declared dead/.test(a.log()));
    assert.ok(said.length >= 1, 'a survivor removed the dead leader\'s key');
    const elected = survivors.find((a) => ids[agents.indexOf(a)] === next.value.toString())!;
    await waitFor('the new leader says so', () => /elected leader/.test(elected.log()) || undefined, 10_000, 100);
  } finally {
    client.close();
  }
});
