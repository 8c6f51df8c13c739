/**
 * The fence (src/runtime/fence-watchdog.ts, src/cli/fence-command.ts): an agent that dies without
 * stopping its containers (kill -9) must not leave them running while the cluster starts them
 * elsewhere. Real agents (single-node clusters on 127.73.1.x, the resil helper's range), real Docker, the real CLI.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cli, cleanupAll, findPids, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { docker, ensureHttpdImage, nodeContainers, removeClusterContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { postService, waitServing } from '../helpers/services.ts';
import { nodeId } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';
import { pidAlive } from '../../src/system/data-dir.ts';
import { cleanExitMark, runFile } from '../../src/runtime/fence-watchdog.ts';

before(async () => {
  await ensureHttpdImage();
});

/** Containers this file makes itself (the late starts of the race test), by name. */
const STRAYS = ['resil-fence-late-dead-run', 'resil-fence-live-run'];

after(async () => {
  await docker('rm', '-f', ...STRAYS).catch(() => undefined);
  await cleanupAll();
  await removeClusterContainers();
});

/** The watchdog of one agent process: `sh -c SCRIPT warren-fence <agent pid> ...`. */
const watchdogOf = (agentPid: number) => findPids((c) => c.split('\0').includes('warren-fence') && c.split('\0').includes(String(agentPid)));

