import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { defaultProxyWorkers } from '../src/core/agent-config.ts';
import { cleanupAll, cli, startAgent, type AgentHandle } from '../test/helpers/agents.ts';
import { healthBody, members } from './agent-api.ts';
import { admission } from '../test/helpers/cluster.ts';
import { ensureHttpdImage, importImage, nodeContainers, removeClusterContainers, HTTPD_IMAGE } from '../test/helpers/images.ts';
import { adminHeaders, postService, runningReplicas, serviceView, waitServing } from '../test/helpers/services.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { loadAvg1, quietMachine } from './machine.ts';
import { median, type Metric } from './results.ts';

/**
 * Routing benchmarks (real agent processes on loopback addresses 127.0.16.x, real Docker):
 *   routing.proxy_rps_ratio_vs_nginx   wrk -t2 -c50 -d10s through Warren's proxy / through nginx (1 worker,
 *                                      upstream keepalive 64) to the same replica; value = Warren's req/s
 *                                      over nginx's, nginx configured as a user would: to the replica's node
 *                                      address : published port (docker-proxy). The replica runs on the
 *                                      agent's node, so Warren's proxy reaches it at its container address
 *                                      (the local fast path; which path it took is read from /metrics and
 *                                      stated in the result); nginx to that same container address is run
 *                                      too (nginx_direct_*, direct_ratio). Two backends: the test image's
 *                                      busybox httpd (it forks per connection and closes every connection: the backend is the
 *                                      bottleneck there, and every proxied request is a new backend
 *                                      connection) and the same static page served by nginx inside a
 *                                      container (keep-alive; the proxies are the bottleneck). The value is
 *                                      the latter; the busybox figures are extra fields, and so are those of
 *                                      src/routing/proxy.ts alone (in this process) vs nginx to a static nginx
 *                                      on the host (no docker-proxy between proxy and backend).
 *   routing.failover_through_proxy_ms  3 agents, a 1-replica service on a non-leader; kill -9 of that node and
 *                                      docker kill of its containers -> first HTTP 200 naming another node
 *                                      through a surviving node's proxy (a GET fired every 50 ms)
 *   routing.dns_qps                    dnsperf -c 10 -l 10 against Warren's DNS and against dnsmasq serving
 *                                      the same names; value = Warren's qps
 * The machine has 2 cores: wrk/dnsperf share them with what they measure (and so do both sides).
 */

const execFileP = promisify(execFile);
const ARGS = ['--log-level', 'info', '--open'];
const DOMAIN = 'warren.internal';
const WRK_SECONDS = Number(process.env.WARREN_BENCH_WRK_SECONDS ?? 10);
const WRK_WARMUP_SECONDS = 2;
const DNSPERF_SECONDS = 10;
const FAILOVER_TRIALS = Number(process.env.WARREN_BENCH_FAILOVER_TRIALS ?? 5);
const POLL_MS = 50;
/** how long to wait for other test runs to finish before measuring anyway (the group should stay ~5 min) */
const QUIET_WAIT_MS = Number(process.env.WARREN_BENCH_QUIET_WAIT_MS ?? 30_000);
/** a static page served by nginx inside a container (built from this machine's nginx binary) */
const NGINX_IMAGE = 'warren-bench/nginx:1';

const round = (x: number) => Math.round(x);
const round2 = (x: number) => Math.round(x * 100) / 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** child processes this group started (nginx, dnsmasq): killed in `finally` whatever happens */
const children = new Set<ChildProcess>();

function spawnChild(cmd: string, args: string[]): ChildProcess {
  // pdeathsig: a benchmark that dies leaves no nginx/dnsmasq behind
  const child = spawn('/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-2000);
  });
  (child as ChildProcess & { errText: () => string }).errText = () => err;
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

async function killChildren(): Promise<void> {
  await Promise.all([...children].map(killChild));
}

