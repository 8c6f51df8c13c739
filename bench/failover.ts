import { cli, startAgent, type AgentHandle } from '../test/helpers/agents.ts';
import { admission, voterIds } from '../test/helpers/cluster.ts';
import { docker, ensureHttpdImage, nodeContainers, removeClusterContainers, HTTPD_IMAGE } from '../test/helpers/images.ts';
import { adminHeaders, httpGet, postService, serviceView, startCluster, waitServing } from '../test/helpers/services.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { median, type Metric } from './results.ts';

const IPS = ['127.0.17.2', '127.0.17.3', '127.0.17.4'];
const KILL_TRIALS = 5;
/** kills of the node that leads (its replica's failover waits for the next leader) */
const LEADER_KILL_TRIALS = 3;
const SCHEDULE_TRIALS = 5;
const BLIPS = 10;

async function drain(a: AgentHandle, node: string, on: boolean): Promise<void> {
  const res = await fetch(`${a.api}/v1/nodes/${node}/${on ? 'drain' : 'activate'}`, { method: 'POST', headers: await adminHeaders(a) });
  if (!res.ok) throw new Error(`drain ${node}: ${res.status} ${await res.text()}`);
}

async function removeService(a: AgentHandle, name: string): Promise<void> {
  await fetch(`${a.api}/v1/services/${name}`, { method: 'DELETE', headers: await adminHeaders(a) });
  await waitFor(`${name} containers gone`, async () => (await docker('ps', '-aq', '--filter', `label=warren.service=${name}`)).trim() === '', 30_000, 100);
}

const nameOf = async (a: AgentHandle) => (await a.health()).body.node.name as string;

/**
 * kill -9 of the node running a 1-replica service (and its containers) -> HTTP 200 at the new
 * address. The replica is kept off the leader (Warren's, whose node is most often etcd's too):
 * this measures failover, not an election; with `onLeader` it runs on the leader, and is killed with it.
 */
async function killTrial(agents: AgentHandle[], ids: string[], trial: number, onLeader = false): Promise<number> {
  // the node killed last time is back as a voter (until then a kill could cost the quorum)
  await waitFor('3 voters', async () => (await voterIds(agents[0]!).catch(() => [])).length === 3, 120_000, 250);
  const leader = (await admission(agents[0]!)).leader as string;
  const leaderAgent = agents[ids.indexOf(leader)]!;
  // `api`: an agent that outlives the trial; `drained`: where the replica may not go
  const api = onLeader ? agents.find((a) => a !== leaderAgent)! : leaderAgent;
  const drained = await Promise.all((onLeader ? agents.filter((a) => a !== leaderAgent) : [leaderAgent]).map(nameOf));
  for (const node of drained) await drain(api, node, true);
  const name = `kill${onLeader ? 'leader' : ''}${trial}`;
  await postService(api, { name, image: HTTPD_IMAGE, ports: ['80'] });
  const [first] = await waitServing(api, name, 1);
  // on the leader: the others were drained only to put it there; they must be able to take it over
  if (onLeader) for (const node of drained.splice(0)) await drain(api, node, false);
  const victim = agents[ids.indexOf(first!.nodeId)]!;
  const containers = await nodeContainers(first!.nodeId);
  const t0 = performance.now();
  await victim.stop('SIGKILL');
  await docker('kill', ...containers).catch(() => undefined);
  await waitFor('the service answering on another node', async () => {
    const view = await serviceView(api, name);
    const r = view.replicas.find((x) => x.state === 'running' && x.nodeId !== first!.nodeId && x.ports.length);
    return r && (await httpGet(`http://${r.addr}:${r.ports[0]!.hostPort}/`, 500));
  }, 60_000, 50);
  const ms = performance.now() - t0;
  // put things back: restart the killed node, let it rejoin, clean the service up
  const back = await startAgent({ bind: victim.bind, dataDir: victim.dataDir, args: ['--join', api.bind, '--log-level', 'info'], waitReady: false });
  agents[agents.indexOf(victim)] = back;
  await waitFor('the killed node back', async () => (await back.health().catch(() => undefined))?.status === 200, 120_000, 250);
  await waitFor('the killed node serving /v1/services', async () => (await fetch(`${back.api}/v1/services`).catch(() => undefined))?.status === 200, 60_000, 250);
  for (const node of drained) await drain(api, node, false);
  await removeService(api, name);
  return ms;
}

