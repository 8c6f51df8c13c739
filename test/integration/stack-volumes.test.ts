/**
 * A stack's named volume is a Warren volume (issues 13 and 14), on 3 real agents sharing one
 * Docker engine: a writer appends a counter to a file in the stack's volume `data`, which a second
 * service of the stack mounts read-only. The stack runs unpinned on one node; once the volume is
 * replicated, that node is killed (-9), its containers removed and its data dir deleted (the disk
 * is gone): the stack comes back together on another node, on its data (the counter file is
 * contiguous). `stack rm` keeps the volume (volume ls shows it); `stack rm --volumes` deletes
 * every copy, and the stack's local Docker volume on the nodes that are up (the dead one is named). The volume's snapshot policy comes from its x-warren block.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, cleanupAll, type AgentHandle } from '../helpers/agents.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { serviceView, startCluster } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.72.0.1', '127.72.0.2', '127.72.0.3'];
const STACK = 'stackvol-it';
const SERVICES = [`${STACK}-reader`, `${STACK}-writer`];
const VOLUME = `${STACK}.data`;
const CACHE = `warren-stack_${STACK}_cache`;
let agents: AgentHandle[] = [];
let ids: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'stackvol-it-'));

// resumes from the last line and notes where it resumed; "$" doubled for compose's interpolation
const WRITER = [
  'n=$(busybox tail -n1 /data/counter 2>/dev/null); n=${n:-0}',
  'echo "$n" >> /data/starts',
  'while :; do n=$((n+1)); echo "$n" >> /data/counter; busybox usleep 10000; done',
].join('; ').split('$').join('$$');

const COMPOSE = `
name: ${STACK}
services:
  writer:
    image: ${HTTPD_IMAGE}
    command: ["sh", "-c", ${JSON.stringify(WRITER)}]
    volumes: [data:/data, cache:/cache]
  reader:
    image: ${HTTPD_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /data"]
    volumes: ["data:/data:ro"]
volumes:
  data:
    x-warren: {snapshot_interval: 1s, retention: {hourly: 48}}
  cache:
    x-warren: {local: true}
`;

before(async () => {
  await ensureHttpdImage();
  writeFileSync(join(dir, 'compose.yaml'), COMPOSE);
  ({ agents, ids } = await startCluster(IPS, ['--snapshot-interval-ms', '1000']));
});

after(async () => {
  await cleanupAll();
  await removeNodesDocker(ids, [CACHE]);
  rmSync(dir, { recursive: true, force: true });
});

const liveFile = (a: AgentHandle, file: string) => join(a.dataDir, 'volume-data', VOLUME, file);
const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

/** The one node every service of the stack runs on, else undefined. */
async function stackNode(a: AgentHandle): Promise<string | undefined> {
  const views = await Promise.all(SERVICES.map((s) => serviceView(a, s)));
  const nodes = new Set(views.flatMap((v) => v.replicas.map((r) => (r.state === 'running' ? r.nodeId : 'not running'))));
  return nodes.size === 1 && !nodes.has('not running') ? [...nodes][0]! : undefined;
}

