/**
 * Stacks on a real agent and real Docker, with local busybox images: a 2-service stack where the
 * front fetches from the back by service name and by alias over the stack's network; a
 * re-deploy with one changed variable replaces only the back's container; stack rm removes the
 * services, containers, network and (with --volumes) volumes. Everything this test makes is
 * named "stacks-it" and labelled with its own node.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, cleanupAll, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { adminHeaders, httpGet, runningReplicas, serviceView } from '../helpers/services.ts';
import { followEvents } from '../helpers/events.ts';
import { frontBackCompose, removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const IP = '127.60.0.2';
const STACK = 'stacks-it';
let agent: AgentHandle;
let nodeId = '';
const dir = mkdtempSync(join(tmpdir(), 'stacks-it-'));

const COMPOSE = frontBackCompose(STACK, { volume: true });

// deploys wait at most 25 s: the CLI helper kills a command after 30 s
const cliOn = (args: string[], env: NodeJS.ProcessEnv = {}) => cli(['--data-dir', agent.dataDir, '--api', agent.api, ...args], env);

before(async () => {
  await ensureHttpdImage();
  writeFileSync(join(dir, 'compose.yaml'), COMPOSE);
  agent = await startAgent({ bind: IP, args: ['--open'] });
  nodeId = ((await (await fetch(`${agent.api}/v1/health`)).json()) as { node: { id: string } }).node.id;
});

after(async () => {
  await cleanupAll();
  await removeNodesDocker([nodeId], [`warren-stack_${STACK}_data`]);
  rmSync(dir, { recursive: true, force: true });
});

const containerOf = async (service: string) => (await docker('ps', '-q', '--filter', `label=warren.node=${nodeId}`, '--filter', `label=warren.service=${service}`)).split('\n').filter(Boolean);

async function frontPage(path = ''): Promise<string | undefined> {
  const [rep] = await runningReplicas(agent, `${STACK}-front`);
  return rep ? httpGet(rep.url + path) : undefined;
}

test('deploy: the front reaches the back by service name and by alias on the stack network', { timeout: 120_000 }, async () => {
  const events = await followEvents(agent.api, ['stack.deployed']);
  const r = await cliOn(['deploy', '-f', join(dir, 'compose.yaml'), '--timeout', '25']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /stacks-it-back: create/);
  assert.match(r.stdout, /stack stacks-it deployed/);
  const ev = await events.waitFor('the stack.deployed event', (e) => e.name === 'stack.deployed');
  await events.stop();
  assert.deepEqual(ev.payload, { stack: STACK, created: [`${STACK}-back`, `${STACK}-front`], updated: [], removed: [], unchanged: [] });
  await waitFor('the front serving the back\'s page', async () => (await frontPage()) === 'back says one', 30_000, 100);
  await waitFor('the front serving the page fetched through the alias', async () => (await frontPage('alias.html')) === 'back says one', 10_000, 100);
  const net = (await docker('network', 'ls', '--format', '{{.Name}}', '--filter', `label=warren.node=${nodeId}`, '--filter', `label=warren.stack=${STACK}`)).trim();
  assert.match(net, new RegExp(`_${STACK}$`), 'one stack network on this node');
  const ls = JSON.parse((await cliOn(['stack', 'ls', '--json'])).stdout);
  assert.deepEqual(ls.map((s: { name: string }) => s.name), [STACK]);
  const ps = await cliOn(['stack', 'ps', STACK]);
  assert.equal(ps.code, 0, ps.stderr);
  assert.match(ps.stdout, /stacks-it-back: 1\/1 running/);
  assert.match(ps.stdout, /stacks-it-front: 1\/1 running/);
});

test('re-deploy with one changed variable replaces only the service that uses it', { timeout: 120_000 }, async () => {
  const [frontBefore] = await containerOf(`${STACK}-front`);
  const [backBefore] = await containerOf(`${STACK}-back`);
  assert.ok(frontBefore && backBefore);
  const dry = await cliOn(['deploy', '-f', join(dir, 'compose.yaml'), '--dry-run'], { MSG: 'two' });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /stacks-it-back: update \(containers replaced/);
  assert.match(dry.stdout, /stacks-it-front: unchanged/);
  assert.equal((await serviceView(agent, `${STACK}-back`)).spec.generation, 1, 'a dry run changes nothing');

  const r = await cliOn(['deploy', '-f', join(dir, 'compose.yaml'), '--timeout', '25'], { MSG: 'two' });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  await waitFor('the front serving the new back\'s page', async () => (await frontPage()) === 'back says two', 30_000, 100);
  assert.equal((await serviceView(agent, `${STACK}-back`)).spec.generation, 2);
  assert.equal((await serviceView(agent, `${STACK}-front`)).spec.generation, 1);
  assert.deepEqual(await containerOf(`${STACK}-front`), [frontBefore], 'the front\'s container was not touched');
  assert.notDeepEqual(await containerOf(`${STACK}-back`), [backBefore]);
});

test('bad input is refused with one line and nothing changes; mutations need the admin token', { timeout: 60_000 }, async () => {
  writeFileSync(join(dir, 'bad.yaml'), 'services:\n  web:\n    build: .\n  db:\n    image: x\n    ports: ["7370:80"]\n');
  const r = await cliOn(['deploy', '-f', join(dir, 'bad.yaml'), '-p', 'stacks-it-bad']);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, /bad\.yaml:3: services\.web\.build: not supported/);
  assert.match(lines[1]!, /bad\.yaml:6: services\.db\.ports\[0\]: host port 7370\/tcp is Warren's HTTP API port/);
  const res = await fetch(`${agent.api}/v1/stacks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 401);
  const del = await fetch(`${agent.api}/v1/stacks/${STACK}`, { method: 'DELETE' });
  assert.equal(del.status, 401);
  const shape = await fetch(`${agent.api}/v1/stacks`, { method: 'POST', headers: await adminHeaders(agent), body: JSON.stringify({ files: [{ path: 'rel.yaml', text: '' }] }) });
  assert.equal(shape.status, 400);
  assert.equal(((await shape.json()) as { error: { code: string } }).error.code, 'invalid_stack');
  const ls = JSON.parse((await cliOn(['stack', 'ls', '--json'])).stdout);
  assert.deepEqual(ls.map((s: { name: string }) => s.name), [STACK]);
});

test('depends_on service_healthy holds the dependent back until the dependency is healthy; a failing healthcheck is reported', { timeout: 120_000 }, async () => {
  const gate = 'stacks-it-gate';
  writeFileSync(
    join(dir, 'gate.yaml'),
    `name: ${gate}
services:
  db:
    image: ${HTTPD_IMAGE}
    # healthy only once /tmp/ready exists, which the test creates
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    healthcheck:
      test: ["CMD-SHELL", "cat /tmp/ready"]
      interval: 300ms
      retries: 1
  web:
    image: ${HTTPD_IMAGE}
    depends_on:
      db:
        condition: service_healthy
  sick:
    image: ${HTTPD_IMAGE}
    healthcheck:
      test: ["CMD", "cat", "/nonexistent"]
      interval: 300ms
      retries: 1
`,
  );
  try {
    const r = await cliOn(['deploy', '-f', join(dir, 'gate.yaml'), '--detach']);
    assert.equal(r.code, 0, r.stderr);
    const web = `${gate}-web`;
    await waitFor('web held back with the reason', async () => (await serviceView(agent, web)).replicas[0]?.reason?.startsWith(`waiting for ${gate}-db to be healthy`), 30_000, 100);
    await waitFor('db running (not healthy yet)', async () => (await serviceView(agent, `${gate}-db`)).replicas[0]?.state === 'running', 30_000, 100);
    assert.deepEqual(await containerOf(web), [], 'no container for web while db is not healthy');
    assert.equal((await serviceView(agent, web)).replicas[0]!.state, 'pending');
    const [db] = await containerOf(`${gate}-db`);
    await docker('exec', db!, 'sh', '-c', 'echo ok > /tmp/ready');
    await waitFor('db healthy', async () => (await serviceView(agent, `${gate}-db`)).replicas[0]?.health === 'healthy', 20_000, 100);
    await waitFor('web running once db is healthy', async () => (await serviceView(agent, web)).replicas[0]?.state === 'running', 20_000, 100);
    await waitFor('the failing healthcheck reported', async () => (await serviceView(agent, `${gate}-sick`)).replicas[0]?.health === 'unhealthy', 20_000, 100);
    const ps = await cliOn(['stack', 'ps', gate]);
    assert.match(ps.stdout, /stacks-it-gate-sick\s+0\s+\S+\s+running \(unhealthy\)/);
  } finally {
    await cliOn(['stack', 'rm', gate]);
    await waitFor('the gate stack\'s containers gone', async () => (await docker('ps', '-aq', '--filter', `label=warren.stack=${gate}`)).trim() === '', 30_000, 100);
  }
});

test('stack rm --volumes removes the services, containers, network and volumes', { timeout: 90_000 }, async () => {
  // the stack's volume is a Warren volume (replicated; here a single node holds its live copy)
  const VOLUME = `${STACK}.data`;
  const live = join(agent.dataDir, 'volume-data', VOLUME);
  const listed = async () => ((await (await fetch(`${agent.api}/v1/volumes`)).json()) as { volumes: { name: string }[] }).volumes.map((v) => v.name);
  assert.ok((await listed()).includes(VOLUME), `listed: ${await listed()}`);
  assert.ok(existsSync(live), 'its live copy is in the data dir');
  const r = await cliOn(['stack', 'rm', STACK, '--volumes']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /removed stack stacks-it: 2 services, 1 volume/);
  const services = (await (await fetch(`${agent.api}/v1/services`)).json()) as { services: unknown[] };
  assert.equal(services.services.length, 0);
  assert.deepEqual((await docker('ps', '-aq', '--filter', `label=warren.node=${nodeId}`)).trim(), '');
  await waitFor('the volume gone: not listed, its copy deleted', async () => !(await listed()).includes(VOLUME) && !existsSync(live), 15_000, 100);
  await waitFor('the stack network removed', async () => (await docker('network', 'ls', '-q', '--filter', `label=warren.node=${nodeId}`)).trim() === '', 15_000, 100);
  const missing = await fetch(`${agent.api}/v1/stacks/${STACK}`);
  assert.equal(missing.status, 404);
});
