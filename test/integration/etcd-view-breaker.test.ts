/**
 * A quick view read (health, members, status: 1 s per call) recovers as soon as etcd answers again.
 * Its deadline once was fixed for the whole call, and the client's retry waits 1.05 s for a host
 * whose breaker is open: the retry went out already past its deadline, failed at once, and tripped
 * the breaker of a member that answered fine. Reads every 250 ms then kept the breaker open for
 * good (chaos seed 47: a client-only node "not healthy" for over a minute after an etcd blip).
 * Real agent (one node, 127.81.0.2) and its etcd, SIGSTOPped for 2.5 s to make reads time out.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupAll, etcdClientOf, startAgent } from '../helpers/agents.ts';
import { ClusterStore, VIEW_READ } from '../../src/consensus/cluster-store.ts';
import { waitFor } from '../helpers/wait.ts';

after(cleanupAll);

test('view reads answer again within seconds once a stalled etcd is back', { timeout: 120_000 }, async () => {
  const ip = '127.81.0.2';
  const agent = await startAgent({ bind: ip, args: ['--open'] });
  const client = await etcdClientOf(agent, [`https://${ip}:7372`]);
  const store = new ClusterStore(client);
  const read = () => store.queue(VIEW_READ).then(() => true, () => false);
  try {
    await waitFor('a view read', read, 30_000, 100);
    const etcd = agent.etcdPids();
    assert.ok(etcd.length > 0, 'the agent runs an etcd');
    // reads keep coming while etcd is stopped (each times out and trips the host's breaker)
    let reading = true;
    let failed = 0;
    const reader = (async () => {
      while (reading) {
        if (!(await Promise.race([read(), new Promise<boolean>((r) => setTimeout(() => r(false), 250))]))) failed++;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    for (const pid of etcd) process.kill(pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 2500));
    for (const pid of etcd) process.kill(pid, 'SIGCONT');
    const back = Date.now();
    try {
      assert.ok(failed > 0, 'reads failed while etcd was stopped');
      // the same cadence of reads goes on: one of them must get through
      await waitFor('a view read after etcd is back', read, 8000, 250);
      console.log(`# first good view read ${Date.now() - back} ms after SIGCONT (${failed} failed while stopped)`);
    } finally {
      reading = false;
      await reader;
    }
  } finally {
    client.close();
  }
});
