import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupAll, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { admission } from '../helpers/cluster.ts';
import { followEvents } from '../helpers/events.ts';
import { ensureHttpdImage, nodeContainers, removeClusterContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { httpGet, postService, serviceView, startCluster, waitServing } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

/*
 * A graceful stop is a restart (core/membership/restart-hold.ts): the stopped node's replicas stay
 * assigned to it for its restart grace and it starts them again when it is back on its data dir;
 * if it is not back in time they fail over. 3 real agents on 127.74.0.x (this test's own range).
 */

const IPS = ['127.74.0.2', '127.74.0.3', '127.74.0.4'];
const SERVICE = 'restart-app';

before(async () => {
  await ensureHttpdImage();
});

after(async () => {
  await cleanupAll();
  await removeClusterContainers();
});

async function memberState(viewer: AgentHandle, id: string): Promise<string | undefined> {
  const res = await fetch(`${viewer.api}/v1/members`, { signal: AbortSignal.timeout(2000) });
  return ((await res.json()) as { members: { id: string; state: string }[] }).members.find((m) => m.id === id)?.state;
}

/**
 * Polls the catalog's assignments (GET /v1/services/NAME from `viewer`, every 100 ms) until
 * stopped; every distinct slot -> node map seen, in order.
 */
function watchAssignments(viewer: AgentHandle): { stop: () => Promise<{ seen: string[]; polls: number }> } {
  const seen: string[] = [];
  let polls = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const view = await serviceView(viewer, SERVICE).catch(() => undefined);
      if (view) {
        polls++;
        const map = view.replicas.map((r) => `${r.slot}:${r.nodeId}`).sort().join(',');
        if (seen.at(-1) !== map) seen.push(map);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { seen, polls };
    },
  };
}

test('SIGTERM then start again within the grace: the replica was never assigned elsewhere and runs on the node again; not back in time: it fails over after the grace', { timeout: 300_000 }, async () => {
  const { agents, ids } = await startCluster(IPS);
  const created = await postService(agents[0]!, { name: SERVICE, image: HTTPD_IMAGE, ports: ['80'], replicas: 2 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitServing(agents[0]!, SERVICE, 2);
  // B: a node running a replica, not the leader (the leader's own restart is an election, measured elsewhere)
  const leader = (await admission(agents[0]!)).leader as string;
  const bId = (await serviceView(agents[0]!, SERVICE)).replicas.map((r) => r.nodeId).find((n) => n && n !== leader)!;
  assert.ok(bId, 'a replica runs on a non-leader');
  const b = agents[ids.indexOf(bId)]!;
  const viewer = agents.find((a) => a !== b && ids[agents.indexOf(a)] === leader)!;
  const before = (await serviceView(viewer, SERVICE)).replicas.map((r) => `${r.slot}:${r.nodeId}`).sort().join(',');
  const bSlot = (await serviceView(viewer, SERVICE)).replicas.find((r) => r.nodeId === bId)!.slot;

  // ---- 1. systemctl restart: SIGTERM, then the same agent on the same data dir
  const moves = await followEvents(viewer.api, ['service.moved', 'service.scheduled']);
  const watch = watchAssignments(viewer);
  const stoppedAt = Date.now();
  assert.equal(await b.stop('SIGTERM', 30_000), 0, 'a clean stop');
  assert.deepEqual(await nodeContainers(bId), [], 'the stopped agent stopped its containers (a replica never runs twice)');
  await waitFor('the others show B restarting', async () => (await memberState(viewer, bId)) === 'restarting', 5000, 100);
  // the next stop of this agent asks for a 6 s grace: the grace is the stopping node's own flag
  const back = await startAgent({ bind: b.bind, dataDir: b.dataDir, args: ['--join', IPS.find((ip) => ip !== b.bind)!, '--restart-grace-ms', '6000'] });
  const runningAgain = await waitFor('the replica runs on B again and answers', async () => {
    const r = (await serviceView(viewer, SERVICE).catch(() => undefined))?.replicas.find((x) => x.slot === bSlot);
    if (r?.state !== 'running' || r.nodeId !== bId || !r.ports.length) return undefined;
    return (await httpGet(`http://${r.addr}:${r.ports[0]!.hostPort}/`)) ? Date.now() : undefined;
  }, 60_000, 100);
  await waitFor('B alive again in the others\' view', async () => (await memberState(viewer, bId)) === 'alive', 10_000, 100);
  const { seen, polls } = await watch.stop();
  console.log(`# SIGTERM + start again: B's replica served again ${runningAgain - stoppedAt} ms after the stop began (${polls} polls of the assignments)`);
  assert.ok(polls >= 20, `the assignments were read throughout (${polls} polls)`);
  assert.deepEqual(seen, [before], 'the assignments never changed over the whole restart');
  assert.deepEqual(moves.events.filter((e) => e.payload?.service === SERVICE), [], 'no service.moved / service.scheduled for the service');
  await moves.stop();
  assert.equal((await nodeContainers(bId)).length, 1, 'one container of the replica on B');

  // ---- 2. stopped and not started again: held for its grace (6 s), then it fails over
  const watch2 = watchAssignments(viewer);
  const stop2At = Date.now();
  assert.equal(await back.stop('SIGTERM', 30_000), 0);
  await waitFor('B restarting', async () => (await memberState(viewer, bId)) === 'restarting', 5000, 100);
  const movedAt = await waitFor('the replica moved off B', async () => {
    const view = await serviceView(viewer, SERVICE).catch(() => undefined);
    return view && view.replicas.every((r) => r.nodeId !== null && r.nodeId !== bId) ? Date.now() : undefined;
  }, 60_000, 100);
  const { seen: seen2 } = await watch2.stop();
  const heldMs = movedAt - stop2At;
  console.log(`# SIGTERM, no restart: the replica moved ${heldMs} ms after the stop began (grace 6000 ms)`);
  // the others start the hold when they hear the notice, which is after the stop began
  assert.ok(heldMs >= 6000, `held for the grace (moved after ${heldMs} ms)`);
  assert.ok(heldMs < 6000 + 5000, `moved promptly once the grace ran out (after ${heldMs} ms)`);
  assert.equal(seen2[0], before, 'on B until the grace ran out');
  assert.equal(await memberState(viewer, bId), 'dead', 'then B reads dead');
  await waitServing(viewer, SERVICE, 2, 30_000);
});
