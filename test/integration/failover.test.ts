import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent, type AgentHandle } from '../helpers/agents.ts';
import { admission, membersOf, voterIds } from '../helpers/cluster.ts';
import { ensureHttpdImage, nodeContainers, runningCopies, HTTPD_IMAGE } from '../helpers/images.ts';
import { healAndCleanupAll, isolate } from '../helpers/partition.ts';
import { httpGet, postService, serviceView, startCluster, waitServing } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { QUORUM_PROBE_MS } from '../../src/runtime/quorum-watch.ts';

before(async () => {
  await ensureHttpdImage();
});

// each test's cluster goes when the test ends: a later test must not share the machine with it
afterEach(healAndCleanupAll);
after(healAndCleanupAll);

/** A node running a replica of `service` that is not the etcd leader (the scenario is about replicas, not elections). */
async function victimOf(agents: AgentHandle[], ids: string[], service: string): Promise<AgentHandle> {
  const leader = (await admission(agents[0]!)).leader as string;
  const view = await serviceView(agents[0]!, service);
  const id = view.replicas.map((r) => r.nodeId).find((n) => n && n !== leader);
  assert.ok(id, 'some replica runs on a non-leader');
  return agents[ids.indexOf(id)]!;
}

/** What `a` holds each member to be, by node id ({} when it does not answer). */
async function memberStates(a: AgentHandle): Promise<Record<string, string>> {
  const members = await membersOf(a).catch(() => []);
  return Object.fromEntries(members.map((m) => [m.id, m.state]));
}

/** Waits until every agent holds every member alive. */
async function everyMemberAlive(agents: AgentHandle[]): Promise<void> {
  await waitFor('every node holds every member alive', async () => {
    for (const a of agents) {
      const states = Object.values(await memberStates(a));
      if (states.length !== agents.length || states.some((s) => s !== 'alive')) return false;
    }
    return true;
  }, 30_000, 250);
}

/** When the agent's log says it fenced itself (pino `time`, ms), if it has. */
function fenceTime(log: string): number | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes('"fenced: ')) continue;
    return (JSON.parse(line) as { time: number }).time;
  }
  return undefined;
}

