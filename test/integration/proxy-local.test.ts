/**
 * The proxy's local fast path, on real Docker and a real agent: a replica on the proxy's own
 * node is reached at its container's address on the Docker bridge, not at its published port
 * (Docker's userland proxy). Shown with every published port of the node blocked (an iptables
 * REJECT of new connections to the agent's address in the range Docker picks host ports from):
 * the proxy still answers while a GET to the published port is refused. Then the container is
 * killed and the reconciler restarts it: the proxy answers again, from the restarted container;
 * the second time another container is started on the old address first, and no answer may
 * come from it (a stale container address would route there).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { promisify } from 'node:util';
import { cleanupAll, type AgentHandle } from '../helpers/agents.ts';
import { docker, nodeContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { httpGet, runningReplicas, startAgentServingWeb } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const BIND = '127.0.21.2';
const DOMAIN = 'warren.internal';
const FILLER_LABEL = `warren-test-filler=${process.pid}`;

let agent: AgentHandle;
let nodeId = '';
let nodeName = '';
let proxyPort = 0;
/** the iptables rule while it is in place (its arguments after -I/-D OUTPUT) */
let blockRule: string[] | undefined;

interface Got {
  status: number;
  body: string;
}

function proxyGet(timeoutMs = 15_000): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: BIND, port: proxyPort, path: '/', headers: { host: `web.${DOMAIN}` }, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').trim() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The agent's proxy tries so far, by path (from /metrics). */
async function tries(): Promise<{ container: number; published: number }> {
  const text = await (await fetch(`${agent.api}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  const get = (path: string) => Number(new RegExp(`^warren_proxy_tries_total\\{path="${path}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { container: get('container'), published: get('published') };
}

async function webContainer(): Promise<string> {
  const out = await docker('ps', '-q', '--no-trunc', '--filter', `label=warren.node=${nodeId}`, '--filter', 'label=warren.service=web');
  const ids = out.split('\n').filter(Boolean);
  assert.equal(ids.length, 1, `one running web container: ${ids.join(', ')}`);
  return ids[0]!;
}

const ipOf = async (container: string) => (await docker('inspect', '-f', '{{.NetworkSettings.IPAddress}}', container)).trim();
/** "true <StartedAt>" while running: a restart changes the second part */
const runState = async (container: string) => (await docker('inspect', '-f', '{{.State.Running}} {{.State.StartedAt}}', container).catch(() => '')).trim();

async function unblock(): Promise<void> {
  if (!blockRule) return;
  await execFileP('iptables', ['-D', 'OUTPUT', ...blockRule]).catch(() => undefined);
  blockRule = undefined;
}

before(async () => {
  const started = await startAgentServingWeb({ bind: BIND });
  agent = started.agent;
  nodeId = started.health.node.id;
  nodeName = started.health.node.name;
  proxyPort = started.health.proxy.port;
}, { timeout: 120_000 });

after(async () => {
  await unblock();
  const fillers = (await docker('ps', '-aq', '--filter', `label=${FILLER_LABEL}`).catch(() => '')).split('\n').filter(Boolean);
  if (fillers.length) await docker('rm', '-f', ...fillers).catch(() => undefined);
  await cleanupAll();
  // only this node's containers: other test files may be running theirs
  const mine = nodeId ? await nodeContainers(nodeId, true).catch(() => [] as string[]) : [];
  if (mine.length) await docker('rm', '-f', ...mine).catch(() => undefined);
}, { timeout: 60_000 });

test('a replica on the proxy\'s node is reached at its container address: tries counted as such; with the node\'s published ports blocked the proxy still answers, the published port does not', { timeout: 60_000 }, async () => {
  const page = `web 0 ${nodeName}`;
  await waitFor('web through the proxy', async () => (await proxyGet(5000)).body === page, 15_000, 100);
  const before = await tries();
  for (let i = 0; i < 20; i++) assert.deepEqual(await proxyGet(5000), { status: 200, body: page });
  const afterGets = await tries();
  assert.equal(afterGets.container - before.container, 20, 'every try went to the container address');
  assert.equal(afterGets.published - before.published, 0, 'none to the published port');

  // block new connections to any published port of this node
  const [low, high] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number) as [number, number];
  const [rep] = await runningReplicas(agent, 'web');
  const published = new URL(rep!.url);
  assert.equal(published.hostname, BIND);
  assert.ok(Number(published.port) >= low && Number(published.port) <= high, `Docker picked ${published.port} in ${low}-${high}`);
  blockRule = ['-d', BIND, '-p', 'tcp', '--syn', '--dport', `${low}:${high}`, '-j', 'REJECT', '--reject-with', 'tcp-reset', '-m', 'comment', '--comment', `warren-test-${process.pid}`];
  await execFileP('iptables', ['-I', 'OUTPUT', ...blockRule]);
  assert.equal(await httpGet(rep!.url, 2000), undefined, 'the published port is blocked');
  for (let i = 0; i < 5; i++) assert.deepEqual(await proxyGet(5000), { status: 200, body: page }, 'the proxy does not need it');
});

test('the container killed and restarted by the reconciler (then with another container on its old address): the proxy answers again from the restarted one, never from the other', { timeout: 150_000 }, async () => {
  assert.ok(blockRule, 'runs after the first test, published ports still blocked');
  const page = `web 0 ${nodeName}`;
  interface Sample {
    start: number;
    end: number;
    status: number;
    body: string;
  }
  const samples: Sample[] = [];
  const inflight = new Set<Promise<void>>();
  let stop = false;
  const loop = (async () => {
    for (let next = performance.now(); !stop; next += 50) {
      const start = performance.now();
      const p = proxyGet().then(
        (r) => void samples.push({ start, end: performance.now(), ...r }),
        (err: Error) => void samples.push({ start, end: performance.now(), status: 0, body: err.message }),
      ).finally(() => inflight.delete(p));
      inflight.add(p);
      await new Promise((r) => setTimeout(r, Math.max(0, next + 50 - performance.now())));
    }
  })();
  /** kills the web container (then runs `meanwhile`), waits for the proxy to answer from its restart; the window's figures */
  const killAndRecover = async (meanwhile?: () => Promise<void>) => {
    const container = await webContainer();
    const oldIp = await ipOf(container);
    const started = await runState(container);
    await docker('kill', container);
    // SIGKILL delivered: a request started from now on cannot be answered by the old process
    const t0 = performance.now();
    await meanwhile?.();
    await waitFor('the web container restarted', async () => {
      const now = await runState(container);
      return now.startsWith('true ') && now !== started;
    }, 60_000, 20);
    await waitFor('an answer through the proxy after the restart', () => samples.some((s) => s.start > t0 && s.status === 200), 30_000, 20);
    const firstOk = samples.filter((s) => s.start > t0 && s.status === 200).sort((a, b) => a.end - b.end)[0]!;
    await new Promise((r) => setTimeout(r, 1000)); // a second of steady answers
    const window = samples.filter((s) => s.start >= t0 - 100 && s.start <= firstOk.start);
    return {
      container,
      oldIp,
      newIp: await ipOf(container),
      recoveredMs: Math.round(firstOk.end - t0),
      failed: window.filter((s) => s.status !== 200).length,
      slowestMs: Math.round(Math.max(...window.map((s) => s.end - s.start))),
      overOneSecond: window.filter((s) => s.end - s.start >= 1000).length,
    };
  };
  try {
    await waitFor('steady answers', () => samples.filter((s) => s.status === 200).length >= 10, 10_000, 20);
    const first = await killAndRecover();
    console.log(`# local kill: first answer from the restarted container ${first.recoveredMs} ms after docker kill returned; ${first.failed} failed request(s), slowest ${first.slowestMs} ms, ${first.overOneSecond} took >= 1 s (address ${first.oldIp} -> ${first.newIp})`);

    // again, with another container started on the freed address before the restart (the
    // reconciler's back-off leaves time for it; retried while the filler does not get it)
    let moved: Awaited<ReturnType<typeof killAndRecover>> | undefined;
    for (let attempt = 0; attempt < 4 && !moved; attempt++) {
      const filler = (await docker('create', '--label', FILLER_LABEL, '-e', 'WARREN_SERVICE=filler', '-e', 'WARREN_SLOT=0', '-e', 'WARREN_NODE=stale', HTTPD_IMAGE)).trim();
      const r = await killAndRecover(() => docker('start', filler).then(() => undefined));
      const fillerIp = await ipOf(filler);
      console.log(`# kill ${attempt + 2}: ${r.oldIp} -> ${r.newIp}, filler on ${fillerIp}; first answer after ${r.recoveredMs} ms, ${r.failed} failed, slowest ${r.slowestMs} ms`);
      if (fillerIp === r.oldIp && r.newIp !== r.oldIp) moved = r;
      else await docker('rm', '-f', filler);
    }
    assert.ok(moved, 'the restarted container got a new address while another took its old one');
    // the filler does answer on the old address: a stale route would have reached it
    assert.equal(await httpGet(`http://${moved.oldIp}/`, 2000), 'filler 0 stale');
  } finally {
    stop = true;
    await loop;
    await Promise.all([...inflight]);
  }
  const stale = samples.filter((s) => s.body.startsWith('filler'));
  assert.deepEqual(stale, [], 'no answer from the container on the old address');
  const oks = samples.filter((s) => s.status === 200);
  assert.ok(oks.every((s) => s.body === page), 'every 200 came from the web replica');
  const last = samples.slice(-10);
  assert.ok(last.every((s) => s.status === 200), `answers at the end: ${last.map((s) => s.status).join(',')}`);
  // settled: every try at the restarted container's address (the published port is still blocked)
  const before = await tries();
  for (let i = 0; i < 10; i++) assert.deepEqual(await proxyGet(5000), { status: 200, body: page });
  const afterGets = await tries();
  assert.equal(afterGets.container - before.container, 10);
  assert.equal(afterGets.published - before.published, 0);
});