/** GET / with a Host header on a fresh connection: status and body, or status 0 on a connection error. */
function hostGet(addr: string, port: number, host: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: addr, port, path: '/', headers: { host }, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').trim() }));
      res.on('error', (err) => resolve({ status: 0, body: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}

// ------------------------------------------------------------------------------------------------
// the nginx backend image

/** The shared libraries a binary needs, as `ldd` lists them (paths on this machine). */
async function libsOf(binary: string): Promise<string[]> {
  const { stdout } = await execFileP('ldd', [binary]);
  return [...stdout.matchAll(/(\/\S+)/g)].map((m) => m[1]!).filter((p) => !p.startsWith(binary));
}

/**
 * An image serving "<service> <slot> <node>" on port 80 from nginx (keep-alive, 1 worker), made
 * from this machine's nginx binary, its libraries and busybox (no registry is reachable here).
 */
export async function ensureNginxImage(): Promise<string> {
  const exists = await execFileP('docker', ['image', 'inspect', NGINX_IMAGE]).then(() => true, () => false);
  if (exists) return NGINX_IMAGE;
  const root = await mkdtemp(join(tmpdir(), 'warren-bench-image-'));
  try {
    for (const d of ['bin', 'usr/sbin', 'www', 'tmp', 'etc']) await mkdir(join(root, d), { recursive: true });
    await copyFile('/usr/sbin/nginx', join(root, 'usr/sbin/nginx'));
    await chmod(join(root, 'usr/sbin/nginx'), 0o755);
    for (const lib of await libsOf('/usr/sbin/nginx')) {
      await mkdir(join(root, dirname(lib)), { recursive: true });
      await copyFile(lib, join(root, lib)); // copyFile follows symlinks
    }
    await copyFile('/bin/busybox', join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    for (const tool of ['sh', 'mkdir', 'echo', 'cat']) await symlink('busybox', join(root, 'bin', tool));
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    await writeFile(join(root, 'etc/nginx.conf'), `daemon off;
master_process off;
worker_processes 1;
user root;
error_log stderr warn;
pid /tmp/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path /tmp;
  proxy_temp_path /tmp;
  fastcgi_temp_path /tmp;
  uwsgi_temp_path /tmp;
  scgi_temp_path /tmp;
  keepalive_requests 1000000;
  server { listen 80; root /www; default_type text/plain; }
}
`);
    await writeFile(join(root, 'serve.sh'), '#!/bin/sh\necho "$WARREN_SERVICE $WARREN_SLOT $WARREN_NODE" > /www/index.html\nexec /usr/sbin/nginx -c /etc/nginx.conf -p /tmp/\n', { mode: 0o755 });
    await importImage(root, NGINX_IMAGE);
    return NGINX_IMAGE;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------------
// wrk and nginx

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

function toMs(v: string, unit: string): number {
  const x = Number(v);
  return unit === 'us' ? x / 1000 : unit === 's' ? x * 1000 : unit === 'm' ? x * 60_000 : x;
}

export async function wrk(url: string, host: string, seconds: number): Promise<WrkResult> {
  const { stdout } = await execFileP('wrk', ['-t2', '-c50', `-d${seconds}s`, '--latency', '-H', `Host: ${host}`, url], { timeout: (seconds + 30) * 1000 });
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(stdout);
    return m ? round2(toMs(m[1]!, m[2]!)) : NaN;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return {
    rps: round(Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN)),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    requests: Number(/(\d+) requests in/.exec(stdout)?.[1] ?? NaN),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0),
    socketErrors: socket ? socket.slice(1).reduce((s, x) => s + Number(x), 0) : 0,
  };
}

/** nginx (1 worker, no master, `daemon off;`) with the given `http { ... }` body, run as a child; `stop` kills it. */
async function runNginx(httpBody: (prefix: string) => string, check: { addr: string; port: number }): Promise<{ stop: () => Promise<void> }> {
  const prefix = await mkdtemp(join(tmpdir(), 'warren-bench-nginx-'));
  await mkdir(join(prefix, 'tmp'));
  const conf = join(prefix, 'nginx.conf');
  await writeFile(conf, `daemon off;
master_process off;
worker_processes 1;
error_log ${prefix}/error.log warn;
pid ${prefix}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp;
  proxy_temp_path ${prefix}/tmp;
  fastcgi_temp_path ${prefix}/tmp;
  uwsgi_temp_path ${prefix}/tmp;
  scgi_temp_path ${prefix}/tmp;
${httpBody(prefix)}
}
`);
  const child = spawnChild('nginx', ['-c', conf, '-p', prefix]);
  const stop = async () => {
    await killChild(child);
    await rm(prefix, { recursive: true, force: true });
  };
  try {
    await waitFor('nginx answering', async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${(child as any).errText()}`);
      return (await hostGet(check.addr, check.port, `web.${DOMAIN}`, 1000)).status === 200;
    }, 10_000, 50);
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

/** nginx as a reverse proxy to one backend (upstream keepalive 64), with the headers Warren's proxy adds too. */
function startNginxProxy(listen: string, port: number, backend: string): Promise<{ stop: () => Promise<void> }> {
  return runNginx(() => `  upstream backend {
    server ${backend};
    keepalive 64;
  }
  server {
    listen ${listen}:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }`, { addr: listen, port });
}

/** nginx serving a static page on the host (keep-alive), for the proxy-module comparison. */
async function startStaticNginx(listen: string, port: number, page: string): Promise<{ stop: () => Promise<void> }> {
  const www = await mkdtemp(join(tmpdir(), 'warren-bench-www-'));
  await writeFile(join(www, 'index.html'), `${page}\n`);
  const n = await runNginx(() => `  keepalive_requests 1000000;
  server { listen ${listen}:${port}; root ${www}; default_type text/plain; }`, { addr: listen, port }).catch(async (err: unknown) => {
    await rm(www, { recursive: true, force: true });
    throw err;
  });
  return {
    stop: async () => {
      await n.stop();
      await rm(www, { recursive: true, force: true });
    },
  };
}

interface Comparison {
  warren: WrkResult;
  /** nginx as a user would set it up: to the replica's node address : published port (docker-proxy) */
  nginx: WrkResult;
  /** nginx to the container's own address (the path Warren's proxy takes for a local replica) */
  nginxDirect: WrkResult;
  /** the published address and the container address of the replica */
  published: string;
  container: string;
  /** Warren's proxy tries during its measured run, by path (from the agent's /metrics) */
  warrenTries: { container: number; published: number };
  /** the backend's container changed during a run (another test run removed it): figures retried once */
  retried: boolean;
}

/** The agent's proxy tries so far, by path (GET /metrics). */
async function proxyTries(agent: AgentHandle): Promise<{ container: number; published: number }> {
  const text = await (await fetch(`${agent.api}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const get = (path: string) => Number(new RegExp(`^warren_proxy_tries_total\\{path="${path}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { container: get('container'), published: get('published') };
}

/** The container address (IP : container port) of a service's running container on a node. */
async function containerAddress(nodeId: string, service: string, port: number): Promise<string> {
  const { stdout } = await execFileP('docker', ['ps', '-q', '--filter', `label=warren.node=${nodeId}`, '--filter', `label=warren.service=${service}`]);
  const id = stdout.split('\n').find(Boolean);
  if (!id) throw new Error(`no running ${service} container on ${nodeId}`);
  const ip = (await execFileP('docker', ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', id])).stdout.trim();
  if (!ip) throw new Error(`the ${service} container has no bridge address`);
  return `${ip}:${port}`;
}

/** wrk through nginx (started for this run, stopped after) reverse-proxying to `backend`. */
async function wrkViaNginx(backend: string, host: string): Promise<WrkResult> {
  const nginx = await startNginxProxy('127.0.16.3', 8080, backend);
  try {
    await wrk('http://127.0.16.3:8080/', host, WRK_WARMUP_SECONDS);
    return await wrk('http://127.0.16.3:8080/', host, WRK_SECONDS);
  } finally {
    await nginx.stop();
  }
}

/**
 * wrk through Warren's proxy, then through nginx to the replica's published port, then through
 * nginx to its container address: all to the same replica of `service`.
 */
async function compareProxies(agent: AgentHandle, nodeId: string, proxyPort: number, service: string): Promise<Comparison> {
  let retried = false;
  for (let attempt = 0; ; attempt++) {
    const [rep] = await waitServing(agent, service, 1, 60_000);
    const published = new URL(rep!.url).host;
    const container = await containerAddress(nodeId, service, 80);
    const before = (await nodeContainers(nodeId)).join();
    const warrenUrl = `http://${agent.bind}:${proxyPort}/`;
    const host = `${service}.${DOMAIN}`;
    await wrk(warrenUrl, host, WRK_WARMUP_SECONDS);
    const t0 = await proxyTries(agent);
    const warren = await wrk(warrenUrl, host, WRK_SECONDS);
    const t1 = await proxyTries(agent);
    await sleep(1000);
    const viaNginx = await wrkViaNginx(published, host);
    await sleep(1000);
    const nginxDirect = await wrkViaNginx(container, host);
    const after = (await nodeContainers(nodeId)).join();
    const warrenTries = { container: t1.container - t0.container, published: t1.published - t0.published };
    if (after === before || attempt >= 1) return { warren, nginx: viaNginx, nginxDirect, published, container, warrenTries, retried };
    console.log(`bench: routing.proxy: the ${service} container changed during the runs (another test run?); measuring again`);
    retried = true;
  }
}

/** Which path Warren's proxy took during its run, in words. */
function warrenPath(c: Comparison): string {
  const { container, published } = c.warrenTries;
  const total = container + published;
  const pct = (n: number) => `${Math.round((n / Math.max(1, total)) * 1000) / 10}%`;
  if (container > 0 && published === 0) return `the container address ${c.container} (local replica: docker-proxy skipped) for all ${total} tries`;
  if (container === 0) return `the published port ${c.published} (through docker-proxy) for all ${total} tries: the local fast path was NOT taken`;
  return `mixed: container address ${c.container} for ${pct(container)}, published port ${c.published} for ${pct(published)} of ${total} tries`;
}

/**
 * The proxy alone, without Docker's port forwarding in the way: src/routing/proxy.ts (the code the
 * agent runs, here in the benchmark's own process, which is otherwise idle) and nginx, both to a
 * static nginx on the host.
 */
async function compareOnHost(): Promise<{ warren: WrkResult; nginx: WrkResult }> {
  const { startProxy } = await import('../src/routing/proxy.ts');
  const { pino } = await import('pino');
  const backend = { host: '127.0.16.5', port: 8081 };
  const staticNginx = await startStaticNginx(backend.host, backend.port, 'fast 0 host');
  try {
    const proxy = await startProxy({
      bind: '127.0.16.6',
      port: 8082,
      domain: DOMAIN,
      logger: pino({ level: 'silent' }),
      routes: { backends: (s) => (s === 'fast' ? [{ ...backend, nodeId: 'host', slot: 0 }] : []), hasService: (s) => s === 'fast', services: () => ['fast'] },
    });
    const nginx = await startNginxProxy('127.0.16.3', 8080, `${backend.host}:${backend.port}`);
    try {
      const host = `fast.${DOMAIN}`;
      await wrk('http://127.0.16.6:8082/', host, WRK_WARMUP_SECONDS);
      const warren = await wrk('http://127.0.16.6:8082/', host, WRK_SECONDS);
      await sleep(1000);
      await wrk('http://127.0.16.3:8080/', host, WRK_WARMUP_SECONDS);
      const viaNginx = await wrk('http://127.0.16.3:8080/', host, WRK_SECONDS);
      return { warren, nginx: viaNginx };
    } finally {
      await nginx.stop();
      await proxy.close();
    }
  } finally {
    await staticNginx.stop();
  }
}

interface ProxyPair {
  warren: WrkResult;
  nginx: WrkResult;
}

function logPair<T extends ProxyPair & { nginxDirect?: WrkResult }>(label: string, p: T): T {
  const direct = p.nginxDirect ? `; nginx to the container address ${p.nginxDirect.rps} req/s p99 ${p.nginxDirect.p99Ms} ms` : '';
  console.log(`bench: routing.proxy (${label}): warren ${p.warren.rps} req/s p99 ${p.warren.p99Ms} ms, nginx ${p.nginx.rps} req/s p99 ${p.nginx.p99Ms} ms${direct}`);
  return p;
}

/** req/s, p99 and errors of each proxy run, under one key prefix per backend. */
function pairFields(prefix: string, p: ProxyPair & { nginxDirect?: WrkResult }): Record<string, number> {
  const out: Record<string, number> = {};
  const runs: [string, WrkResult][] = [['warren', p.warren], ['nginx', p.nginx]];
  if (p.nginxDirect) runs.push(['nginx_direct', p.nginxDirect]);
  for (const [who, r] of runs) {
    out[`${prefix}${who}_rps`] = r.rps;
    out[`${prefix}${who}_p99_ms`] = r.p99Ms;
    out[`${prefix}${who}_errors`] = r.non2xx + r.socketErrors;
  }
  return out;
}

async function benchProxy(agent: AgentHandle, nodeId: string, proxyPort: number, quiet: unknown): Promise<Metric> {
  for (const [name, image] of [['web', HTTPD_IMAGE], ['fast', NGINX_IMAGE]] as const) {
    const created = await postService(agent, { name, image, ports: [80], replicas: 1 });
    if (created.status !== 201) throw new Error(`creating ${name}: ${created.status} ${JSON.stringify(created.body)}`);
  }
  const fast = logPair('nginx backend', await compareProxies(agent, nodeId, proxyPort, 'fast'));
  const busy = logPair('busybox backend', await compareProxies(agent, nodeId, proxyPort, 'web'));
  const host = logPair('proxy module, host nginx backend', await compareOnHost());
  return {
    value: round2(fast.warren.rps / fast.nginx.rps),
    unit: 'ratio',
    goal: '>= 0.8',
    backend: `${NGINX_IMAGE}: nginx 1 worker serving a static page with keep-alive, in a container on this node (the agent's own node)`,
    wrk: `-t2 -c50 -d${WRK_SECONDS}s (after a ${WRK_WARMUP_SECONDS} s warm-up), Host: fast.${DOMAIN}`,
    warren_path: `Warren's proxy reached the replica at ${warrenPath(fast)}`,
    nginx_path: `nginx (1 worker, upstream keepalive 64) configured as a user would: to the replica's node address : published port ${fast.published} (through docker-proxy). The value is warren_rps / nginx_rps`,
    nginx_direct_path: `nginx to the container address ${fast.container}, the path Warren's proxy takes for a local replica: direct_ratio = warren_rps / nginx_direct_rps compares the two proxies on the same path`,
    ...pairFields('', fast),
    direct_ratio: round2(fast.warren.rps / fast.nginxDirect.rps),
    warren_p50_ms: fast.warren.p50Ms,
    nginx_p50_ms: fast.nginx.p50Ms,
    nginx_direct_p50_ms: fast.nginxDirect.p50Ms,
    busybox_backend: `${HTTPD_IMAGE}: busybox httpd, one forked process per connection, closes every connection (no keep-alive)`,
    busybox_warren_path: warrenPath(busy),
    busybox_ratio: round2(busy.warren.rps / busy.nginx.rps),
    busybox_direct_ratio: round2(busy.warren.rps / busy.nginxDirect.rps),
    ...pairFields('busybox_', busy),
    host_backend: 'src/routing/proxy.ts run in the benchmark process (not an agent) vs nginx, both to a static nginx on the host: no docker-proxy in the path',
    host_ratio: round2(host.warren.rps / host.nginx.rps),
    ...pairFields('host_', host),
    retriedAfterInterference: fast.retried || busy.retried,
    atStart: quiet,
    loadAvg1AtEnd: loadAvg1(),
  };
}

// ------------------------------------------------------------------------------------------------
// DNS

interface DnsperfResult {
  qps: number;
  completed: number;
  lost: number;
  avgLatencyMs: number;
  rcodes: string;
}

async function dnsperf(addr: string, port: number, queryFile: string): Promise<DnsperfResult> {
  const { stdout } = await execFileP('dnsperf', ['-s', addr, '-p', String(port), '-d', queryFile, '-l', String(DNSPERF_SECONDS), '-c', '10'], { timeout: (DNSPERF_SECONDS + 30) * 1000 });
  return {
    qps: round(Number(/Queries per second:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN)),
    completed: Number(/Queries completed:\s+(\d+)/.exec(stdout)?.[1] ?? NaN),
    lost: Number(/Queries lost:\s+(\d+)/.exec(stdout)?.[1] ?? NaN),
    avgLatencyMs: round2(Number(/Average Latency \(s\):\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN) * 1000),
    rcodes: /Response codes:\s+(.*)/.exec(stdout)?.[1]?.trim() ?? '',
  };
}

async function benchDns(agent: AgentHandle, nodeName: string, dnsPort: number, quiet: unknown): Promise<Metric> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-bench-dns-'));
  try {
    // the same names on both: a service name and a node name
    const names = [`web.${DOMAIN}`, `${nodeName}.node.${DOMAIN}`];
    const queryFile = join(dir, 'queries');
    await writeFile(queryFile, names.map((n) => `${n} A\n`).join(''));
    const addr = agent.bind;
    const dnsmasqAddr = '127.0.16.3';
    const dnsmasqPort = 5353;
    const conf = join(dir, 'dnsmasq.conf');
    await writeFile(conf, [
      'keep-in-foreground',
      `port=${dnsmasqPort}`,
      `listen-address=${dnsmasqAddr}`,
      'bind-interfaces',
      'no-resolv',
      'no-hosts',
      'no-poll',
      'user=root', // no credential change: keeps the parent-death signal
      'pid-file=',
      'log-facility=-',
      ...names.map((n) => `host-record=${n},${addr}`),
      '',
    ].join('\n'));
    // Warren answers first (its zone needs the service to exist)
    const ok = await execFileP('dig', [`@${addr}`, '-p', String(dnsPort), '+short', '+tries=1', '+time=2', names[0]!, 'A']);
    if (!ok.stdout.includes(addr)) throw new Error(`Warren's DNS does not answer ${names[0]}: ${ok.stdout}`);
    const dnsmasq = spawnChild('dnsmasq', ['--conf-file=' + conf]);
    try {
      await waitFor('dnsmasq answering', async () => {
        if (dnsmasq.exitCode !== null) throw new Error(`dnsmasq exited with ${dnsmasq.exitCode}: ${(dnsmasq as any).errText()}`);
        const r = await execFileP('dig', [`@${dnsmasqAddr}`, '-p', String(dnsmasqPort), '+short', '+tries=1', '+time=1', names[0]!, 'A']).catch(() => ({ stdout: '' }));
        return r.stdout.includes(addr);
      }, 10_000, 100);
      const warren = await dnsperf(addr, dnsPort, queryFile);
      await sleep(1000);
      const other = await dnsperf(dnsmasqAddr, dnsmasqPort, queryFile);
      console.log(`bench: routing.dns: warren ${warren.qps} qps (${warren.rcodes}), dnsmasq ${other.qps} qps (${other.rcodes})`);
      return {
        value: warren.qps,
        unit: 'qps',
        dnsmasq_qps: other.qps,
        ratio: round2(warren.qps / other.qps),
        dnsperf: `-c 10 -l ${DNSPERF_SECONDS} (100 queries outstanding), names: ${names.join(', ')} (A)`,
        warren_lost: warren.lost,
        dnsmasq_lost: other.lost,
        warren_avg_latency_ms: warren.avgLatencyMs,
        dnsmasq_avg_latency_ms: other.avgLatencyMs,
        warren_rcodes: warren.rcodes,
        dnsmasq_rcodes: other.rcodes,
        atStart: quiet,
        loadAvg1AtEnd: loadAvg1(),
      };
    } finally {
      await killChild(dnsmasq);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------------
// failover through the proxy

interface Node {
  agent: AgentHandle;
  id: string;
  name: string;
  proxyPort: number;
}

async function patchService(a: AgentHandle, name: string, patch: unknown): Promise<void> {
  const res = await fetch(`${a.api}/v1/services/${name}`, { method: 'PATCH', headers: await adminHeaders(a), body: JSON.stringify(patch), signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`PATCH ${name}: ${res.status} ${await res.text()}`);
}

/** Every node healthy, 3 voters, everyone alive for everyone. */
async function steady(nodes: Node[]): Promise<void> {
  await waitFor('3 healthy nodes, 3 voters, all alive for all', async () => {
    const bodies = await Promise.all(nodes.map((n) => healthBody(n.agent)));
    if (!bodies.every((b) => b?.etcd?.healthy)) return false;
    const view = await admission(nodes[0]!.agent);
    if ((view.voters ?? []).filter((v: any) => !v.isLearner).length !== 3 || !view.leader) return false;
    const views = await Promise.all(nodes.map((n) => members(n.agent).catch(() => [])));
    return views.every((v) => nodes.every((n) => v.some((m) => m.id === n.id && m.state === 'alive')));
  }, 120_000, 100);
}

interface FailoverTrial {
  ms: number;
  /** non-200 answers or connection errors seen by the poller before the first 200 from another node */
  errors: number;
  /** 200s still answered by the killed node's replica (before its container died) */
  oldAnswers: number;
}

async function failoverTrial(nodes: Node[], trial: number): Promise<FailoverTrial> {
  const leader = (await admission(nodes[0]!.agent)).leader as string;
  const view = await serviceView(nodes[0]!.agent, 'fo');
  const current = view.replicas[0]?.nodeId;
  const nonLeaders = nodes.filter((n) => n.id !== leader);
  const victim = nonLeaders.find((n) => n.id === current) ?? nonLeaders[trial % nonLeaders.length]!;
  if (current !== victim.id) {
    // put the replica on the victim (a constraint that no longer holds moves it), then unpin it
    await patchService(nodes[0]!.agent, 'fo', { constraints: [`node=${victim.name}`] });
    await waitFor(`the replica on ${victim.name}`, async () => {
      const running = await runningReplicas(nodes[0]!.agent, 'fo');
      return running.length === 1 && running[0]!.nodeId === victim.id;
    }, 60_000, 100);
  }
  if (view.spec.constraints.length || current !== victim.id) await patchService(nodes[0]!.agent, 'fo', { constraints: [] });
  const via = nodes.find((n) => n !== victim)!;
  const host = `fo.${DOMAIN}`;
  await waitFor(`the replica on ${victim.name} answering through ${via.name}'s proxy`, async () => {
    const r = await hostGet(via.agent.bind, via.proxyPort, host, 2000);
    return r.status === 200 && r.body.endsWith(` ${victim.name}`);
  }, 30_000, 100);
  const containers = await nodeContainers(victim.id);
  await sleep(1000); // a steady cluster: every survivor has heard the victim's recent heartbeats

  let errors = 0;
  let oldAnswers = 0;
  let firstOkAt = 0;
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  process.kill(victim.agent.pid, 'SIGKILL');
  const dockerKill = containers.length ? execFileP('docker', ['kill', ...containers]).catch(() => undefined) : Promise.resolve();
  try {
    for (let next = t0; firstOkAt === 0 && performance.now() - t0 < 60_000; next += POLL_MS) {
      const p = hostGet(via.agent.bind, via.proxyPort, host, 15_000).then((r) => {
        if (r.status !== 200) errors++;
        else if (r.body.endsWith(` ${victim.name}`)) oldAnswers++;
        else if (firstOkAt === 0) firstOkAt = performance.now();
      }).finally(() => inflight.delete(p));
      inflight.add(p);
      await sleep(Math.max(0, next + POLL_MS - performance.now()));
    }
    if (firstOkAt === 0) throw new Error(`no answer from another node through ${via.name}'s proxy within 60 s of the kill`);
  } finally {
    await dockerKill;
    await Promise.all([...inflight]);
  }
  const ms = firstOkAt - t0;
  console.log(`bench: routing.failover_through_proxy trial ${trial + 1}: killed ${victim.name}, first 200 from another node through ${via.name} at ${round(ms)} ms (${errors} errors, ${oldAnswers} answers from the old replica)`);

  // the killed node comes back with its data dir and rejoins
  await victim.agent.exited;
  victim.agent = await startAgent({ bind: victim.agent.bind, dataDir: victim.agent.dataDir, waitReady: false, args: ['--join', via.agent.bind, ...ARGS] });
  await waitFor(`${victim.name} back and healthy`, async () => {
    if (!victim.agent.running) throw new Error(`${victim.name} exited with ${victim.agent.exitCode}: ${victim.agent.log().slice(-600)}`);
    return (await healthBody(victim.agent)) !== undefined;
  }, 120_000, 100);
  await steady(nodes);
  await waitFor(`${victim.name} removed its old container`, async () => (await nodeContainers(victim.id, true)).length === 0, 60_000, 200);
  return { ms, errors, oldAnswers };
}

async function benchFailover(): Promise<Metric> {
  const quiet = await quietMachine('routing.failover_through_proxy', QUIET_WAIT_MS);
  const ips = ['127.0.16.10', '127.0.16.11', '127.0.16.12'];
  const first = await startAgent({ bind: ips[0]!, args: ARGS });
  const agents = [first];
  for (const ip of ips.slice(1)) agents.push(await startAgent({ bind: ip, args: ['--join', ips[0]!, ...ARGS], waitReady: false }));
  const nodes: Node[] = [];
  for (const agent of agents) {
    const body = await waitFor(`${agent.bind} admitted`, async () => {
      if (!agent.running) throw new Error(`agent ${agent.bind} exited with ${agent.exitCode}: ${agent.log().slice(-600)}`);
      return healthBody(agent);
    }, 90_000, 100);
    nodes.push({ agent, id: body.node.id, name: body.node.name, proxyPort: body.proxy.port });
  }
  await steady(nodes);
  await waitFor('every node serving /v1/services', async () => {
    const res = await Promise.all(nodes.map((n) => fetch(`${n.agent.api}/v1/services`).then((r) => r.status).catch(() => 0)));
    return res.every((s) => s === 200);
  }, 60_000, 200);
  console.log('bench: routing.failover_through_proxy: 3-node cluster up');
  const created = await postService(first, { name: 'fo', image: HTTPD_IMAGE, ports: [80], replicas: 1 });
  if (created.status !== 201) throw new Error(`creating fo: ${created.status} ${JSON.stringify(created.body)}`);
  await waitServing(first, 'fo', 1, 60_000);
  const trials: FailoverTrial[] = [];
  for (let trial = 0; trial < FAILOVER_TRIALS; trial++) {
    // a node may have been restarted: ask one that is up (they all are, after `steady`)
    trials.push(await failoverTrial(nodes, trial));
  }
  const times = trials.map((t) => t.ms);
  return {
    value: round(median(times)),
    unit: 'ms',
    goal: '<= 6000',
    runs: times.map(round),
    errorsPerTrial: trials.map((t) => t.errors),
    oldReplicaAnswersPerTrial: trials.map((t) => t.oldAnswers),
    poll: `a GET through a surviving node's proxy fired every ${POLL_MS} ms (each waits up to 15 s); time from the kill -9 to the first 200 naming another node`,
    atStart: quiet,
    loadAvg1AtEnd: loadAvg1(),
  };
}

// ------------------------------------------------------------------------------------------------

/** All three by default; WARREN_BENCH_ROUTING=proxy,dns,failover picks some (for development). */
export async function benchRouting(): Promise<Record<string, Metric>> {
  const only = new Set((process.env.WARREN_BENCH_ROUTING ?? 'proxy,dns,failover').split(',').map((s) => s.trim()));
  await cli(['--version']); // (re)build the bundle now, not inside the first measurement
  await ensureHttpdImage();
  await ensureNginxImage();
  const out: Record<string, Metric> = {};
  try {
    if (only.has('proxy') || only.has('dns')) {
      // one agent for both (the DNS names need the service `web` to exist)
      const quiet = await quietMachine('routing.proxy_rps_ratio_vs_nginx / routing.dns_qps', QUIET_WAIT_MS);
      // the workers `auto` starts once the proxy is busy, started at boot: the figure is the data
      // plane's capacity under load, not the first seconds before the workers are up
      const agent = await startAgent({ bind: '127.0.16.2', args: [...ARGS, '--proxy-workers', String(defaultProxyWorkers(availableParallelism()))] });
      try {
        const body = await healthBody(agent);
        await waitFor('the agent serving /v1/services', async () => (await fetch(`${agent.api}/v1/services`).catch(() => undefined))?.status === 200, 60_000, 100);
        if (only.has('proxy')) out['routing.proxy_rps_ratio_vs_nginx'] = await benchProxy(agent, body.node.id, body.proxy.port, quiet);
        else {
          const created = await postService(agent, { name: 'web', image: HTTPD_IMAGE, ports: [80], replicas: 1 });
          if (created.status !== 201) throw new Error(`creating web: ${created.status} ${JSON.stringify(created.body)}`);
          await waitServing(agent, 'web', 1, 60_000);
        }
        if (only.has('dns')) out['routing.dns_qps'] = await benchDns(agent, body.node.name, body.dns.port, { ...(quiet as object), loadAvg1BeforeDns: loadAvg1() });
      } finally {
        await agent.stop('SIGKILL', 5000);
      }
    }
    if (only.has('failover')) out['routing.failover_through_proxy_ms'] = await benchFailover();
  } finally {
    await killChildren();
    await cleanupAll();
    await removeClusterContainers();
  }
  return out;
}
