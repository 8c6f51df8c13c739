/**
 * Upgrades one machine at a time: two builds of the agent in one cluster. "next" is this
 * checkout copied and changed the way a next release would be: a higher version, a new optional
 * field in every heartbeat, in every service record it writes to etcd and in its health answer,
 * and a feature that needs every node new in that release (standing for it: HTTPS, moved to
 * the next version). A current agent founds the cluster, a next one
 * and another current one join; they admit each other, gossip (membership, events), run
 * services created on either build on the other, and `warren status` shows every version, the
 * feature level, and (on the next build) the feature that waits for the older nodes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cleanupAll, cli, startAgent, tempDir, type AgentHandle } from '../helpers/agents.ts';
import { nodeId, voterIds } from '../helpers/cluster.ts';
import { followEvents } from '../helpers/events.ts';
import { ensureHttpdImage, removeClusterContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { adminHeaders, postService, waitServing } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { VERSION } from '../../src/version.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const IPS = ['127.64.0.10', '127.64.0.11', '127.64.0.12'];
const NEXT_VERSION = '0.99.0-next';
const execFileP = promisify(execFile);
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let nextBin = '';
let A: AgentHandle; // current build, founder
let B: AgentHandle; // next build
let C: AgentHandle; // current build

/** Replaces `from` by `to` in a copied source file; fails when the source no longer has it. */
async function patch(root: string, file: string, from: string, to: string): Promise<void> {
  const path = join(root, file);
  const text = await readFile(path, 'utf8');
  assert.ok(text.includes(from), `${file} no longer contains ${JSON.stringify(from)}: update the upgrade test's patch`);
  await writeFile(path, text.replace(from, to));
}

