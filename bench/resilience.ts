import { cli, startAgent, cleanupAll, type AgentHandle } from '../test/helpers/agents.ts';
import { admission, nodeId } from '../test/helpers/cluster.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../test/helpers/images.ts';
import { healAll } from '../test/helpers/partition.ts';
import { clusterInTwoVoterWindow, healthOf, killWithContainers, voterNames } from '../test/helpers/recovery.ts';
import { postService, waitServing } from '../test/helpers/services.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { median, type Metric } from './results.ts';

const TRIALS = 3;

async function removeContainersOf(a: AgentHandle): Promise<void> {
  const id = (await admission(a).catch(() => undefined))?.clusterId;
  if (!id) return;
  const ids = (await docker('ps', '-aq', '--filter', `label=warren.cluster=${id}`)).split('\n').filter(Boolean);
  if (ids.length) await docker('rm', '-f', ...ids).catch(() => undefined);
}

/** Issue 12 finding 1: the new voter killed in the 2-voter window -> a new service serving. */
async function windowTrial(trial: number): Promise<number> {
  const ips = [0, 1, 2].map((i) => `127.0.25.${2 + trial * 3 + i}`) as [string, string, string];
  const { founder, b, ids, heal } = await clusterInTwoVoterWindow(ips);
  try {
    const t0 = performance.now();
    await killWithContainers(b, ids[2]!);
    await waitFor('a new service accepted', async () => {
      const res = await postService(founder, { name: 'after', image: HTTPD_IMAGE, ports: ['80'] }).catch(() => undefined);
      return res && (res.status === 201 || res.status === 409);
    }, 60_000, 250);
    await waitServing(founder, 'after', 1, 60_000);
    return performance.now() - t0;
  } finally {
    await heal();
    await removeContainersOf(founder);
    await cleanupAll();
  }
}

/** warren recover on the last voter of three -> healthy with its service running. */
async function recoverTrial(trial: number): Promise<number> {
  const ips = [0, 1, 2].map((i) => `127.0.26.${2 + trial * 3 + i}`);
  const nodes = [await startAgent({ bind: ips[0]!, args: ['--open'] })];
  for (const ip of ips.slice(1)) nodes.push(await startAgent({ bind: ip, args: ['--join', ips[0]!] }));
  try {
    const ids = await Promise.all(nodes.map(nodeId));
    await waitFor('3 voters', async () => (await voterNames(nodes[0]!)).length === 3, 60_000, 200);
    const name = (await healthOf(nodes[0]!)).node.name as string;
    await postService(nodes[0]!, { name: 'stay', image: HTTPD_IMAGE, ports: ['80'], constraints: [`node=${name}`] });
    await waitServing(nodes[0]!, 'stay', 1, 60_000);
    for (const i of [1, 2]) await killWithContainers(nodes[i]!, ids[i]!);
    await waitFor('the quorum lost', async () => (await healthOf(nodes[0]!))?.status !== 'ok', 30_000, 100);
    const t0 = performance.now();
    const res = await cli(['--data-dir', nodes[0]!.dataDir, 'recover', '--yes']);
    if (res.code !== 0) throw new Error(`warren recover failed: ${res.stderr}`);
    await waitFor('healthy', async () => (await healthOf(nodes[0]!))?.status === 'ok', 30_000, 50);
    await waitServing(nodes[0]!, 'stay', 1, 60_000);
    return performance.now() - t0;
  } finally {
    await removeContainersOf(nodes[0]!);
    await cleanupAll();
  }
}

export async function benchResilience(): Promise<Record<string, Metric>> {
  await ensureHttpdImage();
  const windows: number[] = [];
  const recovers: number[] = [];
  try {
    for (let t = 0; t < TRIALS; t++) windows.push(await windowTrial(t));
    for (let t = 0; t < TRIALS; t++) recovers.push(await recoverTrial(t));
  } finally {
    await healAll();
  }
  return {
    'resilience.window_recovery_ms': { value: median(windows), unit: 'ms', goal: '<= 30000', trials: windows.map(Math.round) },
    'resilience.recover_ms': { value: median(recovers), unit: 'ms', goal: '<= 15000', trials: recovers.map(Math.round) },
  };
}
