/**
 * A stack on a 3-node cluster (real agents, one Docker engine): its services are placed together
 * on one node; when that node is killed (-9, and its containers removed as a dead machine's
 * would be gone) the stack comes back together on another node, where the front reaches the back
 * by name again.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, cleanupAll, type AgentHandle } from '../helpers/agents.ts';
import { ensureHttpdImage } from '../helpers/images.ts';
import { httpGet, runningReplicas, serviceView, startCluster } from '../helpers/services.ts';
import { frontBackCompose, removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.60.0.3', '127.60.0.4', '127.60.0.5'];
const STACK = 'stacks-it-ha';
let agents: AgentHandle[] = [];
let ids: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'stacks-it-ha-'));

before(async () => {
  await ensureHttpdImage();
  writeFileSync(join(dir, 'compose.yaml'), frontBackCompose(STACK));
  ({ agents, ids } = await startCluster(IPS));
});

after(async () => {
  await cleanupAll();
  await removeNodesDocker(ids);
  rmSync(dir, { recursive: true, force: true });
});

/** The one node both services run on (every replica running), else undefined. */
async function stackNode(a: AgentHandle): Promise<string | undefined> {
  const views = await Promise.all(['back', 'front'].map((s) => serviceView(a, `${STACK}-${s}`)));
  const nodes = new Set(views.flatMap((v) => v.replicas.map((r) => (r.state === 'running' ? r.nodeId : 'not running'))));
  return nodes.size === 1 && !nodes.has('not running') ? [...nodes][0]! : undefined;
}

async function frontPage(a: AgentHandle): Promise<string | undefined> {
  const [rep] = await runningReplicas(a, `${STACK}-front`);
  return rep ? httpGet(rep.url) : undefined;
}

test("a stack's services run together and move together when their node dies", { timeout: 240_000 }, async () => {
  // --detach: the test waits itself (the CLI helper kills a command after 30 s, and three agents
  // starting on a loaded machine may take longer than that to run the stack)
  const r = await cli(['--data-dir', agents[0]!.dataDir, '--api', agents[0]!.api, 'deploy', '-f', join(dir, 'compose.yaml'), '--detach']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const first = await waitFor('both services running on one node', () => stackNode(agents[0]!), 60_000, 100);
  await waitFor('the front serving the back\'s page', async () => (await frontPage(agents[0]!)) === 'back says one', 30_000, 100);

  const victim = agents[ids.indexOf(first)]!;
  const survivor = agents.find((a) => a !== victim)!;
  await victim.stop('SIGKILL', 5000);
  await removeNodesDocker([first]); // a dead machine's containers are gone with it
  const second = await waitFor('both services running together on another node', async () => {
    const n = await stackNode(survivor).catch(() => undefined);
    return n && n !== first ? n : undefined;
  }, 60_000, 200);
  assert.ok(ids.includes(second));
  await waitFor('the moved front serving the moved back\'s page', async () => (await frontPage(survivor)) === 'back says one', 30_000, 100);
});
