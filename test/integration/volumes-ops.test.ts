/**
 * Restore, clone, export and import of a replicated volume (issue 13) on 3 real agents sharing one
 * Docker engine: a writer appends a counter to its volume; a snapshot is taken, more is written,
 * and the volume is restored from another node than its owner: the writer runs again on the
 * snapshot's data, `before` holds the later writes, every peer's warm copy follows the restored
 * lineage. A clone is mounted by a new service, which sees the data; an export imported on
 * another node exports byte-equal and its copy is the same tree (bytes and metadata).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { cli, cleanupAll, tempDir, WARREN_BIN, type AgentHandle } from '../helpers/agents.ts';
import { followEvents, type EventFollower } from '../helpers/events.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { postService, serviceView, startCluster } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { prng } from '../helpers/prng.ts';
import { describeTree, randomTree, sameTree } from '../helpers/trees.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.71.0.1', '127.71.0.2', '127.71.0.3'];
const SERVICE = 'volops-counter';
const VOLUME = `${SERVICE}_data`;
const CLONE_SERVICE = 'volops-copy';
const CLONE = `${CLONE_SERVICE}_data`;
const IMPORTED = 'volops-imported';
let agents: AgentHandle[] = [];
let ids: string[] = [];
let events: EventFollower | undefined;
/** the node the drain test drained (it stays drained for the tests after it) */
let drained: string | undefined;

// resumes from the last line of the counter (noting where in `starts`), then appends ~50 lines/s,
// each line also to its node's own :local volume (a witness of what it wrote that no move carries)
const WRITER = [
  'n=$(busybox tail -n1 /data/counter 2>/dev/null); n=${n:-0}',
  'echo "$n" >> /data/starts',
  'while :; do n=$((n+1)); echo "$n" >> /data/counter; echo "$n" >> /witness/counter; busybox usleep 20000; done',
].join('; ');

before(async () => {
  await ensureHttpdImage();
  ({ agents, ids } = await startCluster(IPS, ['--snapshot-interval-ms', '1000']));
});

after(async () => {
  await events?.stop();
  await cleanupAll();
  const vols = (await docker('volume', 'ls', '-q', '--filter', `name=warren_${SERVICE}_`).catch(() => '')).split('\n').filter(Boolean);
  await removeNodesDocker(ids, vols);
});

const dataOf = (a: AgentHandle, volume: string) => join(a.dataDir, 'volume-data', volume);
const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);

/**
 * Files of a peer's warm copy as one snapshot holds them: read between two looks at its state
 * file that find the same snapshot applied and no apply under way (a snapshot arriving meanwhile
 * renames its files in one by one: a suite run read one file of the next snapshot, one of the last).
 */
async function warmFiles(a: AgentHandle, volume: string, files: string[]): Promise<string[][]> {
  const state = () => (existsSync(`${dataOf(a, volume)}.warren-state.json`) ? readFileSync(`${dataOf(a, volume)}.warren-state.json`, 'utf8') : '');
  return waitFor(`a settled warm copy on ${a.bind}`, () => {
    const before = state();
    if (!JSON.parse(before || '{}').applied) return undefined;
    const read = files.map((f) => lines(join(dataOf(a, volume), f)));
    return state() === before ? read : undefined;
  }, 20_000, 20);
}
const seqOf = (snapshot: string) => parseInt(snapshot, 10);
const admin = (a: AgentHandle) => ['--data-dir', a.dataDir, '--api', a.api];

