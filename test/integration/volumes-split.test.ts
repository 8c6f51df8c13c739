/**
 * A volume's owner that stalls or is cut off (issue 13), on 3 real agents sharing one Docker
 * engine, one writer appending a counter to its replicated volume ~80 times a second:
 *  - a 1.5 s SIGSTOP of the owner's agent moves nothing and loses nothing;
 *  - with both peers' agents stopped no snapshot can be replicated: `volume.at_risk` is published
 *    for the volume above its threshold, and cleared once the peers are back;
 *  - a partitioned owner: the writer moves on, the cut-off node fences itself; after the heal there
 *    is one lineage, and the old owner's writes nobody else got are kept as a named volume
 *    (`NAME.fenced-e<EPOCH>-<node>`), listed, exported, then removed on request.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cleanupAll, etcdClientOf, type AgentHandle } from '../helpers/agents.ts';
import { followEvents } from '../helpers/events.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { healAll, isolate } from '../helpers/partition.ts';
import { adminHeaders, postService, serviceView, startCluster } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.74.13.1', '127.74.13.2', '127.74.13.3'];
const SERVICE = 'volrisk-split';
const VOLUME = `${SERVICE}_data`;
const INTERVAL_MS = 1000;
let agents: AgentHandle[] = [];
let ids: string[] = [];

// resumes from the last line and notes where it resumed
const WRITER = [
  'n=$(busybox tail -n1 /data/counter 2>/dev/null); n=${n:-0}',
  'echo "$n" >> /data/starts',
  'while :; do n=$((n+1)); echo "$n" >> /data/counter; busybox usleep 10000; done',
].join('; ');

before(async () => {
  await ensureHttpdImage();
  ({ agents, ids } = await startCluster(IPS, ['--snapshot-interval-ms', String(INTERVAL_MS)]));
  const created = await postService(agents[0]!, { name: SERVICE, image: HTTPD_IMAGE, command: ['sh', '-c', WRITER], volumes: ['data:/data'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
});

after(async () => {
  for (const a of agents) if (a.running) process.kill(a.pid, 'SIGCONT');
  await healAll();
  // the writers go before the data dirs: one still appending would race their removal
  for (const a of agents) await a.stop('SIGKILL', 5000);
  await removeNodesDocker(ids);
  await cleanupAll();
});

const liveFile = (a: AgentHandle, file: string) => join(a.dataDir, 'volume-data', VOLUME, file);
const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);
const fencedStores = (a: AgentHandle) => readdirSync(join(a.dataDir, 'volume-store', 'volumes')).filter((n) => n.includes('.fenced-'));
const agentOf = (node: string) => agents[ids.indexOf(node)]!;

/** the volume's etcd record, read through `via`'s etcd member */
async function meta(via: AgentHandle): Promise<{ owner: string; epoch: number }> {
  const etcd = await etcdClientOf(via, [`https://${via.bind}:7372`]);
  try {
    return JSON.parse((await etcd.get(`/warren/volume-meta/${VOLUME}`).string())!) as { owner: string; epoch: number };
  } finally {
    etcd.close();
  }
}

async function runningNode(viewer: AgentHandle): Promise<string | undefined> {
  const v = await serviceView(viewer, SERVICE).catch(() => undefined);
  return v?.replicas.find((x) => x.state === 'running')?.nodeId ?? undefined;
}

