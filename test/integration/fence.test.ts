/**
 * The fence (src/runtime/fence-watchdog.ts, src/cli/fence-command.ts): an agent that dies without
 * stopping its containers (kill -9) must not leave them running while the cluster starts them
 * elsewhere. Real agents (single-node clusters on 127.75.0.x), real Docker, the real CLI.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cli, cleanupAll, findPids, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { ensureHttpdImage, nodeContainers, removeClusterContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { postService, waitServing } from '../helpers/services.ts';
import { nodeId } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';
import { pidAlive } from '../../src/system/data-dir.ts';
import { cleanExitMark } from '../../src/runtime/fence-watchdog.ts';

before(async () => {
  await ensureHttpdImage();
});

after(async () => {
  await cleanupAll();
  await removeClusterContainers();
});

/** The watchdog of one agent process: `sh -c SCRIPT warren-fence <agent pid> ...`. */
const watchdogOf = (agentPid: number) => findPids((c) => c.split('\0').includes('warren-fence') && c.split('\0').includes(String(agentPid)));

/** A single-node cluster running one replica of an HTTP service; returns its container. */
async function agentWithService(bind: string): Promise<{ agent: AgentHandle; id: string; container: string }> {
  const agent = await startAgent({ bind, args: ['--open'] });
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
  const { agent, id } = await agentWithService('127.75.0.1');
  await agent.stop('SIGKILL');
  const killedAt = Date.now();
  await waitFor("the dead agent's container killed", async () => (await nodeContainers(id)).length === 0, 10_000, 50);
  process.stdout.write(`# container killed ${Date.now() - killedAt} ms after kill -9 of its agent\n`);
  await waitFor('the watchdog logged what it did', () => /died without stopping its containers: killed 1 of them/.test(agent.log()), 5000);
  await waitFor('the watchdog gone', () => watchdogOf(agent.pid).length === 0, 5000);

  // the same data dir again, then a clean stop: the agent stops its container itself and marks it
  const again = await startAgent({ bind: '127.75.0.1', dataDir: agent.dataDir });
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
  const { agent, id, container } = await agentWithService('127.75.0.2');
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
