/**
 * A service's data follows it (issue 13), on 3 real agents sharing one Docker engine: a writer
 * appends a counter to a file in its replicated volume; its node is killed (-9), its container
 * removed and its data dir deleted (the disk is gone), and the service comes back on another node
 * on its data: the counter file is contiguous and lost at most a few seconds. Its `:local` volume
 * starts empty there.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cleanupAll, type AgentHandle } from '../helpers/agents.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { postService, runningOn, serviceView, startCluster } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { NODE_AUTH_HEADER, nodeAuthHeader } from '../../src/http/node-auth.ts';

const IPS = ['127.60.13.1', '127.60.13.2', '127.60.13.3'];
const SERVICE = 'volint-counter';
const VOLUME = `${SERVICE}_data`;
/** the goal: at most this much of the writes is lost */
const AT_RISK_GOAL_MS = 5000;
let agents: AgentHandle[] = [];
let ids: string[] = [];

// resumes from the last line, notes where it resumed (starts) and on which node (the :local cache)
const WRITER = [
  'n=$(busybox tail -n1 /data/counter 2>/dev/null); n=${n:-0}',
  'echo "$n" >> /data/starts',
  'echo "$WARREN_NODE" >> /cache/nodes',
  'while :; do n=$((n+1)); echo "$n" >> /data/counter; busybox usleep 10000; done',
].join('; ');

before(async () => {
  await ensureHttpdImage();
  ({ agents, ids } = await startCluster(IPS, ['--snapshot-interval-ms', '1000']));
});

after(async () => {
  await cleanupAll();
  const vols = (await docker('volume', 'ls', '-q', '--filter', `name=warren_${SERVICE}_`).catch(() => '')).split('\n').filter(Boolean);
  await removeNodesDocker(ids, vols);
});

const liveFile = (a: AgentHandle, file: string) => join(a.dataDir, 'volume-data', VOLUME, file);
const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

