import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { cleanupAll } from '../helpers/agents.ts';
import { ensureHttpdImage, nodeContainers, removeClusterContainers, runningCopies, HTTPD_IMAGE } from '../helpers/images.ts';
import { httpGet, postService, serviceView, startCluster, waitServing } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

// Restarts this machine's Docker engine: CI runs test files one at a time, so nothing else is
// using it meanwhile. `after` makes sure the engine runs again whatever happened.
const execFileP = promisify(execFile);
const DOCKERD_LOG = '/var/log/warren-dockerd.log';

async function dockerUp(): Promise<boolean> {
  return execFileP('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 5000 }).then(() => true, () => false);
}

async function dockerdPid(): Promise<number | undefined> {
  const out = await execFileP('pgrep', ['-x', 'dockerd']).then((r) => r.stdout, () => '');
  const pid = Number(out.trim().split('\n')[0]);
  return pid > 0 ? pid : undefined;
}

/** Whether a process runs (a zombie left for its adopter to reap does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Starts dockerd the way scripts/setup.sh does (detached, logging to its file) and waits for it. */
async function startDockerd(): Promise<void> {
  const log = openSync(DOCKERD_LOG, 'a');
  spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref();
  closeSync(log);
  await waitFor('dockerd answering', dockerUp, 60_000, 200);
}

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

  // stop the engine as a service manager would (SIGTERM: it stops the containers, then exits)
  const pid = await dockerdPid();
  assert.ok(pid, 'dockerd runs');
  process.kill(pid, 'SIGTERM');
  await waitFor('dockerd gone', async () => !running(pid), 60_000, 100);
  await waitFor('the agent reports the replica not running', async () => (await serviceView(a, 'dock').catch(() => undefined))?.running === 0, 30_000, 200);
  assert.ok(await a.health().then((h) => h.status === 200 || h.status === 503).catch(() => false), 'the agent still answers without Docker');

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
  assert.match(a.log(), /restarting exited replica/, 'the reconciler repaired the replica Docker stopped');
});