/** `warren service create` (local image) -> first replica answering HTTP. */
async function scheduleTrial(a: AgentHandle, trial: number): Promise<number> {
  const name = `sched${trial}`;
  const t0 = performance.now();
  const r = await cli(['--api', a.api, '--data-dir', a.dataDir, 'service', 'create', name, '--image', HTTPD_IMAGE, '-p', '80', '--detach']);
  if (r.code !== 0) throw new Error(r.stderr);
  await waitFor('first replica answering', async () => {
    const view = await serviceView(a, name);
    const rep = view.replicas.find((x) => x.state === 'running' && x.ports.length);
    return rep && (await httpGet(`http://${rep.addr}:${rep.ports[0]!.hostPort}/`, 500));
  }, 30_000, 10);
  const ms = performance.now() - t0;
  await removeService(a, name);
  return ms;
}

/** 10 SIGSTOP pauses of 1.5 s of the node running a replica: how many replicas moved (goal 0). */
async function blipTrial(agents: AgentHandle[], ids: string[]): Promise<{ moves: number; restarts: number }> {
  const a = agents[0]!;
  await postService(a, { name: 'blip', image: HTTPD_IMAGE, ports: ['80'], replicas: 2 });
  await waitServing(a, 'blip', 2);
  const place = async () => (await serviceView(a, 'blip')).replicas.map((r) => `${r.slot}@${r.nodeId}@${r.since}`);
  const before = await place();
  const containersBefore = (await docker('ps', '-q', '--filter', 'label=warren.service=blip')).trim();
  const leader = (await admission(a)).leader as string;
  const victimId = (await serviceView(a, 'blip')).replicas.map((r) => r.nodeId).find((n) => n && n !== leader)!;
  const victim = agents[ids.indexOf(victimId)]!;
  for (let i = 0; i < BLIPS; i++) {
    process.kill(victim.pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 1500)); // the blip itself
    process.kill(victim.pid, 'SIGCONT');
    await new Promise((r) => setTimeout(r, 2500)); // recovery time between blips
  }
  await new Promise((r) => setTimeout(r, 3000));
  const after = await place();
  const moves = after.filter((p, i) => p !== before[i]).length;
  const restarts = (await docker('ps', '-q', '--filter', 'label=warren.service=blip')).trim() === containersBefore ? 0 : 1;
  await removeService(a, 'blip');
  return { moves, restarts };
}

export async function benchFailover(): Promise<Record<string, Metric>> {
  await ensureHttpdImage();
  await removeClusterContainers();
  try {
    const { agents, ids } = await startCluster(IPS, ['--log-level', 'info']);
    const schedule: number[] = [];
    for (let i = 0; i < SCHEDULE_TRIALS; i++) schedule.push(await scheduleTrial(agents[0]!, i));
    const blip = await blipTrial(agents, ids);
    const leaderKills: number[] = [];
    for (let i = 0; i < LEADER_KILL_TRIALS; i++) {
      leaderKills.push(await killTrial(agents, ids, i, true));
      console.log(`  kill of the leader's node, trial ${i + 1}/${LEADER_KILL_TRIALS}: ${Math.round(leaderKills[i]!)} ms`);
    }
    const kills: number[] = [];
    for (let i = 0; i < KILL_TRIALS; i++) {
      kills.push(await killTrial(agents, ids, i));
      console.log(`  kill trial ${i + 1}/${KILL_TRIALS}: ${Math.round(kills[i]!)} ms`);
    }
    return {
      'failover.kill_to_serving_ms': { value: median(kills), unit: 'ms', goal: '<= 6000', runs: kills.map(Math.round) },
      'failover.kill_leader_to_serving_ms': { value: median(leaderKills), unit: 'ms', goal: '<= 6000', runs: leaderKills.map(Math.round), note: 'the replica on the leader\'s node, killed with it' },
      'failover.blip_moves': { value: blip.moves, unit: 'moves', goal: '0', blips: BLIPS, containers_replaced: blip.restarts },
      'failover.schedule_ms': { value: median(schedule), unit: 'ms', goal: '<= 1500', runs: schedule.map(Math.round) },
    };
  } finally {
    await removeClusterContainers();
  }
}
