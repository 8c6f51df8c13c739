/**
 * The founder leads on an etcd client of its own member alone (it does not reconnect for every
 * voter that joins: each reconnect restarts its campaign). When that member stops answering (a
 * full disk, a crash loop, a paused process) while the other voters are fine, the founder must
 * still reach etcd through them: it follows the voters it last read once its reads have failed for
 * a while (src/consensus/etcd-session.ts). Before, it stayed cut off until its member healed (a
 * chaos run: over 60 s), fenced by its quorum probe, which asked the same member alone.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupAll } from '../helpers/agents.ts';
import { startCluster } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { admission } from '../helpers/cluster.ts';

const IPS = ['127.80.0.1', '127.80.0.2', '127.80.0.3'];
const stopped: number[] = [];

after(async () => {
  for (const pid of stopped) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone with its agent
    }
  }
  await cleanupAll();
});

test('a founder whose own etcd member stops answering reaches etcd through the other voters', { timeout: 180_000 }, async () => {
  const { agents } = await startCluster(IPS);
  const founder = agents[0]!;
  const founderId = (await founder.health()).body.node.id;
  // the founder leads (it founded alone and has not reconnected since): the case this is about
  await waitFor('the founder leads', async () => (await admission(founder)).leader === founderId, 30_000, 250);
  const before = founder.log().length;
  const [etcdPid] = founder.etcdPids();
  assert.ok(etcdPid, 'the founder runs an etcd member');
  process.kill(etcdPid, 'SIGSTOP');
  stopped.push(etcdPid);

  // its reads through its client fail (its /v1/health says its member is unhealthy throughout:
  // that is the member's own health, not the client's)
  await waitFor('the founder cannot read etcd while its member is paused', async () => (await admission(founder)).error !== undefined, 30_000, 250);
  const view = await waitFor('the founder reads etcd again through the other voters, its own member still paused', async () => {
    const v = await admission(founder);
    return !v.error && v.voters.length === 3 ? v : undefined;
  }, 90_000, 500);
  assert.notEqual(view.leader, founderId, 'another voter leads now');
  assert.match(founder.log().slice(before), /etcd unreadable through this client: reconnecting to every voter/);
  // its quorum probe runs on its own timer: it sees the others a moment after the admission view does
  // (asserted at once, this failed once: the view read first, the probe's line came after)
  await waitFor('its quorum probe sees the others too: unfenced', () => /etcd quorum reachable again/.test(founder.log().slice(before)) || undefined, 15_000, 250);
  process.kill(etcdPid, 'SIGCONT');
  stopped.pop();
  // the two others never lost the cluster
  for (const a of agents.slice(1)) assert.equal((await a.health()).status, 200, `${a.bind} healthy`);
});
