/**
 * `stack rm --volumes` of a stack's local Docker volume (`x-warren: {local: true}`) while the node
 * holding it is down: the order waits for that node, which removes its own copy when it is back,
 * answers, and the order is then deleted (core/compose/local-volume-removal.ts, the driver
 * runtime/local-volume-sweeper.ts). Two real agents share one Docker engine, where the node that
 * is up removes "its" volume, which is the same Docker object: the test makes the volume again
 * while the other node is down, as that node's own disk would still hold it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEYS } from '../../src/consensus/cluster-store.ts';
import { cli, cleanupAll, etcdClientOf, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { membersOf } from '../helpers/cluster.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { serviceView, startCluster } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.72.0.11', '127.72.0.12'];
const STACK = 'localback-it';
const SERVICE = `${STACK}-keeper`;
const CACHE = `warren-stack_${STACK}_cache`;
const HOLDER_NAME = 'n12'; // the test agents' names (helpers/agents.ts)
let agents: AgentHandle[] = [];
let ids: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'localback-it-'));

const COMPOSE = `
name: ${STACK}
services:
  keeper:
    image: ${HTTPD_IMAGE}
    command: ["sh", "-c", "echo kept > /cache/file && exec httpd -f -p 80 -h /www"]
    volumes: [cache:/cache]
    deploy:
      placement:
        constraints: ["node.hostname==${HOLDER_NAME}"]
volumes:
  cache:
    x-warren: {local: true}
`;

before(async () => {
  await ensureHttpdImage();
  writeFileSync(join(dir, 'compose.yaml'), COMPOSE);
  ({ agents, ids } = await startCluster(IPS));
});

after(async () => {
  await cleanupAll();
  await removeNodesDocker(ids, [CACHE]);
  rmSync(dir, { recursive: true, force: true });
});

const dockerVolumes = async () => (await docker('volume', 'ls', '-q')).split('\n');

test('a node down at stack rm --volumes removes its own copy of the local volume when it is back; then the order is gone', { timeout: 240_000 }, async () => {
  const [up, holder] = agents as [AgentHandle, AgentHandle];
  const [upId, holderId] = ids as [string, string];
  const admin = ['--data-dir', up.dataDir, '--api', up.api];
  const deployed = await cli([...admin, 'deploy', '-f', join(dir, 'compose.yaml'), '--detach']);
  assert.equal(deployed.code, 0, deployed.stderr + deployed.stdout);
  await waitFor('the keeper running on the holder', async () => (await serviceView(up, SERVICE)).replicas.some((r) => r.state === 'running' && r.nodeId === holderId), 60_000, 200);
  assert.ok((await dockerVolumes()).includes(CACHE), 'the local volume was made');

  await holder.stop('SIGKILL', 5000);
  await removeNodesDocker([holderId]); // its containers stop with the machine; its disk (the volume) stays
  await waitFor('the holder dead to the other node', async () => (await membersOf(up)).find((m) => m.id === holderId)?.state === 'dead', 30_000, 200);

  const client = await etcdClientOf(up, [`https://${up.bind}:7372`]);
  try {
    const rm = await cli([...admin, 'stack', 'rm', STACK, '--volumes', '--json']);
    assert.equal(rm.code, 0, rm.stderr);
    const [cache] = (JSON.parse(rm.stdout) as { removed: { localVolumes: { volume: string; pending: { node: string; state: string }[] }[] } }).removed.localVolumes;
    assert.equal(cache?.volume, CACHE, rm.stdout);
    assert.deepEqual(cache.pending.map((p) => p.node), [HOLDER_NAME], 'the holder is named, to remove its own when back');
    const order = JSON.parse((await client.get(KEYS.localVolumeRemovalPrefix + CACHE).string())!) as { id: string; nodes: string[] };
    assert.deepEqual([...order.nodes].sort(), [...ids].sort());
    const ackOf = async (node: string) => {
      const raw = await client.get(`${KEYS.localVolumeAckPrefix}${CACHE}/${node}`).string();
      return raw === null ? undefined : (JSON.parse(raw) as { order: string; removed: boolean });
    };
    // the node that is up answered (one engine: it removed the shared Docker object)
    await waitFor('the up node\'s answer', async () => (await ackOf(upId))?.order === order.id || undefined, 15_000, 100);
    assert.ok(!(await dockerVolumes()).includes(CACHE));
    // the holder's own disk still holds its copy
    await docker('volume', 'create', CACHE);
    assert.equal(await ackOf(holderId), undefined, 'no answer from a node that is down');

    const back = await startAgent({ bind: holder.bind, dataDir: holder.dataDir });
    agents[1] = back;
    await waitFor('the holder removed its copy', async () => !(await dockerVolumes()).includes(CACHE), 60_000, 200);
    const answer = await waitFor('the holder\'s answer', async () => ((await ackOf(holderId))?.order === order.id ? await ackOf(holderId) : undefined), 30_000, 100);
    assert.equal(answer.removed, true, 'it says it removed a volume (the one its disk held)');
    // every named node answered: the order and its answers are deleted a while later
    await waitFor('the order and its answers deleted', async () => (await client.get(KEYS.localVolumeRemovalPrefix + CACHE).string()) === null
      && (await client.getAll().prefix(`${KEYS.localVolumeAckPrefix}${CACHE}/`).keys()).length === 0, 60_000, 250);
    assert.equal((await (await fetch(`${up.api}/v1/stacks/${STACK}`)).status), 404);
  } finally {
    client.close();
  }
});
