/**
 * Names across nodes and the L4 routing mesh, on 3 real agents (127.61.0.1-3, this helper's
 * range) and real Docker: `back` is pinned to n1 and lists no port (its image EXPOSEs 80),
 * `front` is pinned to n2 and fetches http://back/ and http://api/ (an alias) by name; `echo` is
 * unpinned and publishes TCP 18081 and UDP 18053; `front` is labelled the stack's web service
 * (`mesh-it.<domain>` through the proxy). Every published port answers on every node's
 * address; after the node running `echo` is killed (-9, its containers removed as a dead
 * machine's would be gone), both its ports answer again on the surviving nodes, and a stack
 * container on a surviving node reaches it by name again. `hostweb` runs on n3's own network
 * (network_mode: host, port 18099): the back (n1) and the front (n2) reach it by name, and so
 * does n1's proxy; `hostauto` too, though its file lists no port: the one it listens on (18098)
 * is found in its sockets.
 * Everything it makes is named "mesh-it" or labelled with its own nodes. (busybox-static's
 * `wget -T` crashes when it resolves a name: the front's loop has no -T.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, cleanupAll, type AgentHandle } from '../helpers/agents.ts';
import { ensureMeshImage, MESH_IMAGE } from '../helpers/mesh-image.ts';
import { docker } from '../helpers/images.ts';
import { serviceView, startCluster } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.61.0.1', '127.61.0.2', '127.61.0.3'];
const STACK = 'mesh-it';
let agents: AgentHandle[] = [];
let ids: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'mesh-it-'));

const COMPOSE = `
name: ${STACK}
services:
  back:
    image: ${MESH_IMAGE}
    command: ["sh", "-c", "echo 'back says hi' > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks:
      default:
        aliases: [api]
    deploy:
      placement:
        constraints: ["node.hostname==n1"]
  front:
    image: ${MESH_IMAGE}
    ports: ["18080:80"]
    labels: {warren.web: "true"}
    command:
      - sh
      - -c
      - >-
        while true; do
        wget -q -O /tmp/a http://back/ && mv /tmp/a /www/index.html;
        wget -q -O /tmp/b http://api/ && mv /tmp/b /www/alias.html;
        sleep 0.2; done &
        exec httpd -f -p 80 -h /www
    deploy:
      placement:
        constraints: ["node.hostname==n2"]
  echo:
    image: ${MESH_IMAGE}
    environment:
      UDP_PREFIX: echo
    ports: ["18081:80", "18053:5300/udp"]
    command: ["sh", "-c", "udp-echo 5300 & exec /serve.sh"]
  hostweb:
    image: ${MESH_IMAGE}
    network_mode: host
    expose: ["18099"]
    command: ["sh", "-c", "mkdir -p /tmp/hw && echo 'host says hi' > /tmp/hw/index.html && exec httpd -f -p 18099 -h /tmp/hw"]
    deploy:
      placement:
        constraints: ["node.hostname==n3"]
  hostauto:
    image: ${MESH_IMAGE}
    network_mode: host
    command: ["sh", "-c", "mkdir -p /tmp/ha && echo 'found says hi' > /tmp/ha/index.html && exec httpd -f -p 18098 -h /tmp/ha"]
    deploy:
      placement:
        constraints: ["node.hostname==n3"]
`;

before(async () => {
  await ensureMeshImage();
  writeFileSync(join(dir, 'compose.yaml'), COMPOSE);
  ({ agents, ids } = await startCluster(IPS));
});

after(async () => {
  await cleanupAll();
  await removeNodesDocker(ids);
  rmSync(dir, { recursive: true, force: true });
});

async function get(url: string): Promise<string | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
  return res && res.status === 200 ? (await res.text()).trim() : undefined;
}

/** GET / through an agent's HTTP proxy with this Host header; the body of a 200, else undefined. */
async function viaProxy(a: AgentHandle, host: string): Promise<string | undefined> {
  const health = (await a.health()).body as { proxy?: { port: number }; dns?: { domain: string } };
  return new Promise((resolve) => {
    const req = http.get({ host: new URL(a.api).hostname, port: health.proxy!.port, path: '/', headers: { host: `${host}.${health.dns!.domain}` }, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

/** One datagram to ip:port from a fresh socket; its answer, or undefined after 1 s. */
async function udpAsk(ip: string, port: number, text: string): Promise<string | undefined> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 1000);
      s.on('message', (m) => {
        clearTimeout(timer);
        resolve(String(m));
      });
      s.on('error', () => resolve(undefined));
      s.send(text, port, ip);
    });
  } finally {
    s.close();
  }
}

