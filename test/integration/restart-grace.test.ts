import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { cleanupAll, etcdClientOf, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { admission } from '../helpers/cluster.ts';
import { followEvents } from '../helpers/events.ts';
import { ensureHttpdImage, nodeContainers, removeClusterContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { adminHeaders, httpGet, postService, serviceView, startCluster, waitServing } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';
import { VOLUME_KEYS } from '../../src/core/volumes/volume-records.ts';

/*
 * A graceful stop is a restart (core/membership/restart-hold.ts): the stopped node's replicas stay
 * assigned to it for its restart grace and it starts them again when it is back on its data dir;
 * if it is not back in time they fail over. 3 real agents on 127.74.0.x (this test's own range).
 */

const IPS = ['127.74.0.2', '127.74.0.3', '127.74.0.4'];
const SERVICE = 'restart-app';
const VOL_SERVICE = 'restart-vol';
/** a generous grace: a restart on this busy shared machine took up to ~33 s (the default is 30 s) */
const GRACE = ['--restart-grace-ms', '90000'];
let agents: AgentHandle[] = [];
let ids: string[] = [];

before(async () => {
  await ensureHttpdImage();
  ({ agents, ids } = await startCluster(IPS, ['--snapshot-interval-ms', '1000', ...GRACE]));
});

after(async () => {
  // containers first: a writer still running into a data dir would make its removal fail
  await removeClusterContainers().catch(() => undefined);
  await cleanupAll();
  await removeClusterContainers();
  await removeNodesDocker(ids);
});

/** the same agent again, on its data dir, with the same flags plus `extra` */
function restart(a: AgentHandle, extra: string[] = []): Promise<AgentHandle> {
  return startAgent({ bind: a.bind, dataDir: a.dataDir, args: ['--join', IPS.find((ip) => ip !== a.bind)!, '--snapshot-interval-ms', '1000', ...GRACE, ...extra] });
}

/** GETs SERVICE through `via`'s reverse proxy every 100 ms until stopped; the answers' statuses (0: no answer). */
function pollProxy(via: AgentHandle, port: number): { stop: () => Promise<number[]> } {
  const got: number[] = [];
  let running = true;
  const once = () => new Promise<number>((resolve) => {
    const req = http.request({ host: via.bind, port, path: '/', headers: { host: `${SERVICE}.warren.internal` }, agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
  const loop = (async () => {
    while (running) {
      got.push(await once());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { stop: async () => ((running = false), await loop, got) };
}

async function memberState(viewer: AgentHandle, id: string): Promise<string | undefined> {
  const res = await fetch(`${viewer.api}/v1/members`, { signal: AbortSignal.timeout(2000) });
  return ((await res.json()) as { members: { id: string; state: string }[] }).members.find((m) => m.id === id)?.state;
}

/**
 * Polls the catalog's assignments (GET /v1/services/NAME from `viewer`, every 100 ms) until
 * stopped; every distinct slot -> node map seen, in order.
 */
function watchAssignments(viewer: AgentHandle, service = SERVICE): { stop: () => Promise<{ seen: string[]; polls: number }> } {
  const seen: string[] = [];
  let polls = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const view = await serviceView(viewer, service).catch(() => undefined);
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

// resumes its counter from the last line of its volume, and notes where it resumed
const WRITER = [
  'n=$(busybox tail -n1 /data/counter 2>/dev/null); n=${n:-0}',
  'echo "$n" >> /data/starts',
  'while :; do n=$((n+1)); echo "$n" >> /data/counter; busybox usleep 10000; done',
].join('; ');

test('a replicated volume through a restart: same node, same owner epoch, every write kept (its live data, not a snapshot); stopped for good: it fails over with every write (the final snapshot)', { timeout: 300_000 }, async () => {
  const created = await postService(agents[0]!, { name: VOL_SERVICE, image: HTTPD_IMAGE, command: ['sh', '-c', WRITER], volumes: ['data:/data'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const nodeOf = async () => (await serviceView(agents[0]!, VOL_SERVICE).catch(() => undefined))?.replicas.find((r) => r.state === 'running')?.nodeId ?? undefined;
  const bId = await waitFor('the writer running', nodeOf, 60_000, 100);
  const at = ids.indexOf(bId);
  const b = agents[at]!;
  const viewer = agents.find((a) => a !== b)!;
  const volume = `${VOL_SERVICE}_data`;
  const liveOn = (a: AgentHandle, file: string) => join(a.dataDir, 'volume-data', volume, file);
  const linesOn = (a: AgentHandle, file: string) => readFileSync(liveOn(a, file), 'utf8').split('\n').filter(Boolean);
  const lines = (file: string) => linesOn(b, file);
  await waitFor('some writes', () => lines('counter').length > 50, 30_000, 100);
  const etcd = await etcdClientOf(viewer, IPS.filter((ip) => ip !== b.bind).map((ip) => `https://${ip}:7372`));
  try {
    const metaBefore = JSON.parse((await etcd.get(VOLUME_KEYS.metaPrefix + volume).string())!);
    assert.equal(metaBefore.owner, bId);
    const watch = watchAssignments(viewer, VOL_SERVICE);
    const stopAt = Date.now();
    // stopped while it snapshots every second: a container paused for a snapshot must be stopped too
    assert.equal(await b.stop('SIGTERM', 30_000), 0);
    assert.deepEqual(await nodeContainers(bId), [], 'the writer was stopped with the agent');
    const counter = lines('counter');
    const last = counter.at(-1)!;
    const starts = lines('starts').length;
    // its next stop announces a 6 s grace (below)
    agents[at] = await restart(b, ['--restart-grace-ms', '6000']);
    await waitFor('the writer resumed on B', () => lines('starts').length === starts + 1, 60_000, 100);
    const { seen, polls } = await watch.stop();
    // (a count of polls, not a fixed one: a quick restart on a busy machine gave 18 of ~200 ms each)
    const windowMs = Date.now() - stopAt;
    assert.ok(polls >= Math.max(5, Math.floor(windowMs / 200)), `the assignments were read throughout (${polls} polls in ${windowMs} ms)`);
    assert.equal(seen.length, 1, `the assignment never changed: ${seen.join(' | ')}`);
    assert.match(seen[0]!, new RegExp(`^0:${bId}$`));
    assert.equal(lines('starts')[starts], last, 'it resumed from the very last write before the stop (its live data, not the last snapshot)');
    const after = lines('counter');
    after.forEach((l, i) => assert.equal(l, String(i + 1), `the counter is contiguous at line ${i + 1}`));
    const metaAfter = JSON.parse((await etcd.get(VOLUME_KEYS.metaPrefix + volume).string())!);
    assert.equal(metaAfter.owner, bId, 'still owned by B');
    assert.equal(metaAfter.epoch, metaBefore.epoch, 'no take-over: the owner epoch is the same');
    console.log(`# volume service through a restart: ${counter.length} writes before the stop, all kept, resumed at ${last}`);

    // stopped and not started again: after the grace it runs elsewhere, on a copy that has every
    // write (the stopping agent snapshotted and replicated once its containers had stopped)
    await waitFor('more writes', () => lines('counter').length > after.length + 50, 30_000, 100);
    assert.equal(await agents[at]!.stop('SIGTERM', 30_000), 0);
    const lastBeforeStop = lines('counter').at(-1)!;
    const elsewhere = await waitFor('the writer running on another node', async () => {
      const r = (await serviceView(viewer, VOL_SERVICE).catch(() => undefined))?.replicas.find((x) => x.state === 'running');
      return r?.nodeId && r.nodeId !== bId ? agents[ids.indexOf(r.nodeId)] : undefined;
    }, 60_000, 100);
    await waitFor('the writer resumed there', () => linesOn(elsewhere, 'starts').length === starts + 2, 30_000, 100);
    assert.equal(linesOn(elsewhere, 'starts').at(-1), lastBeforeStop, 'failed over without losing a write');
    console.log(`# volume service stopped for good: failed over resuming at ${lastBeforeStop}, the last write before the stop`);
    agents[at] = await restart(b);
  } finally {
    etcd.close();
  }
  const removed = await fetch(`${viewer.api}/v1/services/${VOL_SERVICE}`, { method: 'DELETE', headers: await adminHeaders(viewer) });
  assert.ok(removed.ok, `DELETE: ${removed.status}`);
  // the restarted node answers 503 not_ready until its etcd client reconnected and its catalog reloaded
  const readyAt = Date.now();
  await waitFor('every node healthy and serving /v1/services again', async () => {
    const res = await Promise.all(agents.map((a) => fetch(`${a.api}/v1/services`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => 0)));
    return res.every((s) => s === 200);
  }, 60_000, 250);
  console.log(`# the restarted node served /v1/services ${Date.now() - readyAt} ms after the test was done with it`);
});

test('SIGTERM then start again within the grace: the replica was never assigned elsewhere and runs on the node again; not back in time: it fails over after the grace', { timeout: 300_000 }, async () => {
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
  // the other replica answers through the proxy all along: the restarting node is routed around
  const proxy = pollProxy(viewer, (await viewer.health()).body.proxy.port);
  const stoppedAt = Date.now();
  assert.equal(await b.stop('SIGTERM', 30_000), 0, 'a clean stop');
  assert.deepEqual(await nodeContainers(bId), [], 'the stopped agent stopped its containers (a replica never runs twice)');
  await waitFor('the others show B restarting', async () => (await memberState(viewer, bId)) === 'restarting', 5000, 100);
  // the next stop of this agent asks for a 6 s grace: the grace is the stopping node's own flag
  const back = await restart(b, ['--restart-grace-ms', '6000']);
  const runningAgain = await waitFor('the replica runs on B again and answers', async () => {
    const r = (await serviceView(viewer, SERVICE).catch(() => undefined))?.replicas.find((x) => x.slot === bSlot);
    if (r?.state !== 'running' || r.nodeId !== bId || !r.ports.length) return undefined;
    return (await httpGet(`http://${r.addr}:${r.ports[0]!.hostPort}/`)) ? Date.now() : undefined;
  }, 60_000, 100);
  await waitFor('B alive again in the others\' view', async () => (await memberState(viewer, bId)) === 'alive', 10_000, 100);
  const { seen, polls } = await watch.stop();
  const answers = await proxy.stop();
  const failed = answers.filter((s) => s !== 200).length;
  console.log(`# SIGTERM + start again: ${answers.length} GETs through another node's proxy, ${failed} failed`);
  // the poller ran throughout the window (one GET per 100 ms, under load at least one per 200 ms),
  // however short the restart was
  const windowMs = runningAgain - stoppedAt;
  assert.ok(answers.length >= Math.max(5, Math.floor(windowMs / 200)), `${answers.length} GETs in ${windowMs} ms`);
  assert.equal(failed, 0, `every GET through the proxy answered 200 (statuses: ${[...new Set(answers)].join(', ')})`);
  console.log(`# SIGTERM + start again: B's replica served again ${runningAgain - stoppedAt} ms after the stop began (${polls} polls of the assignments)`);
  assert.ok(polls >= Math.max(5, Math.floor(windowMs / 200)), `the assignments were read throughout (${polls} polls in ${windowMs} ms)`);
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
