/**
 * Wall-clock jumps (issue 12): the node running a service has its clock stepped an hour forward,
 * then half an hour back, as NTP steps a clock or a Raspberry Pi without a real-time clock boots with
 * a wrong one. Timeouts, the fence, restart back-offs and the snapshot schedule run on the
 * monotonic clock (src/system/clock.ts), so nothing happens: nobody is suspected, the node does
 * not fence, its container is never restarted and its volume keeps being snapshotted on
 * schedule. Restarted while behind, it is back at once; crashed, held dead and started again
 * while behind, it is back as a newer life of itself (system/incarnation-file.ts). And a node cut off from the quorum whose clock goes back half an hour
 * during the fence's grace still fences (on the wall clock it would have waited that long). 3 real agents; libfaketime moves the agents' clocks.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanupAll, startAgent, tempDir, type AgentHandle } from '../helpers/agents.ts';
import { followEvents, type EventFollower } from '../helpers/events.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { healAll, isolate } from '../helpers/partition.ts';
import { postService, runningOn, startCluster } from '../helpers/services.ts';
import { SkewedClock } from '../helpers/skewed-clock.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.60.15.1', '127.60.15.2', '127.60.15.3'];
const ARGS = ['--snapshot-interval-ms', '1000', '--fence-after-ms', '3000'];
const TOPICS = ['node.suspect', 'node.dead', 'service.moved', 'volume.snapshot'];
const SERVICE = 'clockjump-writer';
const VOLUME = `${SERVICE}_data`;
const HOUR_S = 3600;
/** back by half an hour: the cluster's certificates start an hour before they were made (pki-x509.ts), a clock further behind refuses them */
const BACK_S = 1800;
let agents: AgentHandle[] = [];
let ids: string[] = [];
let clocks: SkewedClock[] = [];
const followers: EventFollower[] = [];

before(async () => {
  await ensureHttpdImage();
  const dir = await tempDir('warren-clock-');
  clocks = IPS.map((_, i) => new SkewedClock(join(dir, `clock-${i}`)));
  ({ agents, ids } = await startCluster(IPS, ARGS, (i) => clocks[i]!.env()));
});

after(async () => {
  await healAll();
  await Promise.all(followers.map((f) => f.stop()));
  await cleanupAll();
  const vols = (await docker('volume', 'ls', '-q', '--filter', `name=warren_${SERVICE}_`).catch(() => '')).split('\n').filter(Boolean);
  await removeNodesDocker(ids, vols);
});

const FENCED = '"msg":"fenced: no etcd quorum';

