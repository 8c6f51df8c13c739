import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupAll } from '../helpers/agents.ts';
import { dockerdPid, dockerUp, running, startDockerd } from '../helpers/dockerd.ts';
import { docker, ensureHttpdImage, nodeContainers, removeClusterContainers, runningCopies, HTTPD_IMAGE } from '../helpers/images.ts';
import { httpGet, postService, serviceView, startCluster, waitServing } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

// Restarts this machine's Docker engine (test/helpers/dockerd.ts): CI runs test files one at a
// time, so nothing else is using it meanwhile. `after` makes sure the engine runs again whatever happened.

before(async () => {
  await ensureHttpdImage();
});

after(async () => {
  if (!(await dockerUp())) await startDockerd();
  await cleanupAll();
  await removeClusterContainers();
});

test('the Docker engine restarting under a node: its replica runs and answers again, without a duplicate', { timeout: 180_000 }, async () => {
  const { agents, ids } = await startCluster(['127.0.18.2']);
  const a = agents[0]!;
  const created = await postService(a, { name: 'dock', image: HTTPD_IMAGE, ports: ['80'], replicas: 1 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const [before] = await waitServing(a, 'dock', 1);
  const containersBefore = await nodeContainers(ids[0]!);
  assert.equal(containersBefore.length, 1);
  // the app crashes three times first (killed behind Warren's back): each restart backs off longer
  for (let crash = 1; crash <= 3; crash++) {
    await docker('kill', containersBefore[0]!);
    await waitFor(`restart ${crash} logged`, async () => restartCounts(a.log()).includes(crash), 30_000, 100);
    await waitServing(a, 'dock', 1, 30_000);
  }

  // stop the engine as a service manager would (SIGTERM: it stops the containers, then exits)
  const pid = await dockerdPid();
  assert.ok(pid, 'dockerd runs');
  process.kill(pid, 'SIGTERM');
  await waitFor('dockerd gone', async () => !running(pid), 60_000, 100);
  await waitFor('the agent reports the replica not running', async () => (await serviceView(a, 'dock').catch(() => undefined))?.running === 0, 30_000, 200);
  assert.ok(await a.health().then((h) => h.status === 200 || h.status === 503).catch(() => false), 'the agent still answers without Docker');

  const logAtRestart = a.log().length;
  await startDockerd();
  const restartedAt = Date.now();
  const [after] = await waitServing(a, 'dock', 1, 60_000);
  console.log(`# replica answering ${Date.now() - restartedAt} ms after dockerd came back`);
  assert.match((await httpGet(after!.url))!, /^dock 0 /);
  assert.equal(after!.slot, before!.slot);
  // exactly one copy, steadily (no duplicate from a recreate racing a restart)
  for (let i = 0; i < 6; i++) {
    assert.equal(await runningCopies('dock'), 1);
    await new Promise((r) => setTimeout(r, 500));
  }
  // the engine stopped it, not a crash: started again without the crash loop's back-off (seen
  // from a pass that found the engine gone, or from its event stream ending)
  assert.equal(restartCounts(a.log().slice(logAtRestart))[0], 1, 'the first restart after the engine came back counts from 1 again');
});

/** The `restarts` figure of each "restarting exited replica" line of an agent's log, in order. */
function restartCounts(log: string): number[] {
  return [...log.matchAll(/"restarts":(\d+)[^\n]*restarting exited replica|restarting exited replica[^\n]*"restarts":(\d+)/g)].map((m) => Number(m[1] ?? m[2]));
}
