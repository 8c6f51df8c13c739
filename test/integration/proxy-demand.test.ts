import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { cleanupAll, startAgent } from '../helpers/agents.ts';
import { waitFor } from '../helpers/wait.ts';

// --proxy-workers auto (the default): no worker process at idle; they start once the agent's
// proxy has been busy for a few seconds. The tokens helper's loopback range.
const IP = '127.63.0.5';
after(cleanupAll);

function workerPids(agentPid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      // the worker runs under setpriv (pdeathsig), which execs node: its parent is the agent
      if (Number(stat[1]) === agentPid && readFileSync(`/proc/${e}/cmdline`, 'utf8').includes('proxy-worker')) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('proxy workers start on demand: none at idle, started once the proxy is busy, then serving', { timeout: 120_000, skip: availableParallelism() < 2 ? 'auto means no workers on one core' : false }, async () => {
  const agent = await startAgent({ bind: IP, args: ['--open'], env: { WARREN_TEST_PROXY_PID_HEADER: '1' } });
  const port = (await agent.health()).body.proxy.port as number;
  assert.match(agent.log(), /worker process once it is busy/);
  assert.deepEqual(workerPids(agent.pid), [], 'no worker at idle');
  // a few clients asking the proxy for a name that is no service (its own page), as fast as they
  // can, each request on a new connection (the kernel spreads new connections over the processes)
  let stop = false;
  const pids = new Set<string>();
  const once = () => new Promise<void>((resolve) => {
    const req = get({ host: IP, port, path: '/', agent: false, headers: { host: 'nothing.warren.internal', accept: 'application/json' } }, (res) => {
      pids.add(String(res.headers['x-warren-proxy-pid'] ?? ''));
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', () => resolve());
  });
  const client = async () => {
    while (!stop) await once();
  };
  const clients = Array.from({ length: 8 }, client);
  try {
    await waitFor('a proxy worker started under load', () => workerPids(agent.pid).length === 1, 60_000, 200);
    await waitFor('the worker answering requests too', () => [...pids].some((p) => p !== '' && p !== String(agent.pid)), 30_000, 100);
  } finally {
    stop = true;
    await Promise.all(clients);
  }
  assert.match(agent.log(), /busy, starting the proxy workers/);
});
