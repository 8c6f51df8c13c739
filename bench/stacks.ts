/**
 * Stacks benchmarks (2 real agents on 127.61.0.21-22, real Docker):
 *   stacks.mesh_rps_ratio   wrk -t2 -c50 (keep-alive) to a published port ("18090:80") on the node that
 *                           does NOT run the service (through its mesh forwarder, then the serving node's
 *                           guard of the container's port, then the container) over wrk to the same
 *                           published port on the serving node (its forwarder → container IP), in the
 *                           same run (goal >= 0.7). Docker publishes no port of a stack's "8080:80" any
 *                           more (core/mesh/guard-plan.ts): the guard admits members only, so wrk (not a
 *                           member) cannot measure it directly. Extra fields: req/s and p50/p99 latency
 *                           of each path, and of the container IP.
 * The backend is nginx serving a static page (bench/routing.ts's image): with busybox httpd the
 * backend's fork per connection would hide the paths' cost. wrk shares the 2 cores with them all.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, cleanupAll } from '../test/helpers/agents.ts';
import { serviceView, startCluster } from '../test/helpers/services.ts';
import { removeNodesDocker } from '../test/helpers/stacks.ts';
import { docker } from '../test/helpers/images.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { ensureNginxImage, wrk, type WrkResult } from './routing.ts';
import type { Metric } from './results.ts';
import { loadAvg1 } from './machine.ts';

const IPS = ['127.61.0.21', '127.61.0.22'];
const STACK = 'mesh-bench';
const PORT = 18090;
const SECONDS = Number(process.env.WARREN_BENCH_WRK_SECONDS ?? 10);

export async function benchStacks(): Promise<Record<string, Metric>> {
  const image = await ensureNginxImage();
  const dir = await mkdtemp(join(tmpdir(), 'mesh-bench-'));
  let ids: string[] = [];
  try {
    const cluster = await startCluster(IPS, ['--log-level', 'info']);
    ids = cluster.ids;
    const a = cluster.agents[0]!;
    await writeFile(join(dir, 'compose.yaml'), `name: ${STACK}\nservices:\n  fast:\n    image: ${image}\n    ports: ["${PORT}:80"]\n    deploy:\n      placement:\n        constraints: ["node.hostname==n21"]\n`);
    const r = await cli(['--data-dir', a.dataDir, '--api', a.api, 'deploy', '-f', join(dir, 'compose.yaml'), '--detach']);
    if (r.code !== 0) throw new Error(`deploy: ${r.stderr}`);
    await waitFor('the replica running', async () => (await serviceView(a, `${STACK}-fast`)).replicas.find((x: { state: string }) => x.state === 'running'), 90_000, 200);
    const cid = (await docker('ps', '-q', '--filter', `label=warren.service=${STACK}-fast`, '--filter', `label=warren.node=${ids[0]}`)).trim();
    const containerIp = (await docker('inspect', cid, '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')).trim();
    const paths: Record<string, string> = {
      container: `http://${containerIp}:80/`,
      mesh_local: `http://${IPS[0]}:${PORT}/`,
      mesh_remote: `http://${IPS[1]}:${PORT}/`,
    };
    for (const url of Object.values(paths)) await waitFor(`${url} answering`, async () => (await fetch(url).catch(() => undefined))?.status === 200, 30_000, 200);
    const out: Record<string, WrkResult> = {};
    for (const [name, url] of Object.entries(paths)) {
      await wrk(url, new URL(url).host, 2); // warm-up
      out[name] = await wrk(url, new URL(url).host, SECONDS);
      console.log(`  ${name.padEnd(12)} ${url.padEnd(28)} ${out[name]!.rps} req/s  p50 ${out[name]!.p50Ms} ms  p99 ${out[name]!.p99Ms} ms  errors ${out[name]!.socketErrors + out[name]!.non2xx}`);
    }
    const fields: Record<string, number> = {};
    for (const [name, w] of Object.entries(out)) Object.assign(fields, { [`${name}_rps`]: w.rps, [`${name}_p50_ms`]: w.p50Ms, [`${name}_p99_ms`]: w.p99Ms, [`${name}_errors`]: w.socketErrors + w.non2xx });
    return {
      'stacks.mesh_rps_ratio': {
        value: Math.round((out.mesh_remote!.rps / out.mesh_local!.rps) * 100) / 100,
        unit: 'ratio',
        goal: '>= 0.7',
        how: `wrk -t2 -c50 -d${SECONDS}s: published port on the node not running the service / the same port on the serving node`,
        loadAvg1: loadAvg1(),
        ...fields,
      },
    };
  } finally {
    await cleanupAll();
    await removeNodesDocker(ids);
    await rm(dir, { recursive: true, force: true });
  }
}
