/**
 * stacks.deploy_ms (issue 14): `warren deploy` of a 4-service stack of local images (a web front,
 * an api, a db and a cache, with healthchecks and depends_on health gates) until every service
 * runs and is healthy, on a one-node cluster (127.61.0.31); beside it, in the same run, the same
 * file brought up by `docker-compose up -d` (Debian's compose, 1.29: no --wait, so the bench polls
 * the containers' health as --wait would). Median of RUNS each, interleaved; the stack is removed
 * between runs.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cli, cleanupAll } from '../test/helpers/agents.ts';
import { docker, ensureHttpdImage } from '../test/helpers/images.ts';
import { startCluster } from '../test/helpers/services.ts';
import { removeNodesDocker } from '../test/helpers/stacks.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { loadAvg1 } from './machine.ts';
import { median, type Metric } from './results.ts';

const execFileP = promisify(execFile);
const RUNS = 3;
const STACK = 'deploy-bench';

function composeFile(image: string): string {
  const health = '    healthcheck:\n      test: ["CMD", "cat", "/www/index.html"]\n      interval: 1s\n      timeout: 1s\n      retries: 3\n';
  return `services:
  db:
    image: ${image}
${health}  cache:
    image: ${image}
${health}  api:
    image: ${image}
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started}
${health}  web:
    image: ${image}
    ports: ["18091:80"]
    depends_on:
      api: {condition: service_healthy}
${health}`;
}

/** The compose anchor: up -d, then every container of the project running and healthy. */
async function composeUp(file: string): Promise<number> {
  const t0 = performance.now();
  await execFileP('docker-compose', ['-p', STACK, '-f', file, 'up', '-d'], { timeout: 120_000 });
  await waitFor('compose project healthy', async () => {
    const ids = (await docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${STACK}`)).split('\n').filter(Boolean);
    if (ids.length < 4) return false;
    const health = (await docker('inspect', '-f', '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}', ...ids)).trim().split('\n');
    return health.every((h) => h === 'running/healthy');
  }, 120_000, 50);
  const ms = performance.now() - t0;
  await execFileP('docker-compose', ['-p', STACK, '-f', file, 'down', '-t', '1'], { timeout: 120_000 });
  return ms;
}

export async function benchStackDeploy(): Promise<Record<string, Metric>> {
  const image = await ensureHttpdImage();
  const dir = await mkdtemp(join(tmpdir(), 'deploy-bench-'));
  const file = join(dir, 'compose.yaml');
  await writeFile(file, composeFile(image));
  let ids: string[] = [];
  try {
    const { agents, ids: nodeIds } = await startCluster(['127.61.0.31'], ['--log-level', 'info']);
    ids = nodeIds;
    const a = agents[0]!;
    const on = (args: string[]) => cli(['--data-dir', a.dataDir, '--api', a.api, ...args]);
    const warren: number[] = [];
    const compose: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const r = await on(['deploy', '-f', file, '-p', STACK]);
      if (r.code !== 0) throw new Error(`warren deploy: ${r.stderr}`);
      warren.push(performance.now() - t0);
      const rm = await on(['stack', 'rm', STACK]);
      if (rm.code !== 0) throw new Error(`warren stack rm: ${rm.stderr}`);
      await waitFor('the stack gone', async () => (await docker('ps', '-aq', '--filter', `label=warren.node=${ids[0]}`)).trim() === '', 60_000, 100);
      compose.push(await composeUp(file));
      console.log(`  run ${i + 1}: warren deploy ${Math.round(warren[i]!)} ms, docker-compose up ${Math.round(compose[i]!)} ms`);
    }
    return {
      'stacks.deploy_ms': {
        value: median(warren),
        unit: 'ms',
        goal: '<= 5000',
        how: 'warren deploy (CLI, no --detach) of 4 services (2 health-gated depends_on) on a one-node cluster, until every service runs and is healthy',
        runs: warren.map(Math.round),
        compose_up_ms: median(compose),
        compose_runs: compose.map(Math.round),
        ratio_to_compose: Math.round((median(warren) / median(compose)) * 100) / 100,
        loadAvg1: loadAvg1(),
      },
    };
  } finally {
    await execFileP('docker-compose', ['-p', STACK, '-f', file, 'down', '-t', '1']).catch(() => undefined);
    await cleanupAll();
    await removeNodesDocker(ids);
    await rm(dir, { recursive: true, force: true });
  }
}
