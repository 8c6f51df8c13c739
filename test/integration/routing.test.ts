/**
 * Routing end to end: 3 real agents on real Docker, each running its reverse proxy and its DNS
 * server (ports read from GET /v1/health: 80/53 as root, else 7380/7353). A service pinned to one
 * node answers through the proxies of the two others; dig sees the zone; and a kill -9 of the
 * node running the replica (a dead machine: its containers die too) is survived by a client that
 * keeps GETting through another node's proxy, with errors confined to one bounded window.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import { cleanupAll, type AgentHandle } from '../helpers/agents.ts';
import { admission } from '../helpers/cluster.ts';
import { docker, ensureHttpdImage, nodeContainers, removeClusterContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { adminHeaders, postService, serviceView, startCluster, waitServing } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const IPS = ['127.0.15.2', '127.0.15.3', '127.0.15.4'];
const DOMAIN = 'warren.internal';

interface Node {
  agent: AgentHandle;
  id: string;
  name: string;
  addr: string;
  proxyPort: number;
  dnsPort: number;
}

let nodes: Node[] = [];
/** the node the service is pinned to (never the etcd leader), and the two others */
let A: Node;
let B: Node;
let C: Node;

interface Got {
  status: number;
  body: string;
}

/** GET / through a proxy with the given Host header, on a fresh connection; rejects on connection errors. */
function proxyGet(n: Node, host: string, timeoutMs = 5000, path = '/'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: n.addr, port: n.proxyPort, path, method: 'GET', headers: { host }, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function dig(n: Node, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP('dig', [`@${n.addr}`, '-p', String(n.dnsPort), '+tries=1', '+time=2', ...args], { timeout: 10_000 });
  return stdout;
}

const digShort = async (n: Node, name: string, type = 'A') => (await dig(n, '+short', name, type)).split('\n').map((l) => l.trim()).filter(Boolean).sort();
const digStatus = async (n: Node, name: string, type = 'A') => /status: ([A-Z]+)/.exec(await dig(n, name, type))?.[1];

before(async () => {
  await ensureHttpdImage();
  const { agents, ids } = await startCluster(IPS);
  nodes = await Promise.all(agents.map(async (agent, i) => {
    const h = (await agent.health()).body;
    assert.ok(h.proxy?.port, `health reports the proxy port: ${JSON.stringify(h)}`);
    assert.equal(h.dns?.domain, DOMAIN);
    return { agent, id: ids[i]!, name: h.node.name as string, addr: agent.bind, proxyPort: h.proxy.port as number, dnsPort: h.dns.port as number };
  }));
  const leader = await waitFor('an etcd leader', async () => (await admission(agents[0]!)).leader as string | null, 30_000, 100);
  // the service's node must not be the leader: killing it must leave the scheduler running
  const others = nodes.filter((n) => n.id !== leader);
  A = others[others.length - 1]!;
  [B, C] = nodes.filter((n) => n !== A) as [Node, Node];
  const created = await postService(B.agent, { name: 'web', image: HTTPD_IMAGE, ports: [80], replicas: 1, constraints: [`node=${A.name}`] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const running = await waitServing(B.agent, 'web', 1, 60_000);
  assert.equal(running[0]!.nodeId, A.id, 'the pinned replica runs on its node');
}, { timeout: 180_000 });

after(async () => {
  await cleanupAll();
  await removeClusterContainers();
}, { timeout: 60_000 });

test('a service pinned to one node answers through the proxies of the other nodes, by full and short name; an unknown host gets a 404 listing the services', { timeout: 60_000 }, async () => {
  for (const via of [B, C]) {
    // the route tables of B and C learn the replica from the catalog watch: bounded wait
    const full = await waitFor(`web through ${via.name}'s proxy`, async () => {
      const r = await proxyGet(via, `web.${DOMAIN}`);
      return r.status === 200 ? r : undefined;
    }, 15_000, 100);
    assert.equal(full.body.trim(), `web 0 ${A.name}`);
    const short = await proxyGet(via, 'web');
    assert.equal(short.status, 200);
    assert.equal(short.body.trim(), `web 0 ${A.name}`);
    const withPort = await proxyGet(via, `WEB.${DOMAIN.toUpperCase()}:${via.proxyPort}`);
    assert.equal(withPort.status, 200, 'Host is case-insensitive and may carry the port');
  }
  const unknown = await proxyGet(B, `nope.${DOMAIN}`);
  assert.equal(unknown.status, 404);
  assert.match(unknown.body, /nope\.warren\.internal/);
  assert.match(unknown.body, /web\.warren\.internal/, 'the 404 page lists the services');
  const json = await new Promise<Got>((resolve, reject) => {
    http.get({ host: B.addr, port: B.proxyPort, path: '/', headers: { host: 'nope', accept: 'application/json' }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
  assert.equal(json.status, 404);
  const parsed = JSON.parse(json.body);
  assert.equal(parsed.error.code, 'unknown_service');
  assert.deepEqual(parsed.error.services.map((s: { name: string }) => s.name), ['web']);
});

test('DNS: the service name answers with every alive node; <node>.node names one node; NXDOMAIN inside the zone, REFUSED outside, SOA at the apex', { timeout: 60_000 }, async () => {
  for (const n of nodes) {
    assert.deepEqual(await digShort(n, `web.${DOMAIN}`), [...IPS].sort(), `web.${DOMAIN} on ${n.name}`);
    for (const m of nodes) assert.deepEqual(await digShort(n, `${m.name}.node.${DOMAIN}`), [m.addr]);
  }
  assert.equal(await digStatus(B, `nope.${DOMAIN}`), 'NXDOMAIN');
  assert.equal(await digStatus(B, `nosuch.node.${DOMAIN}`), 'NXDOMAIN');
  assert.equal(await digStatus(B, 'example.com'), 'REFUSED');
  const soa = await digShort(B, DOMAIN, 'SOA');
  assert.equal(soa.length, 1, `one SOA: ${soa.join(' | ')}`);
  assert.match(soa[0]!, new RegExp(`^ns-n\\d+\\.${DOMAIN.replace('.', '\\.')}\\. hostmaster\\.${DOMAIN.replace('.', '\\.')}\\. \\d+ `));
  const full = await dig(B, DOMAIN, 'SOA');
  assert.match(full, /flags: qr aa/, 'authoritative answer');
  const ns = await digShort(B, DOMAIN, 'NS');
  assert.deepEqual(ns, nodes.map((n) => `ns-${n.name}.${DOMAIN}.`).sort());
});

test('kill -9 of the node running the replica: a client GETting through another node\'s proxy every 100 ms recovers by itself, errors only in one bounded window', { timeout: 120_000 }, async () => {
  // unpin the service (constraints are not part of the container spec: the replica stays on A)
  const patch = await fetch(`${B.agent.api}/v1/services/web`, { method: 'PATCH', headers: await adminHeaders(B.agent), body: JSON.stringify({ constraints: [] }), signal: AbortSignal.timeout(5000) });
  assert.equal(patch.status, 200, await patch.text());
  const before = (await serviceView(B.agent, 'web')).replicas;
  assert.equal(before.length, 1);
  assert.equal(before[0]!.nodeId, A.id, 'unpinning moved nothing');
  assert.equal(before[0]!.state, 'running');
  const aContainers = await nodeContainers(A.id);
  assert.equal(aContainers.length, 1);

  interface Sample {
    start: number;
    end: number;
    ok: boolean;
    status?: number;
    body?: string;
    error?: string;
  }
  const samples: Sample[] = [];
  const inflight = new Set<Promise<void>>();
  let firstNewNodeAt = 0;
  let stop = false;
  const fire = () => {
    const start = performance.now();
    const p = proxyGet(B, `web.${DOMAIN}`, 15_000).then(
      (r) => {
        const end = performance.now();
        samples.push({ start, end, ok: r.status === 200, status: r.status, body: r.body.trim() });
        if (r.status === 200 && !r.body.includes(` ${A.name}`) && firstNewNodeAt === 0) firstNewNodeAt = end;
      },
      (err: Error) => void samples.push({ start, end: performance.now(), ok: false, error: err.message }),
    ).finally(() => inflight.delete(p));
    inflight.add(p);
  };
  const loop = (async () => {
    for (let next = performance.now(); !stop; next += 100) {
      fire();
      await new Promise((r) => setTimeout(r, Math.max(0, next + 100 - performance.now())));
    }
  })();

  let killedAt = 0;
  try {
    // a steady state first
    await waitFor('a few answers from A through B', () => samples.filter((s) => s.ok).length >= 5, 10_000, 50);
    A.agent.child.kill('SIGKILL');
    await A.agent.exited;
    if (aContainers.length) await docker('kill', ...aContainers).catch(() => undefined);
    killedAt = performance.now();
    await waitFor('a 200 from another node through B', () => firstNewNodeAt > 0, 40_000, 50);
    // and then a while of steady answers
    const until = performance.now() + 3000;
    await waitFor('3 s more of answers', () => performance.now() >= until, 5000, 50);
  } finally {
    stop = true;
    await loop;
    await Promise.all([...inflight]);
  }

  samples.sort((a, b) => a.start - b.start);
  const failures = samples.filter((s) => !s.ok);
  const describe = () => samples.filter((s) => s.start >= killedAt - 1000).map((s) => `${Math.round(s.start - killedAt)}+${Math.round(s.end - s.start)}:${s.ok ? s.body : s.status ?? s.error}`).join(', ');
  if (failures.length) {
    const firstIdx = samples.indexOf(failures[0]!);
    const lastIdx = samples.indexOf(failures[failures.length - 1]!);
    // one contiguous window: no success between the first and the last failure
    assert.ok(samples.slice(firstIdx, lastIdx + 1).every((s) => !s.ok), `errors in more than one window: ${describe()}`);
    const windowMs = failures[failures.length - 1]!.end - failures[0]!.start;
    assert.ok(windowMs < 20_000, `failover window ${Math.round(windowMs)} ms: ${describe()}`);
    assert.ok(failures[0]!.end >= killedAt - 500, `no error before the kill: ${describe()}`);
  }
  // every request since the kill that succeeded was answered by another node, and the recovery is bounded
  const afterKill = samples.filter((s) => s.start >= killedAt);
  assert.ok(afterKill.length >= 20, `requests kept going: ${afterKill.length}`);
  for (const s of afterKill.filter((x) => x.ok)) assert.match(s.body!, new RegExp(`^web 0 (${B.name}|${C.name})$`), describe());
  const lastFailure = failures.length ? failures[failures.length - 1]!.start : -Infinity;
  const tail = samples.filter((s) => s.start > lastFailure && s.start >= killedAt);
  assert.ok(tail.length >= 20, `at least 20 answers after the window: ${describe()}`);
  assert.ok(tail.every((s) => s.ok), describe());
  const newNode = tail[tail.length - 1]!.body!.split(' ')[2];
  assert.ok(tail.every((s) => s.body === `web 0 ${newNode}`), 'all from the same new node');
  const slowest = Math.max(...afterKill.map((s) => s.end - s.start));
  assert.ok(firstNewNodeAt - killedAt < 20_000, `recovered ${Math.round(firstNewNodeAt - killedAt)} ms after the kill`);
  console.log(`# failover: first 200 from ${newNode} ${Math.round(firstNewNodeAt - killedAt)} ms after the kill; ${failures.length} failed request(s); slowest request ${Math.round(slowest)} ms`);

  // the view agrees, and DNS drops the dead node
  const view = await serviceView(B.agent, 'web');
  assert.equal(view.replicas[0]!.nodeName, newNode);
  await waitFor('DNS answers with the 2 alive nodes only', async () => (await digShort(B, `web.${DOMAIN}`)).join() === [B.addr, C.addr].sort().join(), 15_000, 200);
  assert.deepEqual(await digShort(C, `${A.name}.node.${DOMAIN}`), [], 'the dead node has no address');
});
