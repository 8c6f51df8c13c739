/**
 * A stack service's internal ports are reachable across nodes by cluster members only (the
 * mesh's guards, core/mesh/guard-plan.ts), on 2 real agents (127.70.0.1-2, this helper's range)
 * and real Docker. `db` is pinned to n1 and lists no TCP port (its image EXPOSEs 80) and
 * `expose: ["5300/udp"]`; `app` is pinned to n2, fetches http://db/ by name and publishes
 * "18380:80" (the routing mesh). 127.70.9.9 plays a machine of the LAN that is not a member: it
 * gets the published port on both nodes, but nothing Docker or the agent opened for db on n1.
 * The proxy runs in a worker process too (--proxy-workers 1). n2's HTTPS listens on a port of its
 * own: a stack publishing that port is refused through either node. Everything it makes is named
 * "guard-it" or labelled with its own nodes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, cleanupAll, type AgentHandle } from '../helpers/agents.ts';
import { ensureMeshImage, MESH_IMAGE } from '../helpers/mesh-image.ts';
import { docker } from '../helpers/images.ts';
import { serviceView, startCluster } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.70.0.1', '127.70.0.2'];
const STRANGER = '127.70.9.9';
const STACK = 'guard-it';
const PUBLISHED = 18380;
const N2_HTTPS = 7444;
let agents: AgentHandle[] = [];
let ids: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'guard-it-'));

const COMPOSE = `
name: ${STACK}
services:
  db:
    image: ${MESH_IMAGE}
    environment:
      UDP_PREFIX: db
    expose: ["5300/udp"]
    command: ["sh", "-c", "udp-echo 5300 & echo 'db says hi' > /www/index.html && exec httpd -f -p 80 -h /www"]
    deploy:
      placement:
        constraints: ["node.hostname==n1"]
  app:
    image: ${MESH_IMAGE}
    ports: ["${PUBLISHED}:80"]
    command:
      - sh
      - -c
      - >-
        while true; do wget -q -O /tmp/a http://db/ && mv /tmp/a /www/index.html; sleep 0.2; done &
        exec httpd -f -p 80 -h /www
    deploy:
      placement:
        constraints: ["node.hostname==n2"]
`;

before(async () => {
  await ensureMeshImage();
  writeFileSync(join(dir, 'compose.yaml'), COMPOSE);
  // a proxy worker process beside each agent's own proxy: both must connect to other nodes from the node's address
  // n2's HTTPS on a port of its own: a stack publishing it is refused on every node (the last test)
  ({ agents, ids } = await startCluster(IPS, (i) => ['--proxy-workers', '1', ...(i === 1 ? ['--https-port', String(N2_HTTPS)] : [])]));
});

after(async () => {
  await cleanupAll();
  await removeNodesDocker(ids);
  rmSync(dir, { recursive: true, force: true });
});

/** GET http://host:port/ from the local address `from` (with `Host` when given); the body of a 200, else undefined. */
function getFrom(from: string, host: string, port: number, hostHeader?: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', localAddress: from, agent: false, timeout: 3000, ...(hostHeader ? { headers: { host: hostHeader } } : {}) }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

/** A raw TCP exchange from `from`: connects, sends an HTTP request, and tells what came back before the close. */
function rawFrom(from: string, host: string, port: number): Promise<{ connected: boolean; bytes: string; error?: string }> {
  return new Promise((resolve) => {
    let connected = false;
    let bytes = '';
    const c = net.connect({ host, port, localAddress: from });
    const timer = setTimeout(() => c.destroy(new Error('timeout: the connection stayed open')), 3000);
    c.on('connect', () => {
      connected = true;
      c.write('GET / HTTP/1.0\r\n\r\n');
    });
    c.on('data', (d) => (bytes += d));
    c.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ connected, bytes, error: err.code ?? err.message });
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve({ connected, bytes });
    });
  });
}