test('a wall clock stepped an hour forward and half an hour back changes nothing; behind, a restarted or crashed node is back at once and a cut-off one still fences', { timeout: 240_000 }, async () => {
  for (const a of agents) followers.push(await followEvents(a.api, TOPICS));
  const created = await postService(agents[0]!, { name: SERVICE, image: HTTPD_IMAGE, command: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i >> /data/counter; busybox usleep 200000; done'], volumes: ['data:/data'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const first = await waitFor('the writer running', () => runningOn(agents[0]!, SERVICE), 60_000, 100);
  const n = ids.indexOf(first.node);
  let owner = agents[n]!;
  const startedAt = (await docker('inspect', '-f', '{{.State.StartedAt}}', first.container)).trim();
  // the owner's snapshots, told apart by the wall clock they were stamped with (the event's time)
  const snapshots = (skew: (t: number) => boolean) => followers[n]!.events.filter((e) => e.name === 'volume.snapshot' && e.payload.volume === VOLUME && skew(e.time - Date.now()));
  await followers[n]!.waitFor('a first snapshot on the true time', () => snapshots((d) => Math.abs(d) < 60_000).length > 0, 30_000);

  // an hour ahead: the events it stamps prove the jump took; six snapshots (> the 3 s fence grace)
  clocks[n]!.set(HOUR_S);
  await waitFor('6 snapshots stamped an hour ahead', () => snapshots((d) => d > (HOUR_S - 60) * 1000).length >= 6, 30_000, 100);
  // half an hour behind for 12 s (longer than suspicion takes): on the wall clock the schedule
  // would wait that long for the next cycle, and the uptime heartbeats carry would go negative
  clocks[n]!.set(-BACK_S);
  await waitFor('12 snapshots stamped half an hour behind', () => snapshots((d) => d < -(BACK_S - 60) * 1000).length >= 12, 40_000, 100);

  for (const [i, f] of followers.entries()) assert.deepEqual(f.events.filter((e) => e.name !== 'volume.snapshot'), [], `node ${IPS[i]} saw a suspicion, a death or a move`);
  assert.ok(!owner.log().includes(FENCED), 'the owner fenced itself');
  const now = (await docker('inspect', '-f', '{{.State.Running}} {{.State.StartedAt}}', first.container)).trim();
  assert.equal(now, `true ${startedAt}`, 'the writer\'s container was stopped or restarted');

  // restarted while behind (SIGTERM, then started on its data dir): it must come back as a
  // newer life of itself, or the others ignore its heartbeats until they hold it dead
  assert.equal(await owner.stop('SIGTERM', 30_000), 0);
  await followers[n]!.stop();
  owner = agents[n] = await startAgent({ bind: owner.bind, dataDir: owner.dataDir, args: ['--join', IPS.find((ip) => ip !== owner.bind)!, ...ARGS], env: clocks[n]!.env() });
  followers[n] = await followEvents(owner.api, TOPICS);
  await waitFor('every peer holding the restarted node alive', async () => {
    const views = await Promise.all(agents.filter((a) => a !== owner).map(async (a) => ((await (await fetch(`${a.api}/v1/members`)).json()).members as any[]).find((m) => m.id === ids[n])));
    return views.every((m) => m?.state === 'alive' && m.lastHeardMs < 2000);
  }, 20_000, 200);
  await waitFor('the writer back on its node', async () => (await runningOn(agents[0]!, SERVICE))?.node === ids[n], 60_000, 200);
  for (const [i, f] of followers.entries()) assert.deepEqual(f.events.filter((e) => e.name === 'node.dead' || e.name === 'service.moved'), [], `node ${IPS[i]} saw a death or a move across the restart`);

  // cut off on the true time, and stepped back half an hour before the fence's grace is over: the
  // fence counts the grace on the local clock (on the wall clock it would wait half an hour)
  clocks[n]!.set(0);
  const onTime = snapshots((d) => Math.abs(d) < 60_000).length;
  await waitFor('a snapshot on the true time again', () => snapshots((d) => Math.abs(d) < 60_000).length > onTime, 30_000, 100);
  const logFrom = owner.log().length;
  const heal = await isolate([owner.pid, ...owner.etcdPids()], IPS.filter((ip) => ip !== owner.bind));
  try {
    clocks[n]!.set(-BACK_S);
    await waitFor('the cut-off owner fenced', () => owner.log().slice(logFrom).includes(FENCED), 30_000, 100);
  } finally {
    await heal();
    clocks[n]!.set(0);
  }
  await waitFor('the writer running once again', async () => Boolean(await runningOn(agents[0]!, SERVICE)) && (await docker('ps', '-q', '--filter', `label=warren.service=${SERVICE}`)).split('\n').filter(Boolean).length === 1, 90_000, 250);

  // crashed while behind, held dead by the others, started again: a dead verdict is final for its
  // incarnation, and heartbeats of a lower one are ignored, so it must come back above it (the
  // data dir's incarnation file), or it stays dead to the others until its clock passes its last start
  clocks[n]!.set(-BACK_S);
  await owner.stop('SIGKILL');
  const peerView = (a: AgentHandle) => fetch(`${a.api}/v1/members`).then(async (r) => ((await r.json()).members as any[]).find((m) => m.id === ids[n]));
  const peers = agents.filter((a) => a !== owner);
  await waitFor('the peers holding the crashed node dead', async () => (await Promise.all(peers.map(peerView))).every((m) => m?.state === 'dead'), 30_000, 200);
  owner = agents[n] = await startAgent({ bind: owner.bind, dataDir: owner.dataDir, args: ['--join', IPS.find((ip) => ip !== owner.bind)!, ...ARGS], env: clocks[n]!.env() });
  await waitFor('the peers holding it alive again', async () => (await Promise.all(peers.map(peerView))).every((m) => m?.state === 'alive' && m.lastHeardMs < 2000), 20_000, 200);
  clocks[n]!.set(0);
});