async function volumes(a: AgentHandle): Promise<any[] | undefined> {
  const r = await cli(['--api', a.api, 'volume', 'ls', '--json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as { volumes: any[] }).volumes : undefined;
}

/** The reader's container on a node. */
async function readerContainer(node: string): Promise<string> {
  const id = (await docker('ps', '-q', '--filter', `label=warren.node=${node}`, '--filter', `label=warren.service=${SERVICES[0]}`)).trim();
  if (!id) throw new Error(`no reader container on ${node}`);
  return id;
}

/** The reader's mount of the volume, as Docker created it. */
async function readerMount(node: string): Promise<{ Source: string; RW: boolean }> {
  const mounts = JSON.parse(await docker('inspect', '--format', '{{json .Mounts}}', await readerContainer(node))) as { Source: string; Destination: string; RW: boolean }[];
  return mounts.find((m) => m.Destination === '/data')!;
}

test("a stack's volume is replicated and follows the stack to another node after a kill -9 and a lost disk", { timeout: 300_000 }, async () => {
  const admin = (a: AgentHandle) => ['--data-dir', a.dataDir, '--api', a.api];
  const r = await cli([...admin(agents[0]!), 'deploy', '-f', join(dir, 'compose.yaml'), '--detach']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const first = await waitFor('the stack running on one node', () => stackNode(agents[0]!).catch(() => undefined), 60_000, 100);
  const victim = agents[ids.indexOf(first)]!;

  // every node holds a copy, some snapshot is on 2 or more; the view names the stack and its services
  const ls = await waitFor('3 copies of the stack\'s volume', async () => {
    const v = (await volumes(agents[0]!))?.find((x) => x.name === VOLUME);
    return v && v.copies.length === 3 && v.atRiskMs !== null ? v : undefined;
  }, 60_000, 250);
  assert.equal(ls.stack, STACK);
  // the policy its x-warren gives, set by the deploy: what is given, the rest the defaults
  const inspect = await cli(['--api', agents[1]!.api, 'volume', 'policy', VOLUME, '--json']);
  assert.equal(inspect.code, 0, inspect.stderr);
  const policy = JSON.parse(inspect.stdout) as { policy: { intervalMs: number; retention: { hourly: number } }; defaults: string[] };
  assert.equal(policy.policy.intervalMs, 1000);
  assert.equal(policy.policy.retention.hourly, 48);
  assert.ok(!policy.defaults.includes('intervalMs') && !policy.defaults.includes('retention.hourly') && policy.defaults.includes('retention.daily'), JSON.stringify(policy));
  assert.deepEqual(ls.service.split(',').sort(), SERVICES);
  assert.equal((await volumes(agents[0]!))!.some((v) => v.name.includes('cache')), false, 'the x-warren local volume is not a Warren volume');
  for (const a of agents) await waitFor(`a copy of the counter on ${a.bind}`, () => existsSync(liveFile(a, 'counter')), 20_000, 100);
  // the reader shares the writer's live copy, read-only
  assert.deepEqual(await readerMount(first), { ...(await readerMount(first)), Source: join(victim.dataDir, 'volume-data', VOLUME), RW: false });

  await victim.stop('SIGKILL', 5000);
  await removeNodesDocker([first]); // its containers are gone with the machine
  const lastWritten = Number(lines(liveFile(victim, 'counter')).at(-1));
  rmSync(victim.dataDir, { recursive: true, force: true }); // and so is its disk
  const survivor = agents.find((a) => a !== victim)!;

  const second = await waitFor('the stack running together on another node', async () => {
    const n = await stackNode(survivor).catch(() => undefined);
    return n && n !== first ? n : undefined;
  }, 90_000, 200);
  const home = agents[ids.indexOf(second)]!;
  await waitFor('the moved writer appending', () => existsSync(liveFile(home, 'starts')) && lines(liveFile(home, 'starts')).length >= 2, 30_000, 100);
  await waitFor('the moved writer past its start', () => Number(lines(liveFile(home, 'counter')).at(-1)) > Number(lines(liveFile(home, 'starts')).at(-1)) + 20, 30_000, 100);
  const counter = lines(liveFile(home, 'counter')).map(Number);
  counter.forEach((n, i) => assert.equal(n, i + 1, `line ${i + 1} of the counter file is ${n}: the file is not contiguous`));
  const resumedFrom = Number(lines(liveFile(home, 'starts')).at(-1));
  process.stdout.write(`# written before the kill: ${lastWritten}; resumed from ${resumedFrom}\n`);
  assert.ok(resumedFrom > 0, 'the moved stack started on its data, not on an empty volume');
  assert.ok(resumedFrom <= lastWritten);
  assert.equal((await readerMount(second)).Source, join(home.dataDir, 'volume-data', VOLUME), 'the moved reader shares the moved writer\'s copy');

  // stack rm keeps the volume; stack rm --volumes deletes every copy
  const rm = await cli([...admin(survivor), 'stack', 'rm', STACK]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.ok((await volumes(survivor))!.some((v) => v.name === VOLUME && v.stack === STACK), 'kept without --volumes');
  assert.ok((await docker('volume', 'ls', '-q')).split('\n').includes(CACHE), 'the local volume is there before');
  const rmv = await cli([...admin(survivor), 'stack', 'rm', STACK, '--volumes', '--json']);
  assert.equal(rmv.code, 0, rmv.stderr);
  const removed = (JSON.parse(rmv.stdout) as { removed: { volumes: string[]; localVolumes: { volume: string; removedOn: string[]; pending: { node: string; state: string }[] }[] } }).removed;
  assert.ok(removed.volumes.includes(VOLUME) && removed.volumes.includes(CACHE), rmv.stdout);
  // the local volume: every node that is up answered (one engine here: whichever came first
  // removed it, the other found none); the dead node is named, to remove its own when back
  const names = agents.map((a) => `n${a.bind.split('.').pop()}`); // the test agents' names (helpers/agents.ts)
  const victimName = names[agents.indexOf(victim)]!;
  const [cache] = removed.localVolumes;
  assert.equal(cache?.volume, CACHE, rmv.stdout);
  assert.equal(cache.removedOn.length, 1, rmv.stdout);
  assert.ok(names.filter((n) => n !== victimName).includes(cache.removedOn[0]!), rmv.stdout);
  assert.deepEqual(cache.pending.map((p) => p.node), [victimName], rmv.stdout);
  assert.notEqual(cache.pending[0]!.state, 'alive');
  assert.ok(!(await docker('volume', 'ls', '-q')).split('\n').includes(CACHE), 'the local volume is gone');
  const live = agents.filter((a) => a !== victim);
  await waitFor('every copy of the stack\'s volume deleted', () => live.every((a) => !existsSync(join(a.dataDir, 'volume-data', VOLUME)) && !existsSync(join(a.dataDir, 'volume-store', 'volumes', VOLUME))), 30_000, 200);
  assert.deepEqual((await volumes(survivor))!.filter((v) => v.name === VOLUME), []);
});