/** One datagram from `from` to host:port; the answer, or undefined after 1 s. */
async function udpFrom(from: string, host: string, port: number, text: string): Promise<string | undefined> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, from, () => r()));
  try {
    return await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 1000);
      s.on('message', (m) => {
        clearTimeout(timer);
        resolve(String(m));
      });
      s.send(text, port, host);
    });
  } finally {
    s.close();
  }
}

/** TCP ports listening on `ip` (this machine's /proc/net/tcp). */
function tcpListeners(ip: string): number[] {
  const hex = ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase()).reverse().join('');
  const out = new Set<number>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== '0A') continue; // LISTEN
    const [addr, port] = f[1]!.split(':');
    if (addr === hex) out.add(parseInt(port!, 16));
  }
  return [...out].sort((a, b) => a - b);
}

test('internal ports: members reach them across nodes, a non-member machine reaches none of them; the published port answers everyone', { timeout: 300_000 }, async () => {
  const r = await cli(['--data-dir', agents[0]!.dataDir, '--api', agents[0]!.api, 'deploy', '-f', join(dir, 'compose.yaml'), '--detach']);
  assert.equal(r.code, 0, r.stderr + r.stdout);

  // app (n2) reaches db (n1) by name, through n2's name forward and n1's guard; everyone gets it on the published port of both nodes
  for (const ip of IPS) {
    await waitFor(`app's page (fetched from db by name) through ${ip}:${PUBLISHED} from a non-member`, async () => (await getFrom(STRANGER, ip, PUBLISHED)) === 'db says hi', 90_000, 200);
  }

  // db's host ports are its guards on n1's address: 80/tcp (EXPOSE) and 5300/udp (expose:)
  const db = await serviceView(agents[0]!, `${STACK}-db`);
  const rep = db.replicas.find((x) => x.state === 'running')!;
  assert.equal(rep.nodeId, ids[0]);
  assert.equal(rep.addr, IPS[0]);
  const tcpGuard = rep.ports.find((p) => p.container === 80 && p.protocol === 'tcp')?.hostPort;
  const udpGuard = rep.ports.find((p) => p.container === 5300 && p.protocol === 'udp')?.hostPort;
  assert.ok(tcpGuard && udpGuard, `db reports its guards' ports: ${JSON.stringify(rep.ports)}`);

  // Docker publishes nothing of db's
  const cid = (await docker('ps', '-q', '--filter', `label=warren.node=${ids[0]}`, '--filter', `label=warren.service=${STACK}-db`)).split('\n')[0]!;
  assert.ok(cid, 'db\'s container');
  assert.equal((await docker('port', cid)).trim(), '', 'no Docker binding for db');
  assert.equal((await docker('inspect', '-f', '{{json .HostConfig.PortBindings}}', cid)).trim(), '{}');

  // a member's address passes the guard (n2's), the non-member's does not, over TCP and UDP
  assert.equal(await getFrom(IPS[1]!, IPS[0]!, tcpGuard), 'db says hi', 'a member reaches db\'s port 80 at its guard');
  assert.equal(await udpFrom(IPS[1]!, IPS[0]!, udpGuard, 'ping'), 'db ping', 'a member reaches db\'s 5300/udp at its guard');
  assert.equal(await udpFrom(STRANGER, IPS[0]!, udpGuard, 'ping'), undefined, 'the non-member\'s datagram is dropped');

  // every TCP port open on n1's address besides Warren's own and the published one: db's guard, and it refuses the non-member
  const health = (await agents[0]!.health()).body as { proxy?: { port: number }; https?: { port: number }; dns?: { port: number } };
  const warrens = new Set([Number(new URL(agents[0]!.api).port), 7371, 7372, 7373, health.proxy?.port, health.https?.port, health.dns?.port]);
  const others = tcpListeners(IPS[0]!).filter((p) => !warrens.has(p) && p !== PUBLISHED);
  assert.deepEqual(others, [tcpGuard], 'nothing else listens for db on n1\'s address');
  for (const port of others) {
    const got = await rawFrom(STRANGER, IPS[0]!, port);
    assert.equal(got.bytes, '', `port ${port}: nothing of the service reaches a non-member (${JSON.stringify(got)})`);
    assert.ok(got.error === undefined || got.error === 'ECONNRESET' || got.error === 'ECONNREFUSED', `port ${port}: reset, refused or closed, not left open (${JSON.stringify(got)})`);
  }
  assert.equal((await rawFrom(IPS[1]!, IPS[0]!, tcpGuard)).bytes.includes('db says hi'), true, 'the same raw request from a member gets the page');

  // the HTTP proxy: db.guard-it.<domain> through n2's proxy (to n1's guard, from n2's address) and n1's (the container)
  for (const a of agents) {
    const h = (await a.health()).body as { proxy: { port: number }; dns: { domain: string } };
    const ask = () => getFrom(STRANGER, a.bind, h.proxy.port, `db.${STACK}.${h.dns.domain}`);
    await waitFor(`db.${STACK} through ${a.bind}'s proxy`, async () => (await ask()) === 'db says hi', 30_000, 200);
    // new connections each: the kernel spreads them over the agent's proxy and its worker
    for (let i = 0; i < 10; i++) assert.equal(await ask(), 'db says hi', `request ${i} through ${a.bind}'s proxy`);
    // <stack>.<domain> is app, the one service publishing a port (its page is what it fetched from db), in the worker too
    const web = () => getFrom(STRANGER, a.bind, h.proxy.port, `${STACK}.${h.dns.domain}`);
    await waitFor(`${STACK}.<domain> through ${a.bind}'s proxy`, async () => (await web()) === 'db says hi', 30_000, 200);
    for (let i = 0; i < 6; i++) assert.equal(await web(), 'db says hi', `${STACK}.<domain>, request ${i} through ${a.bind}'s proxy`);
  }

  // stack ps shows where members reach db (its guards)
  const ps = await cli(['--api', agents[1]!.api, 'stack', 'ps', STACK]);
  assert.equal(ps.code, 0, ps.stderr);
  assert.match(ps.stdout, new RegExp(`${IPS[0]!.replace(/\./g, '\\.')}:${tcpGuard} -> 80/tcp`));
});