/** GET `url` from inside the running container of `service` on `nodeId` (its own name resolution); the body, or undefined. */
async function getFromContainer(nodeId: string, service: string, url: string): Promise<string | undefined> {
  const id = (await docker('ps', '-q', '--filter', `label=warren.node=${nodeId}`, '--filter', `label=warren.service=${STACK}-${service}`).catch(() => '')).split('\n')[0];
  if (!id) return undefined;
  return (await docker('exec', id, 'sh', '-c', `wget -q -O /tmp/get ${url} && cat /tmp/get`).catch(() => undefined))?.trim();
}

/** The node the one running replica of `service` is on, seen from `a`. */
async function runningOn(a: AgentHandle, service: string): Promise<string | undefined> {
  const v = await serviceView(a, `${STACK}-${service}`).catch(() => undefined);
  const r = v?.replicas.find((x: { state: string }) => x.state === 'running');
  return r?.nodeId ?? undefined;
}

test('names across nodes, published TCP and UDP ports on every node, and the mesh after a node dies', { timeout: 300_000 }, async () => {
  const r = await cli(['--data-dir', agents[0]!.dataDir, '--api', agents[0]!.api, 'deploy', '-f', join(dir, 'compose.yaml'), '--detach']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const backNode = await waitFor('back running', () => runningOn(agents[0]!, 'back'), 90_000, 200);
  const frontNode = await waitFor('front running', () => runningOn(agents[0]!, 'front'), 90_000, 200);
  assert.equal(backNode, ids[0], 'back is on n1');
  assert.equal(frontNode, ids[1], 'front is on n2: the two are on different nodes');

  // the front (n2) reached the back (n1) by service name and by alias; seen through every node's mesh
  for (const ip of IPS) {
    await waitFor(`front's page (fetched from back by name) through ${ip}:18080`, async () => (await get(`http://${ip}:18080/`)) === 'back says hi', 60_000, 200);
    await waitFor(`front's page fetched by the alias through ${ip}:18080`, async () => (await get(`http://${ip}:18080/alias.html`)) === 'back says hi', 30_000, 200);
  }

  // the HTTP proxy: <service>.<stack>.<domain> beside <stack>-<service>.<domain>, from a node that runs neither
  await waitFor('front.mesh-it.<domain> through the proxy of n3', async () => (await viaProxy(agents[2]!, `front.${STACK}`)) === 'back says hi', 30_000, 200);
  assert.equal(await viaProxy(agents[2]!, `${STACK}-front`), 'back says hi');
  // <stack>.<domain>: the service labelled warren.web (echo publishes ports too), through every node's proxy
  for (const a of agents) assert.equal(await viaProxy(a, STACK), 'back says hi', `${STACK}.<domain> through ${a.bind}`);
  assert.equal(await viaProxy(agents[0]!, `nope-${STACK}`), undefined, 'an unknown name is still unknown');

  // a host-network service (n3) is reached by name from the stack's containers on other nodes, at its node's port, and through the proxy
  assert.equal(await waitFor('hostweb running', () => runningOn(agents[0]!, 'hostweb'), 90_000, 200), ids[2], 'hostweb is on n3');
  const hostweb = (await serviceView(agents[0]!, `${STACK}-hostweb`)).replicas.find((x: { state: string }) => x.state === 'running');
  assert.deepEqual(hostweb?.ports, [{ container: 18099, protocol: 'tcp', hostPort: 18099 }], 'it reports the node port it holds');
  for (const [svc, node] of [['back', ids[0]!], ['front', ids[1]!]] as const) {
    await waitFor(`${svc} reaching hostweb by name`, async () => (await getFromContainer(node, svc, 'http://hostweb:18099/')) === 'host says hi', 30_000, 200);
  }
  await waitFor('hostweb.mesh-it.<domain> through the proxy of n1', async () => (await viaProxy(agents[0]!, `hostweb.${STACK}`)) === 'host says hi', 30_000, 200);
  // one whose file lists no port (as Home Assistant's does not): the port it was found listening on
  assert.equal(await waitFor('hostauto running', () => runningOn(agents[0]!, 'hostauto'), 90_000, 200), ids[2], 'hostauto is on n3');
  const found = await waitFor('hostauto reporting the port it listens on', async () => {
    const r = (await serviceView(agents[0]!, `${STACK}-hostauto`)).replicas.find((x: { state: string }) => x.state === 'running');
    return r?.ports?.length ? r.ports : undefined;
  }, 30_000, 200);
  assert.deepEqual(found, [{ container: 18098, protocol: 'tcp', hostPort: 18098 }], 'found in its sockets: only its own port, not the node\'s others');
  await waitFor('front reaching hostauto by name', async () => (await getFromContainer(ids[1]!, 'front', 'http://hostauto:18098/')) === 'found says hi', 30_000, 200);
  await waitFor('hostauto.mesh-it.<domain> through the proxy of n1', async () => (await viaProxy(agents[0]!, `hostauto.${STACK}`)) === 'found says hi', 30_000, 200);

  const echoNode = await waitFor('echo running', () => runningOn(agents[0]!, 'echo'), 90_000, 200);
  // names across nodes from both ends: the back (n1) and the front (n2) reach echo by name wherever it runs
  for (const [svc, node] of [['back', ids[0]!], ['front', ids[1]!]] as const) {
    await waitFor(`${svc} reaching echo by name`, async () => (await getFromContainer(node, svc, 'http://echo/'))?.startsWith(`${STACK}-echo `) === true, 30_000, 200);
  }
  for (const ip of IPS) {
    await waitFor(`echo over TCP through ${ip}:18081`, async () => (await get(`http://${ip}:18081/`))?.startsWith(`${STACK}-echo `) === true, 30_000, 200);
    await waitFor(`echo over UDP through ${ip}:18053`, async () => (await udpAsk(ip, 18053, `ping ${ip}`)) === `echo ping ${ip}`, 30_000, 200);
  }

  // a host port is the cluster's: another stack publishing 18081 is refused with one line naming the key
  writeFileSync(join(dir, 'clash.yaml'), `name: ${STACK}-2\nservices:\n  web:\n    image: ${MESH_IMAGE}\n    ports: ["18081:80"]\n`);
  const clash = await cli(['--data-dir', agents[0]!.dataDir, '--api', agents[0]!.api, 'deploy', '-f', join(dir, 'clash.yaml'), '--detach']);
  assert.notEqual(clash.code, 0);
  assert.match(clash.stderr, new RegExp(`services\\.web\\.ports: ${STACK}-2-web: host port 18081/tcp is already published by service ${STACK}-echo of stack ${STACK}`));
  assert.equal((await fetch(`${agents[0]!.api}/v1/services/${STACK}-2-web`)).status, 404, 'nothing deployed');

  // a host range for one container port: the lowest port of it free in the cluster (18081 is echo's), meshed on every node
  writeFileSync(join(dir, 'range.yaml'), `name: ${STACK}-3\nservices:\n  web:\n    image: ${MESH_IMAGE}\n    ports: ["18081-18083:80"]\n`);
  const ranged = await cli(['--data-dir', agents[0]!.dataDir, '--api', agents[0]!.api, 'deploy', '-f', join(dir, 'range.yaml'), '--detach']);
  assert.equal(ranged.code, 0, ranged.stderr + ranged.stdout);
  assert.match(ranged.stderr, /services\.web\.ports\[0\]: published on host port 18082\/tcp, of 18081-18083/);
  for (const ip of IPS) await waitFor(`the ranged port through ${ip}:18082`, async () => (await get(`http://${ip}:18082/`))?.startsWith(`${STACK}-3-web `) === true, 60_000, 200);
  const removed = await cli(['--data-dir', agents[0]!.dataDir, '--api', agents[0]!.api, 'stack', 'rm', `${STACK}-3`]);
  assert.equal(removed.code, 0, removed.stderr);

  // kill -9 the node running echo: it comes back on another node and its ports answer again on the survivors
  const victim = agents[ids.indexOf(echoNode)]!;
  const survivors = agents.filter((a) => a !== victim);
  const survivorIps = IPS.filter((_, i) => agents[i] !== victim);
  await victim.stop('SIGKILL', 5000);
  await removeNodesDocker([echoNode]); // a dead machine's containers are gone with it
  const moved = await waitFor('echo running on another node', async () => {
    const n = await runningOn(survivors[0]!, 'echo');
    return n && n !== echoNode ? n : undefined;
  }, 90_000, 200);
  assert.ok(ids.includes(moved));
  // a stack container on a surviving node reaches the moved service by name again
  const [watcher, watcherNode] = survivors.includes(agents[0]!) ? ['back', ids[0]!] : ['front', ids[1]!];
  await waitFor(`${watcher} reaching the moved echo by name`, async () => (await getFromContainer(watcherNode, watcher, 'http://echo/')) === `${STACK}-echo ${moved === ids[0] ? 'n1' : moved === ids[1] ? 'n2' : 'n3'}`, 30_000, 200);
  for (const ip of survivorIps) {
    await waitFor(`echo over TCP again through ${ip}:18081`, async () => (await get(`http://${ip}:18081/`))?.startsWith(`${STACK}-echo `) === true, 30_000, 200);
    await waitFor(`echo over UDP again through ${ip}:18053`, async () => (await udpAsk(ip, 18053, 'again')) === 'echo again', 30_000, 200);
  }
});
