import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent, tempDir } from '../test/helpers/agents.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { median, type Metric } from './results.ts';

const RUNS = 5;

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, '')) / 1024;
}

/** Empty data dir -> /v1/health 200, and the agent's own RSS (etcd excluded) after 10 s idle. */
export async function benchStartup(): Promise<Record<string, Metric>> {
  const colds: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dataDir = join(await tempDir('warren-bench-'), 'data');
    const t0 = performance.now();
    const agent = await startAgent({ bind: '127.0.0.40', dataDir, waitReady: false, args: ['--log-level', 'info'] });
    await waitFor('health 200', async () => (await fetch(`${agent.api}/v1/health`)).status === 200, 30_000, 10);
    colds.push(performance.now() - t0);
    await agent.stop();
  }
  const agent = await startAgent({ bind: '127.0.0.40', args: ['--log-level', 'info'] });
  await new Promise((r) => setTimeout(r, 10_000)); // the metric is defined as RSS after 10 s idle
  const rss = rssMb(agent.pid);
  await agent.stop();
  return {
    'startup.cold_ms': { value: median(colds), unit: 'ms', goal: '<= 2000', runs: colds.map(Math.round) },
    'startup.agent_rss_mb': { value: rss, unit: 'MB', goal: '<= 80' },
  };
}