test('a published port that another node\'s agent holds is refused at deploy time through any node, naming that node and its flag', { timeout: 60_000 }, async () => {
  const file = join(dir, 'clash.yaml');
  writeFileSync(file, `name: clash-it\nservices:\n  web:\n    image: ${MESH_IMAGE}\n    ports: ["${N2_HTTPS}:80"]\n`);
  const n2Health = (await agents[1]!.health()).body as { https?: { port: number }; ports?: { port: number; flag: string }[] };
  assert.equal(n2Health.https?.port, N2_HTTPS, 'n2 serves HTTPS on its own port');
  assert.ok(n2Health.ports?.some((p) => p.port === N2_HTTPS && p.flag === '--https-port'), `n2's health lists the ports it holds: ${JSON.stringify(n2Health.ports)}`);
  const want = [
    new RegExp(`host port ${N2_HTTPS}/tcp is Warren's HTTPS port on node n2: publish another host port .* or start the agent on n2 with another --https-port`),
    new RegExp(`host port ${N2_HTTPS}/tcp is Warren's HTTPS port: publish another host port .* or start the agents with another --https-port`),
  ];
  for (const [i, a] of agents.entries()) {
    for (const more of [['--dry-run'], ['--detach']]) {
      const r = await cli(['--data-dir', a.dataDir, '--api', a.api, 'deploy', '-f', file, ...more]);
      assert.notEqual(r.code, 0, `deploy ${more[0]} through ${a.bind} was refused`);
      assert.match(r.stderr, want[i]!, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  }
  const ls = await cli(['--api', agents[0]!.api, 'stack', 'ls', '--json']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.ok(!ls.stdout.includes('clash-it'), `nothing was deployed: ${ls.stdout}`);
});