test('kill -9 of a node running a replica: it runs elsewhere within seconds; the restarted node runs nothing it is no longer assigned', { timeout: 240_000 }, async () => {
  const ips = ['127.0.14.2', '127.0.14.3', '127.0.14.4'];
  const { agents, ids } = await startCluster(ips);
  const created = await postService(agents[0]!, { name: 'app', image: HTTPD_IMAGE, ports: ['80'], replicas: 2 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitServing(agents[0]!, 'app', 2);
  const victim = await victimOf(agents, ids, 'app');
  const victimId = ids[agents.indexOf(victim)]!;
  const survivor = agents.find((a) => a !== victim)!;

  // kill -9 of the agent alone: its fence watchdog kills its containers (src/runtime/fence-watchdog.ts),
  // as a dead machine would take them with it, before the cluster starts them elsewhere
  assert.ok((await nodeContainers(victimId)).length >= 1);
  await victim.stop('SIGKILL');
  const killedAt = Date.now();
  await waitFor("the watchdog killed the dead agent's container", async () => (await nodeContainers(victimId)).length === 0, 10_000, 50);
  console.log(`# the dead agent's container killed by its watchdog ${Date.now() - killedAt} ms after kill -9`);
  const moved = await waitFor('2 replicas serving, none on the dead node', async () => {
    const running = await waitServing(survivor, 'app', 2, 2000).catch(() => undefined);
    return running && running.every((r) => r.nodeId !== victimId) ? running : undefined;
  }, 60_000, 100);
  const tookMs = Date.now() - killedAt;
  assert.notEqual(moved[0]!.nodeId, moved[1]!.nodeId, 'spread over the 2 surviving nodes');
  for (const r of moved) assert.ok(await httpGet(r.url));
  assert.equal((await serviceView(survivor, 'app')).running, 2);
  console.log(`# replica serving again ${tookMs} ms after kill -9`);

  // the dead node comes back: its old container goes, and it starts no copy of its own
  const back = await startAgent({ bind: victim.bind, dataDir: victim.dataDir, args: ['--join', survivor.bind], waitReady: false });
  await waitFor('the restarted node removed its old container', async () => (await nodeContainers(victimId, true)).length === 0, 120_000, 250);
  await waitFor('the restarted node healthy', async () => (await back.health().catch(() => undefined))?.status === 200, 120_000, 250);
  // a few resync rounds: still exactly 2 copies, none on the restarted node
  for (let i = 0; i < 10; i++) {
    assert.equal(await runningCopies('app'), 2);
    assert.equal((await nodeContainers(victimId, true)).length, 0);
    await new Promise((r) => setTimeout(r, 500));
  }
});

test('a node cut off from the others stops its replicas after the grace; the others run them; healed: exactly `replicas` copies', { timeout: 240_000 }, async () => {
  const ips = ['127.0.14.12', '127.0.14.13', '127.0.14.14'];
  const { agents, ids } = await startCluster(ips, ['--fence-after-ms', '3000']);
  const created = await postService(agents[0]!, { name: 'fenced', image: HTTPD_IMAGE, ports: ['80'], replicas: 2 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitServing(agents[0]!, 'fenced', 2);
  const victim = await victimOf(agents, ids, 'fenced');
  const victimId = ids[agents.indexOf(victim)]!;
  const others = agents.filter((a) => a !== victim);
  const cutAt = Date.now();
  const heal = await isolate([victim.pid, ...victim.etcdPids()], others.map((a) => a.bind));
  try {
    // the majority moves the replica...
    await waitFor('2 replicas running on the connected nodes', async () => {
      const running = await waitServing(others[0]!, 'fenced', 2, 1500).catch(() => undefined);
      return running?.every((r) => r.nodeId !== victimId);
    }, 60_000, 200);
    // ...and the cut-off node stops its copy: it fences itself once it has been without the quorum
    // for the grace (the cut only drops what the node sends, so raft entries the leader had in
    // flight may still tell it about the move a little earlier: either way its copy goes)
    await waitFor('the cut-off node stopped its replica', async () => (await nodeContainers(victimId)).length === 0, 30_000, 200);
    const stoppedAfterMs = Date.now() - cutAt;
    const fencedAt = await waitFor('the cut-off node fenced itself', async () => fenceTime(victim.log()), 30_000, 200);
    // the grace runs from the node's last successful quorum read, at most one probe before the cut
    assert.ok(fencedAt - cutAt >= 3000 - QUORUM_PROBE_MS, `fenced only after the grace (${fencedAt - cutAt} ms after the cut)`);
    console.log(`# cut-off node stopped its replica ${stoppedAfterMs} ms and fenced itself ${fencedAt - cutAt} ms after the cut`);
    // the others keep the quorum all along: none of them fenced itself
    for (const o of others) assert.equal(fenceTime(o.log()), undefined, `${o.bind} (connected to the majority) never fenced itself`);
    // without etcd its views still answer (within the helpers' 2 s): unhealthy, members from gossip
    assert.equal((await victim.health()).status, 503, 'the cut-off node reports itself unhealthy');
    const cutView = await fetch(`${victim.api}/v1/members`, { signal: AbortSignal.timeout(2000) });
    assert.equal(cutView.status, 200);
    assert.equal(((await cutView.json()) as { members: unknown[] }).members.length, agents.length, 'it still lists every member');
  } finally {
    await heal();
  }
  // healed: the node rejoins, converges to its (new) assignments: exactly 2 copies in all
  await waitFor('the healed node sees the cluster again', async () => (await victim.health().catch(() => undefined))?.status === 200, 60_000, 250);
  // it was declared dead while cut off and never heard the verdict: it is told, refutes, and every
  // view holds every member alive again (a dead verdict is otherwise final for its incarnation)
  await everyMemberAlive(agents);
  // converged: exactly 2 copies, none left on the healed node, steadily for 3 s (the returning
  // voter forces an etcd election, so the moments right after the heal are not the measure)
  let steadySince = 0;
  await waitFor('exactly 2 copies, steadily for 3 s, none left on the healed node', async () => {
    const ok = (await runningCopies('fenced')) === 2 && (await nodeContainers(victimId, true)).length === 0;
    if (!ok) steadySince = 0;
    else if (steadySince === 0) steadySince = Date.now();
    return ok && Date.now() - steadySince >= 3000;
  }, 60_000, 250);
  const view = await serviceView(others[0]!, 'fenced');
  assert.equal(view.running, 2);
  // the healed node rejoined without deposing the etcd leader (pre-vote): the others never fenced
  for (const o of others) assert.equal(fenceTime(o.log()), undefined, `${o.bind} did not fence itself after the heal`);
});

test('a voter only gossip has lost keeps its etcd seat while its etcd member answers', { timeout: 180_000 }, async () => {
  const ips = ['127.0.14.22', '127.0.14.23', '127.0.14.24'];
  const { agents, ids } = await startCluster(ips);
  const leaderId = (await admission(agents[0]!)).leader as string;
  const leader = agents[ids.indexOf(leaderId)]!;
  const victim = agents.find((_, i) => ids[i] !== leaderId)!;
  const victimId = ids[agents.indexOf(victim)]!;
  const others = agents.filter((a) => a !== victim);
  // every view holds the victim alive first: one that never heard of it would never hold it dead
  await everyMemberAlive(agents);
  // the agent alone is cut, its etcd member is not: gossip to and from it stops, raft does not
  const heal = await isolate([victim.pid], others.map((a) => a.bind), '7371:7371');
  try {
    await waitFor('the others hold it dead', async () => (await Promise.all(others.map(memberStates))).every((s) => s[victimId] === 'dead'), 30_000, 200);
    // past the dead-voter grace (10 s) the leader would remove it: it asks its etcd member first
    await waitFor('the leader keeps its seat', () => /its etcd member answers: it keeps its seat/.test(leader.log()), 30_000, 200);
    assert.deepEqual(await voterIds(leader), [...ids].sort(), 'still 3 voters');
  } finally {
    await heal();
  }
  await everyMemberAlive(agents);
  assert.deepEqual(await voterIds(leader), [...ids].sort(), 'still 3 voters after the heal');
  assert.doesNotMatch(leader.log(), /removed an etcd member/);
});
