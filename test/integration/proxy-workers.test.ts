/**
 * The proxy's worker processes (src/routing/proxy-workers.ts), on a real agent and a real Docker
 * replica: the agent runs with --proxy-workers 2 and WARREN_TEST_PROXY_PID_HEADER=1 (every answer
 * names the process that served it in x-warren-proxy-pid). Requests on fresh connections are
 * served by more than one process (and /metrics counts them per process); a worker killed with
 * -9 is replaced and requests keep succeeding; a route change (the service removed) reaches every
 * process within milliseconds; the agent killed with -9 leaves no worker behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { cleanupAll, findPids, type AgentHandle } from '../helpers/agents.ts';
import { nodeContainers, docker } from '../helpers/images.ts';
import { adminHeaders, startAgentServingWeb } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { metric } from '../helpers/metrics.ts';

const BIND = '127.0.22.2';
const DOMAIN = 'warren.internal';

let agent: AgentHandle;
let nodeId = '';
let proxyPort = 0;

interface Got {
  status: number;
  body: string;
  pid: number;
  start: number;
  end: number;
}

/** GET / for web through the proxy on a fresh connection. */
function get(timeoutMs = 5000): Promise<Got> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: BIND, port: proxyPort, path: '/', headers: { host: `web.${DOMAIN}` }, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').trim(), pid: Number(res.headers['x-warren-proxy-pid']), start, end: performance.now() }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** this agent's proxy worker processes (children of the agent running proxy-worker) */
function workerPids(): number[] {
  return findPids((cmd) => cmd.includes('proxy-worker')).filter((pid) => {
    try {
      return Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) === agent.pid;
    } catch {
      return false;
    }
  });
}

async function metrics(): Promise<string> {
  return (await fetch(`${agent.api}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
}

before(async () => {
  const started = await startAgentServingWeb({ bind: BIND, args: ['--proxy-workers', '2'], env: { WARREN_TEST_PROXY_PID_HEADER: '1' } });
  agent = started.agent;
  nodeId = started.health.node.id;
  proxyPort = started.health.proxy.port;
}, { timeout: 120_000 });

after(async () => {
  await cleanupAll();
  const mine = nodeId ? await nodeContainers(nodeId, true).catch(() => [] as string[]) : [];
  if (mine.length) await docker('rm', '-f', ...mine).catch(() => undefined);
}, { timeout: 60_000 });

test('requests on fresh connections are served by the agent and its workers; /metrics counts each process', { timeout: 60_000 }, async () => {
  assert.match(agent.log(), /proxy on port \d+ \(in the agent and 2 worker processes\)/);
  const workers = workerPids();
  assert.equal(workers.length, 2, `two worker processes under the agent: ${workers.join(', ')}`);
  const before = await metrics();
  const byPid = new Map<number, number>();
  const N = 300;
  for (let i = 0; i < N; i += 10) {
    const got = await Promise.all(Array.from({ length: 10 }, () => get()));
    for (const g of got) {
      assert.equal(g.status, 200, g.body);
      assert.match(g.body, /^web 0 /);
      byPid.set(g.pid, (byPid.get(g.pid) ?? 0) + 1);
    }
  }
  const servedByWorkers = [...byPid.keys()].filter((p) => workers.includes(p));
  assert.ok(servedByWorkers.length >= 1 && byPid.size >= 2, `served by several processes: ${JSON.stringify([...byPid])} (agent ${agent.pid}, workers ${workers.join(', ')})`);
  for (const pid of byPid.keys()) assert.ok(pid === agent.pid || workers.includes(pid), `pid ${pid} is the agent or one of its workers`);
  const text = await metrics();
  const total = metric(text, 'warren_proxy_requests_total') - metric(before, 'warren_proxy_requests_total');
  assert.equal(total, N, `/metrics counts every process's requests:\n${text}`);
  const perProcess = ['agent', 'worker-1', 'worker-2'].map((p) => metric(text, `warren_proxy_process_requests_total{process="${p}"}`) - metric(before, `warren_proxy_process_requests_total{process="${p}"}`));
  assert.equal(perProcess.reduce((a, b) => a + b, 0), N, `per process: ${perProcess.join(', ')}`);
  assert.ok(perProcess.filter((n) => n > 0).length >= 2, `more than one process counted requests: ${perProcess.join(', ')}`);
  assert.equal(metric(text, 'warren_proxy_workers'), 2);
});

test('a worker killed with -9 is replaced; requests keep succeeding meanwhile', { timeout: 60_000 }, async () => {
  const [victim, other] = workerPids();
  assert.ok(victim && other);
  process.kill(victim, 'SIGKILL');
  // 4 clients on fresh connections while it is gone and restarted: none fails or hangs (a worker
  // handed the socket while still loading once held the connections it accepted unanswered)
  const pids = new Set<number>();
  const deadline = Date.now() + 3000;
  let replaced: number | undefined;
  let n = 0;
  const client = async () => {
    while (Date.now() < deadline || replaced === undefined || !pids.has(replaced)) {
      const g = await get(2000);
      n++;
      assert.equal(g.status, 200, g.body);
      assert.notEqual(g.pid, victim, 'no answer from the killed worker');
      pids.add(g.pid);
      replaced ??= workerPids().find((p) => p !== other && p !== victim);
      if (Date.now() > deadline + 20_000) assert.fail(`no answer from a replacement worker (${replaced}) within 23 s; served by ${[...pids].join(', ')}`);
    }
  };
  await Promise.all([client(), client(), client(), client()]);
  assert.ok(n > 20);
  const text = await metrics();
  assert.equal(metric(text, 'warren_proxy_workers'), 2, text);
  assert.equal(metric(text, 'warren_proxy_worker_restarts_total'), 1);
  assert.match(agent.log(), /proxy worker exited; restarting it/);
});

test('a route change reaches every process within milliseconds: after the service is removed, no process answers 200', { timeout: 60_000 }, async () => {
  const results: Got[] = [];
  let stop = false;
  const loops = Array.from({ length: 6 }, async () => {
    while (!stop) results.push(await get());
  });
  await new Promise((r) => setTimeout(r, 300));
  const res = await fetch(`${agent.api}/v1/services/web`, { method: 'DELETE', headers: await adminHeaders(agent), signal: AbortSignal.timeout(5000) });
  assert.ok(res.ok, `DELETE: ${res.status} ${await res.text()}`);
  await waitFor('404 answers', async () => results.filter((r) => r.status === 404).length > 100, 20_000, 50);
  stop = true;
  await Promise.all(loops);
  const first404 = Math.min(...results.filter((r) => r.status === 404).map((r) => r.end));
  const late200 = results.filter((r) => r.status === 200 && r.start > first404 + 20);
  assert.deepEqual(late200.map((r) => ({ pid: r.pid, msAfterFirst404: Math.round(r.start - first404) })), [], 'a 200 started more than 20 ms after the first 404');
  for (const r of results) assert.ok(r.status === 200 || r.status === 404, `only 200 and 404 answers: ${r.status} ${r.body.slice(0, 200)}`);
  const pidsWith404 = new Set(results.filter((r) => r.status === 404).map((r) => r.pid));
  assert.ok(pidsWith404.size >= 2, `404s from several processes: ${[...pidsWith404].join(', ')}`);
  const page = results.find((r) => r.status === 404)!;
  assert.match(page.body, /Unknown service/);
});

test('the agent killed with -9 leaves no worker behind', { timeout: 30_000 }, async () => {
  const workers = workerPids();
  assert.equal(workers.length, 2);
  await agent.stop('SIGKILL');
  await waitFor('the workers gone', async () => workers.every((pid) => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }), 5000, 50);
});