/** The CLI with its stdin and/or stdout on files (a tar is bytes, not text). */
async function cliFiles(args: string[], files: { stdin?: string; stdout?: string }): Promise<{ code: number | null; stderr: string }> {
  const inFd = files.stdin ? openSync(files.stdin, 'r') : 'ignore';
  const outFd = files.stdout ? openSync(files.stdout, 'w') : 'ignore';
  try {
    const child = spawn(WARREN_BIN, args, { stdio: [inFd, outFd, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearTimeout(timer);
    return { code, stderr };
  } finally {
    if (typeof inFd === 'number') closeSync(inFd);
    if (typeof outFd === 'number') closeSync(outFd);
  }
}

/** A file's content in a tar. */
async function fileInTar(path: string, name: string): Promise<string | undefined> {
  const extract = tar.extract();
  Readable.from([readFileSync(path)]).pipe(extract);
  let found: string | undefined;
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    if (entry.header.name === name) found = Buffer.concat(chunks).toString('utf8');
  }
  return found;
}

async function volumeView(a: AgentHandle, name: string): Promise<any> {
  const r = await cli(['--api', a.api, 'volume', 'inspect', name, '--json']);
  return r.code === 0 ? JSON.parse(r.stdout).volume : undefined;
}

async function runningNode(a: AgentHandle, service: string): Promise<string | undefined> {
  const v = await serviceView(a, service).catch(() => undefined);
  return v?.replicas.find((x) => x.state === 'running')?.nodeId ?? undefined;
}

test('restore, clone, export and import across 3 agents', { timeout: 300_000 }, async () => {
  const created = await postService(agents[0]!, { name: SERVICE, image: HTTPD_IMAGE, command: ['sh', '-c', WRITER], volumes: ['data:/data', 'witness:/witness:local'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const ownerId = await waitFor('the writer running', () => runningNode(agents[0]!, SERVICE), 60_000, 100);
  const owner = agents[ids.indexOf(ownerId)]!;
  const peers = agents.filter((a) => a !== owner);
  await waitFor('3 copies of the volume', async () => (await volumeView(agents[0]!, VOLUME))?.copies.length === 3, 60_000, 250);
  await waitFor('some writes', () => lines(join(dataOf(owner, VOLUME), 'counter')).length > 30, 20_000, 100);
  events = await followEvents(peers[0]!.api, ['volume.restored']);

  // a snapshot now; what it holds is read from its export (through a node that is not the owner)
  const snap = await cli([...admin(peers[0]!), 'volume', 'snapshot', VOLUME]);
  assert.equal(snap.code, 0, snap.stderr);
  const S = snap.stdout.trim();
  const dir = await tempDir('volops-');
  const sTar = join(dir, 's.tar');
  const exported = await cliFiles([...admin(peers[1]!), 'volume', 'export', `${VOLUME}@${S}`], { stdout: sTar });
  assert.equal(exported.code, 0, exported.stderr);
  const sCounter = (await fileInTar(sTar, 'counter'))!.split('\n').filter(Boolean).map(Number);
  sCounter.forEach((n, i) => assert.equal(n, i + 1, 'the snapshot holds a contiguous counter'));
  const sLast = sCounter.at(-1)!;
  await waitFor('writes after the snapshot', () => Number(lines(join(dataOf(owner, VOLUME), 'counter')).at(-1)) > sLast + 50, 20_000, 100);

  // restore, asked of a peer: carried out on the owner
  const restore = await cli([...admin(peers[0]!), 'volume', 'restore', VOLUME, S, '--json']);
  assert.equal(restore.code, 0, restore.stderr);
  const r = JSON.parse(restore.stdout) as { volume: string; restored: string; before: string; snapshot: string };
  assert.equal(r.volume, VOLUME);
  assert.equal(r.restored, S);
  assert.ok(seqOf(r.before) > seqOf(S) && seqOf(r.snapshot) > seqOf(r.before), JSON.stringify(r));
  const event = await events.waitFor('volume.restored', (e) => e.name === 'volume.restored' && e.payload?.volume === VOLUME);
  assert.deepEqual({ ...event.payload, service: undefined, restored: undefined }, { volume: VOLUME, service: undefined, restored: undefined, snapshot: S, before: r.before, node: ownerId });

  // the writer runs again, on the snapshot's data: it resumed from S's last line, and the file is contiguous
  const counter = join(dataOf(owner, VOLUME), 'counter');
  await waitFor('the writer resumed after the restore', () => lines(join(dataOf(owner, VOLUME), 'starts')).length >= 2 && lines(counter).length > sLast + 5, 60_000, 100);
  assert.equal(Number(lines(join(dataOf(owner, VOLUME), 'starts')).at(-1)), sLast, 'the writer resumed from the restored snapshot');
  lines(counter).map(Number).forEach((n, i) => assert.equal(n, i + 1, `line ${i + 1} of the restored counter`));
  // its status reaches etcd after the reconciler's pass: the writer may be writing a moment before
  assert.equal(await waitFor('the replica reported running', () => runningNode(agents[0]!, SERVICE), 20_000, 100), ownerId, 'the replica stayed on its node');

  // `before` holds the writes the restore replaced
  const beforeTar = join(dir, 'before.tar');
  assert.equal((await cliFiles([...admin(owner), 'volume', 'export', `${VOLUME}@${r.before}`], { stdout: beforeTar })).code, 0);
  const beforeLast = Number((await fileInTar(beforeTar, 'counter'))!.split('\n').filter(Boolean).at(-1));
  assert.ok(beforeLast > sLast + 50, `before ends at ${beforeLast}, the snapshot at ${sLast}`);

  // every peer's warm copy follows the restored lineage (never the pre-restore data as the newest)
  await waitFor('the peers at the restored snapshot or later', async () => {
    const v = await volumeView(agents[0]!, VOLUME);
    return v?.copies.length === 3 && v.copies.every((c: any) => c.applied && seqOf(c.snapshot) >= seqOf(r.snapshot));
  }, 30_000, 200);
  for (const p of peers) {
    const [counterLines, startsLines] = await warmFiles(p, VOLUME, ['counter', 'starts']);
    const warm = counterLines!.map(Number);
    warm.forEach((n, i) => assert.equal(n, i + 1, `${p.bind}: line ${i + 1} of the warm copy`));
    // the restored snapshot itself ends at S's last line; a later one has the writer's restart from it
    const resumed = Number(startsLines!.at(-1));
    assert.ok(warm.at(-1) === sLast || resumed === sLast, `${p.bind}: the warm copy is the restored lineage (ends at ${warm.at(-1)}, resumed from ${resumed})`);
  }
  const metrics = await (await fetch(`${peers[0]!.api}/metrics`)).text();
  assert.match(metrics, new RegExp(`^warren_volume_apply_ms\\{volume="${VOLUME}"\\} \\d+$`, 'm'));

  // clone S into the volume a new service mounts: it sees the data
  const clone = await cli([...admin(peers[1]!), 'volume', 'clone', `${VOLUME}@${S}`, CLONE, '--json']);
  assert.equal(clone.code, 0, clone.stderr);
  assert.deepEqual({ ...JSON.parse(clone.stdout), replicated: undefined }, { volume: CLONE, from: VOLUME, snapshot: S, replicated: undefined });
  const cloneView = await waitFor('the clone on 3 nodes', async () => {
    const v = await volumeView(agents[0]!, CLONE);
    return v?.copies.length === 3 && v.copies.every((c: any) => c.applied) ? v : undefined;
  }, 30_000, 200);
  assert.equal(cloneView.node, null, 'no service owns the clone yet');
  const dup = await cli([...admin(peers[1]!), 'volume', 'clone', VOLUME, CLONE]);
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /volume volops-copy_data exists/);
  // export → import on another node: byte-equal export, equal tree (bytes and metadata)
  const imported = await cliFiles([...admin(peers[0]!), 'volume', 'import', IMPORTED, '--json'], { stdin: sTar });
  assert.equal(imported.code, 0, imported.stderr);
  const again = join(dir, 'again.tar');
  assert.equal((await cliFiles([...admin(owner), 'volume', 'export', IMPORTED], { stdout: again })).code, 0);
  assert.ok(readFileSync(again).equals(readFileSync(sTar)), `the import exports the same tar (${statSync(again).size} vs ${statSync(sTar).size} bytes)`);
  await waitFor('the import on 3 nodes', async () => (await volumeView(agents[0]!, IMPORTED))?.copies.length === 3, 30_000, 200);
  // the import's copy and the clone's (both S, nothing runs on them yet) are the same tree
  assert.equal(sameTree(describeTree(dataOf(peers[0]!, CLONE)), describeTree(dataOf(peers[0]!, IMPORTED))), undefined);
  const reader = await postService(agents[2]!, { name: CLONE_SERVICE, image: HTTPD_IMAGE, command: ['sh', '-c', 'busybox tail -n1 /data/counter > /data/seen; while :; do sleep 1; done'], volumes: ['data:/data'] });
  assert.equal(reader.status, 201, JSON.stringify(reader.body));
  const readerNode = await waitFor('the clone reader running', () => runningNode(agents[0]!, CLONE_SERVICE), 60_000, 100);
  const readerAgent = agents[ids.indexOf(readerNode)]!;
  await waitFor('the reader saw the cloned data', () => lines(join(dataOf(readerAgent, CLONE), 'seen')).length === 1, 20_000, 100);
  assert.equal(Number(lines(join(dataOf(readerAgent, CLONE), 'seen'))[0]), sLast, 'the new service started on the clone, not on an empty volume');
  assert.equal((await volumeView(agents[0]!, CLONE)).node, (await readerAgent.health()).body.node.name);

  const taken = await cliFiles([...admin(peers[1]!), 'volume', 'import', IMPORTED], { stdin: sTar });
  assert.notEqual(taken.code, 0);
  assert.match(taken.stderr, /volume volops-imported exists/);
  const noSnap = await cli([...admin(peers[0]!), 'volume', 'restore', VOLUME, '999999-00000000']);
  assert.notEqual(noSnap.code, 0);
  assert.match(noSnap.stderr, /has no snapshot 999999-00000000/);
  assert.doesNotMatch(noSnap.stderr, /\n\s+at /);
  // docker sees exactly this test's containers of these services: one each
  assert.equal((await docker('ps', '-q', '--filter', `label=warren.service=${SERVICE}`)).split('\n').filter(Boolean).length, 1);

  // a planned move: the owner is drained; it hands its last writes over, none is lost
  const ownerName = (await owner.health()).body.node.name;
  const drain = await cli([...admin(peers[0]!), 'node', 'drain', ownerName]);
  assert.equal(drain.code, 0, drain.stderr);
  drained = ownerId;
  const movedTo = await waitFor('the writer running on another node', async () => {
    const n = await runningNode(agents[0]!, SERVICE);
    return n && n !== ownerId ? n : undefined;
  }, 60_000, 100);
  const home = agents[ids.indexOf(movedTo)]!;
  const starts = join(dataOf(home, VOLUME), 'starts');
  await waitFor('the moved writer appending', () => lines(starts).length >= 3 && lines(join(dataOf(home, VOLUME), 'counter')).length > Number(lines(starts).at(-1)) + 5, 30_000, 100);
  // the old node's witness: the last line its writer wrote (to the data first, so at most one more there)
  const witness = `warren_${SERVICE}_witness_${ownerId.slice(-8).toLowerCase()}`;
  const wrote = Number((await docker('run', '--rm', '--label', 'volops=1', '-v', `${witness}:/w`, HTTPD_IMAGE, 'busybox', 'tail', '-n1', '/w/counter')).trim());
  const resumed = Number(lines(starts).at(-1));
  assert.ok(resumed === wrote || resumed === wrote + 1, `the moved writer resumed from ${resumed}; the old one wrote up to ${wrote}`);
  lines(join(dataOf(home, VOLUME), 'counter')).map(Number).forEach((n, i) => assert.equal(n, i + 1, `line ${i + 1} after the move`));
  assert.match(readFileSync(owner.logFile, 'utf8'), /volume handed over to its new node/);
});

test('a Docker volume made before Warren is imported whole (--from-docker), once nothing runs on it', { timeout: 120_000 }, async () => {
  const legacy = 'volops_legacy';
  const name = 'volops-legacy';
  try {
    await docker('volume', 'create', '--label', 'volops=1', legacy);
    const mount = (await docker('volume', 'inspect', '--format', '{{.Mountpoint}}', legacy)).trim();
    randomTree(mount, prng(31), 60);
    // imported on a node that is not drained, so its 2 peers are known: the other node that is
    // not drained, and never the drained one (an import on the drained node itself went to both
    // others: 3 copies where the test counted 2)
    const a = agents.find((_, i) => i > 0 && ids[i] !== drained)!;

    // an app still writing to it: refused, nothing created
    await docker('run', '-d', '--name', 'volops-legacy-app', '--label', 'volops=1', '-v', `${legacy}:/x`, HTTPD_IMAGE, 'sleep', '600');
    const busy = await cli([...admin(a), 'volume', 'import', name, '--from-docker', legacy]);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /Docker volume volops_legacy is mounted by running container\(s\) volops-legacy-app: stop them first/);
    await docker('rm', '-f', 'volops-legacy-app');
    const unknown = await cli([...admin(a), 'volume', 'import', name, '--from-docker', 'volops_nothing']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /there is no Docker volume "volops_nothing" on this node/);
    assert.doesNotMatch(busy.stderr + unknown.stderr, /\n\s+at /);
    assert.equal(await volumeView(a, name), undefined, 'a refused import creates nothing');

    const r = await cli([...admin(a), 'volume', 'import', name, '--from-docker', legacy, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { volume: string; from: string; files: number; skipped: string[] };
    assert.equal(out.from, legacy);
    assert.ok(out.files > 0);
    // the importing node's copy is the Docker volume's tree, bytes and metadata (sockets aside)
    assert.equal(sameTree(describeTree(mount), describeTree(dataOf(a, name))), undefined);
    // replicated like any volume: on every node not drained (the drain test drained one of the 3)
    const want = drained ? 2 : 3;
    await waitFor(`the imported volume on ${want} nodes`, async () => (await volumeView(agents[0]!, name))?.copies.length === want, 30_000, 200);
    assert.ok(existsSync(mount), 'the Docker volume is left as it was');
  } finally {
    await docker('rm', '-f', 'volops-legacy-app').catch(() => undefined);
    await docker('volume', 'rm', '-f', legacy).catch(() => undefined);
  }
});