async function volumes(viewer: AgentHandle): Promise<any[]> {
  const r = await cli(['--api', viewer.api, 'volume', 'ls', '--json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as { volumes: any[] }).volumes : [];
}

/** every number of the file, in order, 1..n with none missing or repeated */
function assertContiguous(values: number[], what: string): void {
  values.forEach((n, i) => assert.equal(n, i + 1, `${what}: line ${i + 1} is ${n}: not contiguous`));
}

/** Polls the replica's assignment (slot -> node) every 100 ms until stopped: every distinct map seen. */
function watchAssignment(viewer: AgentHandle) {
  const seen: string[] = [];
  let polls = 0;
  let on = true;
  const loop = (async () => {
    while (on) {
      const view = await serviceView(viewer, SERVICE).catch(() => undefined);
      if (view) {
        polls++;
        const map = view.replicas.map((r) => `${r.slot}:${r.nodeId}`).join(',');
        if (seen.at(-1) !== map) seen.push(map);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { stop: async () => ((on = false), await loop, { seen, polls }) };
}

/** A copy record of the volume on `node` of a snapshot taken after `since` (the owner's loop goes on). */
async function copyAfter(viewer: AgentHandle, node: string, since: number): Promise<boolean> {
  const name = (await agentOf(node).health()).body.node.name as string;
  const v = (await volumes(viewer)).find((x) => x.name === VOLUME);
  return !!v?.copies.some((c: { node: string; ageMs: number }) => c.node === name && Date.now() - c.ageMs > since);
}

test('a 1.5 s pause of the owner moves nothing and loses nothing', { timeout: 120_000 }, async () => {
  const owner = await waitFor('the writer running', () => runningNode(agents[0]!), 60_000, 100);
  await waitFor('3 copies of the volume', async () => (await volumes(agents[0]!)).find((v) => v.name === VOLUME && v.copies.length === 3 && v.atRiskMs !== null), 60_000, 250);
  const victim = agentOf(owner);
  const viewer = agents.find((a) => a !== victim)!;
  const epoch = (await meta(viewer)).epoch;
  const peers = ids.filter((id) => id !== owner);
  const watch = watchAssignment(viewer);
  let watched: { seen: string[]; polls: number } = { seen: [], polls: 0 };
  const before = lines(liveFile(victim, 'counter')).length;
  process.kill(victim.pid, 'SIGSTOP');
  const stoppedAt = Date.now();
  process.stdout.write(`# ${stoppedAt}: SIGSTOP ${victim.bind} (pid ${victim.pid})\n`);
  await new Promise((r) => setTimeout(r, 1500)); // the stall is the subject of the test
  process.kill(victim.pid, 'SIGCONT');
  const resumedAt = Date.now();
  try {
    // the owner's loop goes on: both peers get snapshots taken after the pause
    for (const p of peers) await waitFor(`a snapshot after the pause on ${agentOf(p).bind}`, () => copyAfter(viewer, p, resumedAt), 30_000, 250);
    // and a few more intervals, in which a late verdict would show as a move
    const until = Date.now() + 3 * INTERVAL_MS;
    await waitFor('3 more snapshot intervals', () => Date.now() >= until, 10_000, 100);
  } finally {
    watched = await watch.stop();
  }
  const { seen, polls } = watched;
  process.stdout.write(`# paused the owner's agent ${resumedAt - stoppedAt} ms; ${polls} polls of the assignment\n`);
  assert.ok(polls >= 20, `the assignment was read throughout (${polls} polls)`);
  assert.deepEqual(seen, [`0:${owner}`], 'the replica never moved');
  assert.equal(await runningNode(viewer), owner);
  const m = await meta(viewer);
  assert.deepEqual(m, { ...m, owner, epoch }, 'same owner, same epoch');
  for (const a of agents) assert.deepEqual(fencedStores(a), [], `no fenced snapshot on ${a.bind}`);
  const counter = lines(liveFile(victim, 'counter')).map(Number);
  assert.ok(counter.length > before + 100, `the writer went on (${before} -> ${counter.length} lines)`);
  assertContiguous(counter, 'the counter file');
  assert.equal(lines(liveFile(victim, 'starts')).length, 1, 'the writer was never restarted');
});

test('both peers stopped: volume.at_risk is published above the threshold, and cleared when they are back', { timeout: 120_000 }, async () => {
  const owner = await waitFor('the writer running', () => runningNode(agents[0]!), 60_000, 100);
  const home = agentOf(owner);
  const peers = agents.filter((a) => a !== home);
  const events = await followEvents(home.api, ['volume.at_risk']);
  const mine = (e: any) => e.name === 'volume.at_risk' && e.payload?.volume === VOLUME;
  // a busy machine can push a cycle past the threshold on its own: start from a volume not at risk
  // (the owner's figure well under the clear point, so its check, every interval, has cleared it)
  await waitFor('the data at risk under 1 s', async () => {
    const text = await (await fetch(`${home.api}/metrics`)).text();
    const s = new RegExp(`warren_volume_at_risk_seconds\\{volume="${VOLUME}"\\} ([\\d.]+)`).exec(text)?.[1];
    return s !== undefined && Number(s) < 1 && !events.events.filter(mine).at(-1)?.payload.atRisk;
  }, 60_000, 100);
  const stoppedAt = Date.now();
  for (const p of peers) process.kill(p.pid, 'SIGSTOP');
  process.stdout.write(`# ${stoppedAt}: SIGSTOP ${peers.map((p) => p.bind).join(', ')}\n`);
  let risk: any;
  try {
    risk = await events.waitFor('volume.at_risk (at risk)', (e) => mine(e) && e.time >= stoppedAt && e.payload.atRisk === true, 30_000);
  } finally {
    for (const p of peers) process.kill(p.pid, 'SIGCONT');
  }
  const contAt = Date.now();
  const ms = risk.time - stoppedAt;
  process.stdout.write(`# volume.at_risk ${ms} ms after both peers stopped: ${JSON.stringify(risk.payload)}\n`);
  assert.equal(risk.payload.service, SERVICE);
  assert.equal(risk.payload.node, owner);
  assert.equal(risk.payload.thresholdMs, 3 * INTERVAL_MS);
  assert.ok(risk.payload.atRiskMs > risk.payload.thresholdMs, `the figure (${risk.payload.atRiskMs} ms) is above the threshold`);
  // from the last cycle a peer acknowledged: at most one cycle before the stop, a loaded one included
  assert.ok(risk.payload.atRiskMs <= ms + 5 * INTERVAL_MS, `the figure (${risk.payload.atRiskMs} ms) is the time without peers, give or take a cycle`);
  const clear = await events.waitFor('volume.at_risk (cleared)', (e) => mine(e) && e.time >= contAt && e.payload.atRisk === false, 60_000);
  assert.ok(clear.payload.atRiskMs <= 2 * INTERVAL_MS, `cleared at ${clear.payload.atRiskMs} ms`);
  await events.stop();
  const raised = events.events.filter((e) => mine(e) && e.time >= stoppedAt && e.time <= clear.time && e.payload.atRisk);
  assert.equal(raised.length, 1, 'published once while at risk');
  // the stall of 2 of 3 agents moved nothing: the owner stayed alive (a peer just resumed may take
  // a moment to answer its API: its view is read once it answers)
  assert.equal(await waitFor('a resumed peer shows the replica running', () => runningNode(peers[0]!), 20_000, 100), owner);
});

test('a partitioned owner: one lineage after the heal; its writes nobody else got are a named volume', { timeout: 180_000 }, async () => {
  const owner = await waitFor('the writer running', () => runningNode(agents[0]!), 60_000, 100);
  await waitFor('3 copies of the volume', async () => (await volumes(agents[0]!)).find((v) => v.name === VOLUME && v.copies.length === 3 && v.atRiskMs !== null), 60_000, 250);
  const victim = agentOf(owner);
  const others = agents.filter((a) => a !== victim);
  const { epoch } = await meta(others[0]!);
  const ownerName = (await victim.health()).body.node.name as string;
  const cutAt = Date.now();
  const heal = await isolate([victim.pid, ...victim.etcdPids()], others.map((a) => a.bind));
  let oldLast: number;
  let moved: string;
  try {
    moved = await waitFor('the writer running on another node', async () => {
      const n = await runningNode(others[0]!);
      return n && n !== owner ? n : undefined;
    }, 60_000, 200);
    // the cut-off node fences itself and stops its container: its writes end there
    await waitFor('the cut-off node stopped its writer', async () => (await docker('ps', '-q', '--filter', `label=warren.node=${owner}`, '--filter', `label=warren.service=${SERVICE}`)).trim() === '', 30_000, 200);
    const old = lines(liveFile(victim, 'counter')).map(Number);
    assertContiguous(old, 'the old owner\'s counter file');
    oldLast = old.at(-1)!;
  } finally {
    await heal();
  }
  const healedAt = Date.now();
  const home = agentOf(moved);
  const resumedFrom = Number(lines(liveFile(home, 'starts')).at(-1));
  assert.ok(resumedFrom > 0 && resumedFrom < oldLast, `the new owner resumed from ${resumedFrom}, before the old owner's last write ${oldLast}`);
  const m = await meta(others[0]!);
  assert.equal(m.owner, moved);
  assert.ok(m.epoch > epoch, 'the new owner took a new epoch');

  // the old owner's writes after the cut are a volume of their own, listed with one copy on it
  const fencedName = `${VOLUME}.fenced-e${epoch}-${owner.slice(-8).toLowerCase()}`;
  const fenced = await waitFor('the fenced volume listed', async () => (await volumes(others[0]!)).find((v) => v.name === fencedName), 60_000, 250);
  const listedAt = Date.now();
  assert.equal(fenced.node, null, 'no service owns it');
  assert.ok(fenced.copies.some((c: { node: string }) => c.node === ownerName), 'the old owner holds a copy');
  const res = await fetch(`${others[0]!.api}/v1/volumes/${encodeURIComponent(fencedName)}/export`, { headers: await adminHeaders(others[0]!) });
  assert.equal(res.status, 200);
  const tar = Buffer.from(await res.arrayBuffer());
  const kept = execFileSync('tar', ['-xOf', '-', 'counter'], { input: tar, stdio: ['pipe', 'pipe', 'ignore'] }).toString().split('\n').filter(Boolean).map(Number);
  assertContiguous(kept, 'the fenced snapshot\'s counter');
  assert.equal(kept.at(-1), oldLast, 'the fenced snapshot holds every write of the old owner');

  // one lineage: the old owner's copy of the volume follows the new owner's snapshots
  await waitFor('the old owner\'s copy on the new lineage', async () => {
    const v = (await volumes(others[0]!)).find((x) => x.name === VOLUME);
    const mine = v?.copies.find((c: { node: string }) => c.node === ownerName);
    const snaps = await cli(['--api', home.api, 'volume', 'snapshots', VOLUME, '--json']);
    const list = snaps.code === 0 ? (JSON.parse(snaps.stdout) as { snapshots: { id: string; epoch: number }[] }).snapshots : [];
    return mine?.applied && list.some((s) => s.id === mine.snapshot && s.epoch === m.epoch);
  }, 60_000, 250);
  const warm = lines(liveFile(victim, 'counter')).map(Number);
  assertContiguous(warm, 'the old owner\'s warm copy');
  const newCounter = lines(liveFile(home, 'counter')).map(Number);
  assertContiguous(newCounter, 'the new owner\'s counter');
  assert.deepEqual(newCounter.slice(0, warm.length), warm, 'the old owner\'s copy is the new lineage\'s data');
  process.stdout.write(`# cut-off owner wrote up to ${oldLast}; the new owner resumed from ${resumedFrom}; kept as ${fencedName}; healed ${healedAt - cutAt} ms after the cut, listed ${listedAt - healedAt} ms after the heal\n`);

  // removed on request: gone from every node
  const rm = await cli(['--data-dir', others[0]!.dataDir, '--api', others[0]!.api, 'volume', 'rm', fencedName]);
  assert.equal(rm.code, 0, rm.stderr);
  await waitFor('the fenced volume gone everywhere', () => agents.every((a) => fencedStores(a).length === 0), 30_000, 200);
  assert.equal((await volumes(others[0]!)).find((v) => v.name === fencedName), undefined);
});

test('a planned move (drain): the old owner hands everything over and keeps no fenced snapshot', { timeout: 120_000 }, async () => {
  const owner = await waitFor('the writer running', () => runningNode(agents[0]!), 60_000, 100);
  const old = agentOf(owner);
  const viewer = agents.find((a) => a !== old)!;
  const admin = ['--data-dir', viewer.dataDir, '--api', viewer.api];
  const ownerName = (await old.health()).body.node.name as string;
  const drain = await cli([...admin, 'node', 'drain', ownerName]);
  assert.equal(drain.code, 0, drain.stderr);
  const moved = await waitFor('the writer running on another node', async () => {
    const n = await runningNode(viewer);
    return n && n !== owner ? n : undefined;
  }, 60_000, 100);
  assert.match(old.log(), /volume handed over to its new node/);
  // back in service, the old owner is a peer again: its copy follows the new owner's snapshots
  const activate = await cli([...admin, 'node', 'activate', ownerName]);
  assert.equal(activate.code, 0, activate.stderr);
  const { epoch } = await meta(viewer);
  await waitFor('the old owner\'s copy on the new lineage', async () => {
    const v = (await volumes(viewer)).find((x) => x.name === VOLUME);
    const mine = v?.copies.find((c: { node: string }) => c.node === ownerName);
    const snaps = await cli(['--api', agentOf(moved).api, 'volume', 'snapshots', VOLUME, '--json']);
    const list = snaps.code === 0 ? (JSON.parse(snaps.stdout) as { snapshots: { id: string; epoch: number }[] }).snapshots : [];
    return mine?.applied && list.some((s) => s.id === mine.snapshot && s.epoch === epoch);
  }, 60_000, 250);
  assert.deepEqual(fencedStores(old), [], 'nothing was kept aside: the new owner had every write');
  assert.deepEqual((await volumes(viewer)).filter((v) => v.name.includes('.fenced-')), []);
  assertContiguous(lines(liveFile(agentOf(moved), 'counter')).map(Number), 'the counter after the move');
});