/** This checkout as the next release: its own bin/warren, built into its own dist/ on first use. */
async function buildNext(): Promise<string> {
  const root = join(await tempDir('warren-next-'), 'warren');
  for (const part of ['src', 'bin', 'scripts', 'package.json', 'tsconfig.json']) await cp(join(ROOT, part), join(root, part), { recursive: true });
  await symlink(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  await patch(root, 'package.json', `"version": "${VERSION}"`, `"version": "${NEXT_VERSION}"`);
  await patch(root, 'src/gossip/gossip-service.ts', '      ...(restart ? { restart } : {}),\n    };', "      ...(restart ? { restart } : {}),\n      nextField: { zone: 'attic' },\n    } as Heartbeat;");
  await patch(root, 'src/core/service-spec.ts', 'generation: 1, createdAt: now, updatedAt: now }', "generation: 1, createdAt: now, updatedAt: now, nextOnly: { note: 'written by the next build' } } as ServiceSpec");
  await patch(root, 'src/cli/agent/agent.ts', '      version: VERSION,\n', "      version: VERSION,\n      nextHealth: { ok: true },\n");
  // a feature that needs every node, new in the next release: there, HTTPS moves to it
  await patch(root, 'src/core/versions.ts', "{ name: 'https', since: '", `{ name: 'https', since: '${NEXT_VERSION}', was: '`);
  return join(root, 'bin/warren');
}

before(async () => {
  await ensureHttpdImage();
  nextBin = await buildNext();
  A = await startAgent({ bind: IPS[0]!, name: 'old-a', args: ['--open'] });
  B = await startAgent({ bind: IPS[1]!, name: 'next-b', args: ['--join', IPS[0]!], bin: nextBin });
  C = await startAgent({ bind: IPS[2]!, name: 'old-c', args: ['--join', IPS[0]!] });
});

after(async () => {
  // the agents first: removed while they ran, a container was started again (this process's
  // clusters only: the engine is shared)
  await cleanupAll();
  await removeClusterContainers();
});

test('the two builds admit each other and see each other alive, with their versions', { timeout: 120_000 }, async () => {
  assert.equal((await B.health()).body.version, NEXT_VERSION, 'B runs the next build');
  assert.deepEqual((await B.health()).body.nextHealth, { ok: true });
  assert.equal((await A.health()).body.version, VERSION);
  // three voters: the next build's etcd member was added, caught up and promoted by a current leader
  await waitFor('3 voters', async () => (await voterIds(A)).length === 3, 90_000, 250);
  const ids = await Promise.all([A, B, C].map(nodeId));
  for (const a of [A, B, C]) {
    await waitFor(`${a.bind} sees all three alive with their versions`, async () => {
      const { members } = (await (await fetch(`${a.api}/v1/members`)).json()) as { members: { id: string; state: string; version?: string }[] };
      const byId = new Map(members.map((m) => [m.id, m]));
      return ids.every((id) => byId.get(id)?.state === 'alive') && byId.get(ids[1]!)?.version === NEXT_VERSION && byId.get(ids[0]!)?.version === VERSION;
    }, 30_000, 100);
  }
  // the current agents dropped no heartbeat of the next one for its new field
  for (const a of [A, C]) {
    const metrics = await (await fetch(`${a.api}/metrics`)).text();
    assert.doesNotMatch(metrics, /warren_gossip_dropped_total\{reason="bad_heartbeat"\} [1-9]/);
  }
});

test('events published on one build reach subscribers on the other, both ways', { timeout: 60_000 }, async () => {
  const onA = await followEvents(A.api, ['upgrade.check']);
  const onB = await followEvents(B.api, ['upgrade.check']);
  try {
    const send = async (from: AgentHandle, payload: unknown) => {
      const res = await fetch(`${from.api}/v1/events/upgrade.check`, { method: 'POST', headers: await adminHeaders(from), body: JSON.stringify(payload) });
      assert.equal(res.status, 202);
    };
    // the mesh may need a moment after the joins: publish until it arrives (each copy is one fact)
    await waitFor('B → A', async () => {
      await send(B, { from: 'next' });
      return onA.find((e) => e.payload?.from === 'next');
    }, 20_000, 500);
    await waitFor('A → B', async () => {
      await send(A, { from: 'current' });
      return onB.find((e) => e.payload?.from === 'current');
    }, 20_000, 500);
  } finally {
    await onA.stop();
    await onB.stop();
  }
});

test('a service created on the next build runs on a current node, and the other way round', { timeout: 120_000 }, async () => {
  // the next build writes a field the current ones do not know into the service's etcd record
  const fromNext = await postService(B, { name: 'from-next', image: HTTPD_IMAGE, ports: [80], constraints: ['node=old-c'] });
  assert.equal(fromNext.status, 201, JSON.stringify(fromNext.body));
  assert.deepEqual(fromNext.body.service.spec.nextOnly, { note: 'written by the next build' });
  const fromCurrent = await postService(A, { name: 'from-current', image: HTTPD_IMAGE, ports: [80], constraints: ['node=next-b'] });
  assert.equal(fromCurrent.status, 201, JSON.stringify(fromCurrent.body));
  const [r1] = await waitServing(A, 'from-next', 1, 60_000);
  const [r2] = await waitServing(B, 'from-current', 1, 60_000);
  assert.equal(r1!.nodeId, await nodeId(C));
  assert.equal(r2!.nodeId, await nodeId(B));
  // a current node reads the record back with the unknown field kept
  const seen = (await (await fetch(`${C.api}/v1/services/from-next`)).json()) as { service: { spec: Record<string, unknown> } };
  assert.deepEqual(seen.service.spec.nextOnly, { note: 'written by the next build' });
  // an update on a current node keeps the next build's field in the record
  const res = await fetch(`${A.api}/v1/services/from-next`, { method: 'PATCH', headers: await adminHeaders(A), body: JSON.stringify({ replicas: 1, env: { X: '1' } }) });
  assert.equal(res.status, 200, await res.text());
  const after = (await (await fetch(`${B.api}/v1/services/from-next`)).json()) as { service: { spec: Record<string, unknown> } };
  assert.deepEqual(after.service.spec.nextOnly, { note: 'written by the next build' });
  // through each build's proxy
  for (const a of [A, B]) {
    const port = (await a.health()).body.proxy.port;
    const page = await waitFor(`from-next through ${a.bind}`, async () => {
      // (fetch cannot set Host: curl can)
      const r = await execFileP('curl', ['-sSf', '--max-time', '3', '-H', 'Host: from-next.warren.internal', `http://${a.bind}:${port}/`]);
      return r.stdout.trim();
    }, 30_000, 200);
    assert.match(page, /^from-next 0 /);
  }
});

test('warren status shows every version and the feature level; the next build says what waits', { timeout: 60_000 }, async () => {
  const cur = await cli(['--api', A.api, 'status', '--json']);
  const view = JSON.parse(cur.stdout);
  assert.equal(view.versions.level, VERSION);
  assert.equal(view.versions.mixed, true);
  assert.deepEqual(view.versions.nodes.map((n: any) => `${n.name}=${n.version}`).sort(), [`next-b=${NEXT_VERSION}`, `old-a=${VERSION}`, `old-c=${VERSION}`]);
  assert.ok(view.versions.features.every((f: any) => f.ready), 'every feature the current build knows is ready');
  // the current CLI against the next agent: the versions and the level
  const text = await cli(['--api', B.api, 'status']);
  assert.match(text.stdout, new RegExp(`cluster feature level: ${esc(VERSION)} \\(upgrade under way: 2 versions\\)`));
  assert.match(text.stdout, new RegExp(`next-b\\s+${esc(NEXT_VERSION)}`));
  // the next build's CLI knows its own feature, and that it waits for the current nodes
  const next = await execFileP(nextBin, ['--api', B.api, 'status'], { timeout: 30_000 });
  assert.match(next.stdout, new RegExp(`waiting: HTTPS for services on every node, and services with --https-redirect \\(needs every node at ${esc(NEXT_VERSION)} or later; older: old-a ${esc(VERSION)}, old-c ${esc(VERSION)}\\)`));
  // and the next agent refuses to use it until then, naming the nodes to upgrade
  const refused = await postService(B, { name: 'waits', image: HTTPD_IMAGE, httpsRedirect: true });
  assert.equal(refused.status, 409);
  assert.equal(refused.body.error.code, 'feature_waits');
  assert.match(refused.body.error.message, new RegExp(`needs every node at version ${esc(NEXT_VERSION)} or later; upgrade old-a \\(${esc(VERSION)}\\), old-c \\(${esc(VERSION)}\\) first`));
  // a current agent, whose HTTPS every node has, accepts it
  const accepted = await postService(A, { name: 'redirects', image: HTTPD_IMAGE, httpsRedirect: true });
  assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
});