test('a replicated volume follows its service to another node after a kill -9 and a lost disk', { timeout: 240_000 }, async () => {
  const created = await postService(agents[0]!, { name: SERVICE, image: HTTPD_IMAGE, command: ['sh', '-c', WRITER], volumes: ['data:/data', 'cache:/cache:local'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const first = await waitFor('the writer running', () => runningOn(agents[0]!, SERVICE), 60_000, 100);
  const victim = agents[ids.indexOf(first.node)]!;

  // every node holds a copy and some snapshot is on at least 2 of them
  const ls = await waitFor('3 copies of the volume', async () => {
    const r = await cli(['--api', agents[0]!.api, 'volume', 'ls', '--json']);
    if (r.code !== 0) return undefined;
    const v = (JSON.parse(r.stdout) as { volumes: any[] }).volumes.find((x) => x.name === VOLUME);
    return v && v.copies.length === 3 && v.atRiskMs !== null ? v : undefined;
  }, 60_000, 250);
  assert.deepEqual(Object.keys(ls).sort(), ['atRiskMs', 'copies', 'name', 'node', 'service', 'sizeBytes', 'state']);
  assert.equal(ls.service, SERVICE);
  assert.equal(ls.state, 'protected');
  assert.deepEqual(Object.keys(ls.copies[0]).sort(), ['ageMs', 'applied', 'node', 'snapshot']);
  // a machine that was never admitted cannot push anything, however well it signs; nor can the admin token
  const key = await generateKeyPair('Ed25519');
  const stranger = peerIdFromPrivateKey(key).toString();
  const forged = { id: '999999-deadbeef', volume: VOLUME, seq: 999999, epoch: 99, createdAt: Date.now(), manifest: [], files: 0, sizeBytes: 0, newBytes: 0, pauseMs: 0, refused: [], skipped: [] };
  const token = readFileSync(join(agents[0]!.dataDir, 'admin-token'), 'utf8').trim();
  for (const step of ['offer', 'commit']) {
    const path = `/v1/volume-sync/${VOLUME}/${step}`;
    const body = JSON.stringify(forged);
    const attempts: Record<string, string>[] = [{ [NODE_AUTH_HEADER]: await nodeAuthHeader(key, stranger, 'POST', path, body) }, { authorization: `Bearer ${token}` }];
    for (const headers of attempts) {
      const res = await fetch(`${agents[0]!.api}${path}`, { method: 'POST', body, headers: { ...headers, 'content-type': 'application/json' } });
      assert.equal(res.status, 401, `${step}: ${await res.text()}`);
    }
  }
  // each agent's copy is its own directory
  for (const a of agents) await waitFor(`a copy of the counter on ${a.bind}`, () => existsSync(liveFile(a, 'counter')), 20_000, 100);

  // the writer's pace, to turn lost lines into lost time
  const t0 = Date.now();
  const n0 = lines(liveFile(victim, 'counter')).length;
  await new Promise((r) => setTimeout(r, 2000)); // a measuring window, not a wait for a condition
  const rate = (lines(liveFile(victim, 'counter')).length - n0) / ((Date.now() - t0) / 1000);
  assert.ok(rate > 10, `the writer appends ${rate.toFixed(1)} lines/s`);

  await victim.stop('SIGKILL', 5000);
  await removeNodesDocker([first.node]); // its containers are gone with the machine
  const written = lines(liveFile(victim, 'counter'));
  const lastWritten = Number(written.at(-1));
  rmSync(victim.dataDir, { recursive: true, force: true }); // and so is its disk
  const survivor = agents.find((a) => a !== victim)!;

  const second = await waitFor('the writer running on another node', async () => {
    const r = await runningOn(survivor, SERVICE);
    return r && r.node !== first.node ? r : undefined;
  }, 60_000, 100);
  const home = agents[ids.indexOf(second.node)]!;
  await waitFor('the moved writer appending', () => existsSync(liveFile(home, 'starts')) && lines(liveFile(home, 'starts')).length >= 2 && lines(liveFile(home, 'counter')).length > 0, 30_000, 100);
  await waitFor('the moved writer past its start', () => Number(lines(liveFile(home, 'counter')).at(-1)) > Number(lines(liveFile(home, 'starts')).at(-1)) + 20, 30_000, 100);

  const counter = lines(liveFile(home, 'counter')).map(Number);
  counter.forEach((n, i) => assert.equal(n, i + 1, `line ${i + 1} of the counter file is ${n}: the file is not contiguous`));
  const resumedFrom = Number(lines(liveFile(home, 'starts')).at(-1));
  const lostMs = ((lastWritten - resumedFrom) / rate) * 1000;
  process.stdout.write(`# written before the kill: ${lastWritten}; resumed from ${resumedFrom}; lost ${lastWritten - resumedFrom} lines (~${Math.round(lostMs)} ms at ${rate.toFixed(0)}/s)\n`);
  assert.ok(resumedFrom > 0, 'the moved service started on its data, not on an empty volume');
  assert.ok(resumedFrom <= lastWritten);
  assert.ok(lostMs <= AT_RISK_GOAL_MS, `lost ${Math.round(lostMs)} ms of writes (goal ${AT_RISK_GOAL_MS} ms)`);

  // the :local volume is not replicated: it started empty on the new node
  // read on the host, from the Docker volume: the container may be frozen for a snapshot at this
  // very moment, and docker exec refuses a paused container (ci77)
  const mounts = JSON.parse(await docker('inspect', '--format', '{{json .Mounts}}', second.container)) as { Destination: string; Source: string }[];
  const nodes = readFileSync(join(mounts.find((m) => m.Destination === '/cache')!.Source, 'nodes'), 'utf8').split('\n').filter(Boolean);
  assert.equal(nodes.length, 1, `the :local volume held ${JSON.stringify(nodes)}`);

  // inspect and snapshots answer on any node; the volume is owned by the new node now
  const inspect = await cli(['--api', survivor.api, 'volume', 'inspect', VOLUME, '--json']);
  assert.equal(inspect.code, 0, inspect.stderr);
  const homeName = (await home.health()).body.node.name;
  assert.equal(JSON.parse(inspect.stdout).volume.node, homeName);
  // data at risk is known again once the new owner and the other survivor both hold a copy (the
  // old owner's last snapshot counts), and the pause once the new owner took its own first snapshot:
  // two conditions that come in either order
  const atRisk = new RegExp(`warren_volume_at_risk_seconds\\{volume="${VOLUME}"\\} \\d`);
  const pause = new RegExp(`warren_volume_snapshot_pause_ms\\{volume="${VOLUME}"\\} \\d`);
  await waitFor('the data at risk and the new owner\'s snapshot pause in /metrics', async () => {
    const text = await (await fetch(`${home.api}/metrics`)).text();
    return atRisk.test(text) && pause.test(text);
  }, 20_000, 200);
  const snaps = await cli(['--api', survivor.api, 'volume', 'snapshots', VOLUME, '--json']);
  assert.equal(snaps.code, 0, snaps.stderr);
  assert.ok((JSON.parse(snaps.stdout) as { snapshots: { epoch: number }[] }).snapshots.some((s) => s.epoch === 2), 'the new owner snapshots at epoch 2');

  // rm: refused while the service uses it; then every node's copy goes
  const admin = ['--data-dir', survivor.dataDir, '--api', survivor.api];
  const refused = await cli([...admin, 'volume', 'rm', VOLUME]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /used by service volint-counter/);
  assert.equal((await cli([...admin, 'service', 'rm', SERVICE])).code, 0);
  const rm = await cli([...admin, 'volume', 'rm', VOLUME]);
  assert.equal(rm.code, 0, rm.stderr);
  const live = agents.filter((a) => a !== victim);
  await waitFor('every copy of the removed volume deleted', () => live.every((a) => !existsSync(join(a.dataDir, 'volume-data', VOLUME)) && !existsSync(join(a.dataDir, 'volume-store', 'volumes', VOLUME))), 30_000, 200);
  const after = JSON.parse((await cli(['--api', survivor.api, 'volume', 'ls', '--json'])).stdout) as { volumes: { name: string }[] };
  assert.deepEqual(after.volumes.filter((v) => v.name === VOLUME), []);
});
