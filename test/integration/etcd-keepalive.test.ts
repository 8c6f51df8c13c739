/**
 * A stream to an etcd member that stops answering (a partition that drops packets, a frozen
 * machine) must fail, so etcd3 opens it again elsewhere: without gRPC keep-alive pings it hung
 * for good, and an election waiting on such a watch left a majority without a leader until the
 * partition healed (seen in volumes-split.test.ts). SIGSTOP of the member stands in for the
 * dropped packets: its TCP connections stay open and nothing answers on them.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Watcher } from 'etcd3';
import { cleanupAll, etcdClientOf, startAgent } from '../helpers/agents.ts';
import { waitFor } from '../helpers/wait.ts';

const IP = '127.0.19.2';
let stopped: number[] = [];

after(async () => {
  for (const pid of stopped) process.kill(pid, 'SIGCONT');
  await cleanupAll();
});

test('a watch on a member that stops answering is dropped within seconds, and resumes when it answers again', { timeout: 90_000 }, async () => {
  const agent = await startAgent({ bind: IP });
  const client = await etcdClientOf(agent, [`https://${IP}:7372`]);
  let watcher: Watcher | undefined;
  try {
    watcher = await client.watch().prefix('keepalive-test/').create();
    let dropped = 0;
    const seen: string[] = [];
    watcher.on('disconnected', () => dropped++).on('put', (kv) => seen.push(kv.value.toString()));
    await client.put('keepalive-test/a').value('1');
    await waitFor('the watch sees a put', () => seen.includes('1'), 10_000, 50);

    const pids = agent.etcdPids();
    assert.equal(pids.length, 1, 'the agent runs one etcd member');
    stopped = pids;
    process.kill(pids[0]!, 'SIGSTOP');
    const t0 = Date.now();
    // keep-alive: a ping every 2 s, 2 s for its answer; well under the 15 s bound
    await waitFor('the watch stream to the frozen member fails', () => dropped > 0, 15_000, 50);
    const ms = Date.now() - t0;
    process.kill(pids[0]!, 'SIGCONT');
    stopped = [];
    console.log(`# the watch was dropped ${ms} ms after its member froze`);

    await waitFor('the watch resumes and sees a new put', async () => {
      await client.put('keepalive-test/b').value('2').catch(() => undefined);
      return seen.includes('2');
    }, 20_000, 500);
  } finally {
    // a watch left open keeps reconnecting (and the process alive) after the client closes
    await watcher?.cancel();
    client.close();
  }
});