/** A single-node cluster running one replica of an HTTP service; returns its container. */
async function agentWithService(bind: string, env: NodeJS.ProcessEnv = {}): Promise<{ agent: AgentHandle; id: string; container: string }> {
  const agent = await startAgent({ bind, args: ['--open'], env });
  const id = await nodeId(agent);
  const created = await postService(agent, { name: 'fenced', image: HTTPD_IMAGE, ports: ['80'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitServing(agent, 'fenced', 1);
  const [container] = await nodeContainers(id);
  assert.ok(container, 'the replica runs');
  assert.equal(watchdogOf(agent.pid).length, 1, 'one watchdog waits for the agent');
  return { agent, id, container };
}

test('kill -9 of an agent: its watchdog kills its containers; a clean stop leaves the watchdog nothing to do', { timeout: 120_000 }, async () => {
  const { agent, id } = await agentWithService('127.73.1.1');
  await agent.stop('SIGKILL');
  const killedAt = Date.now();
  await waitFor("the dead agent's container killed", async () => (await nodeContainers(id)).length === 0, 10_000, 50);
  process.stdout.write(`# container killed ${Date.now() - killedAt} ms after kill -9 of its agent\n`);
  await waitFor('the watchdog logged what it did', () => /died without stopping its containers: killed 1 of them/.test(agent.log()), 5000);
  await waitFor('the watchdog gone', () => watchdogOf(agent.pid).length === 0, 5000);

  // the same data dir again, then a clean stop: the agent stops its container itself and marks it
  const again = await startAgent({ bind: '127.73.1.1', dataDir: agent.dataDir });
  await waitServing(again, 'fenced', 1);
  const [watchdog] = watchdogOf(again.pid);
  assert.ok(watchdog, 'the restarted agent has its own watchdog');
  assert.equal(await again.stop('SIGTERM'), 0);
  await waitFor('the watchdog gone', () => !pidAlive(watchdog!), 5000);
  assert.equal(existsSync(cleanExitMark(again.dataDir, again.pid)), false, 'the watchdog consumed the clean-exit mark');
  assert.doesNotMatch(again.log().slice(again.log().lastIndexOf('agent stopping')), /died without stopping/);
  assert.equal((await nodeContainers(id)).length, 0);
});

test('warren fence (systemd ExecStopPost): kills after an unclean exit, nothing after a clean one, refused while the agent runs', { timeout: 120_000 }, async () => {
  const { agent, id, container } = await agentWithService('127.73.1.2');
  const fence = (env: NodeJS.ProcessEnv) => cli(['--data-dir', agent.dataDir, 'fence'], env);

  const running = await fence({});
  assert.equal(running.code, 1);
  assert.match(running.stderr, /^warren: the agent \(pid \d+\) runs on .* stop it first\n$/);

  // systemd's KillMode=mixed kills the watchdog together with a dead agent: only ExecStopPost is left
  const [watchdog] = watchdogOf(agent.pid);
  process.kill(watchdog!, 'SIGKILL');
  await agent.stop('SIGKILL');
  assert.deepEqual(await nodeContainers(id), [container], 'nothing else killed it');

  const clean = await fence({ EXIT_CODE: 'exited', EXIT_STATUS: '0' });
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /nothing to fence/);
  assert.deepEqual(await nodeContainers(id), [container], 'a clean exit kills nothing');

  const killed = await fence({ EXIT_CODE: 'killed', EXIT_STATUS: 'KILL' });
  assert.equal(killed.code, 0, killed.stderr);
  assert.match(killed.stdout, new RegExp(`^killed 1 of 1 container\\(s\\) of node ${id}\\n$`));
  assert.deepEqual(await nodeContainers(id), []);
});

/** The run id an agent process wrote to its data dir ("<pid> <run> <watchdog pid>"). */
async function runOf(agent: AgentHandle): Promise<string> {
  const [pid, run] = (await readFile(runFile(agent.dataDir), 'utf8')).trim().split(' ');
  assert.equal(Number(pid), agent.pid, 'the run file is this agent process\'s');
  return run!;
}

const label = async (container: string, key: string) => (await docker('inspect', '-f', `{{index .Config.Labels "${key}"}}`, container)).trim();
const running = async (container: string) => (await docker('inspect', '-f', '{{.State.Running}}', container)).trim() === 'true';

test('the fence race: a start that lands after the first look is killed by the second; a restarted agent\'s run is spared and it waits for the fence', { timeout: 120_000 }, async () => {
  // a wide window between the two looks, so the test can land starts in it deterministically
  const { agent, id, container } = await agentWithService('127.73.1.3', { WARREN_FENCE_RECHECK_MS: '8000' });
  const dead = await runOf(agent);
  assert.equal(await label(container, 'warren.run'), dead, 'the replica carries its agent process\'s run id');
  await agent.stop('SIGKILL');
  await waitFor('the first look', () => /died without stopping its containers: killed 1 of them/.test(agent.log()), 10_000, 50);

  // the same node's agent restarted at once: it names its run, then waits for the dead one's fence
  const again = await startAgent({ bind: '127.73.1.3', dataDir: agent.dataDir, waitReady: false });
  await waitFor('the restarted agent waits for the fence', () => /waiting for the fence of the previous agent/.test(again.log()), 10_000, 50);
  const live = await runOf(again);
  assert.notEqual(live, dead);
  // a start of the dead run that was in flight lands now, after the first look; and a container of the live run
  await docker('run', '-d', '--name', STRAYS[0]!, '--label', `warren.node=${id}`, '--label', `warren.run=${dead}`, HTTPD_IMAGE);
  await docker('run', '-d', '--name', STRAYS[1]!, '--label', `warren.node=${id}`, '--label', `warren.run=${live}`, HTTPD_IMAGE);
  assert.ok(!/second look/.test(agent.log()), 'both landed before the second look');
  assert.ok(await running(STRAYS[0]!));

  await waitFor('the second look', () => /second look, for starts in flight when the agent \(pid \d+\) died: killed 1 of them/.test(agent.log()), 15_000, 50);
  await waitFor('the late start of the dead run killed', async () => !(await running(STRAYS[0]!)), 5000, 50);
  assert.equal(await running(STRAYS[1]!), true, 'the live run\'s container is spared');
  await waitFor('the watchdog gone', () => watchdogOf(agent.pid).length === 0, 5000);

  // the restarted agent started nothing before the fence was done, so the fence killed nothing of it
  await waitFor('the restarted agent healthy', async () => (await again.health()).status === 200, 30_000);
  await waitServing(again, 'fenced', 1);
  assert.equal((await nodeContainers(id)).length, 1);
  assert.doesNotMatch(again.log(), /has not finished: starting anyway/);
});

test('a restarted agent adopts the running container of an unfenced run (no recreation for its other run label); its own fence kills it', { timeout: 120_000 }, async () => {
  const { agent, id, container } = await agentWithService('127.73.1.4');
  const [watchdog] = watchdogOf(agent.pid);
  process.kill(watchdog!, 'SIGKILL');
  await agent.stop('SIGKILL');
  assert.deepEqual(await nodeContainers(id), [container], 'nothing fenced it');

  const again = await startAgent({ bind: '127.73.1.4', dataDir: agent.dataDir });
  assert.notEqual(await runOf(again), await label(container, 'warren.run'));
  await waitServing(again, 'fenced', 1);
  assert.deepEqual(await nodeContainers(id, true), [container], 'the same container, adopted');
  assert.equal(await running(container), true);

  await again.stop('SIGKILL');
  await waitFor('the adopted container of the older run killed', async () => (await nodeContainers(id)).length === 0, 10_000, 50);
});
