import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupAll, cli, type AgentHandle } from '../helpers/agents.ts';
import { ensureHttpdImage, removeClusterContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { adminHeaders, postService, serviceView, startCluster } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

/*
 * `apt remove warren`: the package's prerm runs `warren leave --at-stop` before systemd stops the
 * agent, so that SIGTERM drains and leaves (core/membership/final-stop.ts) instead of announcing a
 * restart that would hold the node's replicas for its grace. 2 real agents on 127.71.0.2-3
 * (helper "footprint"'s range), a 90 s grace so that a hold could not pass unnoticed.
 */

const IPS = ['127.71.0.2', '127.71.0.3'];
const GRACE = ['--restart-grace-ms', '90000'];
let agents: AgentHandle[] = [];
let ids: string[] = [];

before(async () => {
  await ensureHttpdImage();
  ({ agents, ids } = await startCluster(IPS, GRACE));
});

after(async () => {
  await removeClusterContainers().catch(() => undefined);
  await cleanupAll();
  await removeClusterContainers();
  await removeNodesDocker(ids);
});

async function memberState(viewer: AgentHandle, id: string): Promise<string | undefined> {
  const res = await fetch(`${viewer.api}/v1/members`, { signal: AbortSignal.timeout(2000) });
  return ((await res.json()) as { members: { id: string; state: string }[] }).members.find((m) => m.id === id)?.state;
}

test('warren leave --at-stop, then SIGTERM: the node drains and leaves, its replica moves at once (no restart hold)', { timeout: 180_000 }, async () => {
  const [a, b] = agents as [AgentHandle, AgentHandle];
  const [aId, bId] = ids as [string, string];
  // the replica on B (pinned, then unpinned: constraints do not move a running replica)
  const created = await postService(a, { name: 'final-stop-app', image: HTTPD_IMAGE, ports: ['80'], constraints: [`node=n${IPS[1]!.split('.').pop()}`] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitFor('the replica running on B', async () => (await serviceView(a, 'final-stop-app').catch(() => undefined))?.replicas.some((r) => r.nodeId === bId && r.state === 'running'), 60_000, 200);
  const patch = await fetch(`${a.api}/v1/services/final-stop-app`, { method: 'PATCH', headers: await adminHeaders(a), body: JSON.stringify({ constraints: [] }), signal: AbortSignal.timeout(5000) });
  assert.equal(patch.status, 200, await patch.text());

  const marked = await cli(['leave', '--at-stop', '--data-dir', b.dataDir]);
  assert.equal(marked.code, 0, marked.stderr);
  assert.match(marked.stdout, /will leave the cluster when it is next stopped/);
  const stoppedAt = Date.now();
  assert.equal(await b.stop('SIGTERM', 90_000), 0, 'a clean stop');
  const states = new Set<string>();
  await waitFor('A sees B left', async () => {
    const s = await memberState(a, bId);
    if (s) states.add(s);
    return s === 'left';
  }, 10_000, 100);
  assert.ok(!states.has('restarting'), `never held as restarting: ${[...states].join(', ')}`);
  // bounded well below the 90 s grace: a hold would fail this
  await waitFor('the replica running on A', async () => (await serviceView(a, 'final-stop-app').catch(() => undefined))?.replicas.some((r) => r.nodeId === aId && r.state === 'running'), 45_000, 200);
  const movedMs = Date.now() - stoppedAt;
  console.log(`# final stop: the replica ran on the other node ${movedMs} ms after the SIGTERM`);
});

test('warren leave --at-stop with no agent running: nothing marked, exit 0 (the prerm of a stopped agent)', async () => {
  const r = await cli(['leave', '--at-stop', '--data-dir', agents[1]!.dataDir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /no agent runs on/);
});
