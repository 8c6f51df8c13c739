/**
 * Placement by what a node has, on 2 real agents (127.79.0.1-2) and real Docker
 * (core/scheduler-place.ts). Host-network services that listen on one port never share a node.
 * A service with devices runs only on a node that has them (each node checks the devices the
 * services ask for, runtime/device-watch.ts). The devices are character device nodes (like /dev/null) in a
 * directory of the test's; the agents share one filesystem, so n1 runs in a mount namespace where
 * a tmpfs hides that directory: it has none of them. The stack is deployed through n1, which a
 * device no longer pins it to. Everything it makes is named "dev-it" or labelled with its nodes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cleanupAll, cli, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { nodeId } from '../helpers/cluster.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { serviceView } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const IPS = ['127.79.0.1', '127.79.0.2'];
const STACK = 'dev-it';
const dir = mkdtempSync(join(tmpdir(), 'dev-it-'));
const devDir = join(dir, 'dev');
const SERIAL = join(devDir, 'serial0');
const LATER = join(devDir, 'later0');
let n1: AgentHandle;
let n2: AgentHandle;
let ids: string[] = [];

const mknod = (path: string) => execFileP('mknod', [path, 'c', '1', '3']);

before(async () => {
  await ensureHttpdImage();
  await execFileP('mkdir', ['-p', devDir]);
  await mknod(SERIAL);
  // n1 sees an empty tmpfs where the devices are; `exec "$@"` keeps the agent's pid
  const hide = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=64k dev-it-hidden "$0" && exec "$@"', devDir];
  n1 = await startAgent({ bind: IPS[0]!, name: 'n1', args: ['--open'], wrap: hide });
  n2 = await startAgent({ bind: IPS[1]!, name: 'n2', args: ['--join', IPS[0]!] });
  ids = await Promise.all([n1, n2].map(nodeId));
  await waitFor('both nodes serving /v1/services', async () => {
    const res = await Promise.all([n1, n2].map((a) => fetch(`${a.api}/v1/services`).then((r) => r.status).catch(() => 0)));
    return res.every((s) => s === 200);
  }, 60_000, 200);
  writeFileSync(join(dir, 'compose.yaml'), `
name: ${STACK}
services:
  serial:
    image: ${HTTPD_IMAGE}
    devices: ["${SERIAL}:/dev/serial0"]
  later:
    image: ${HTTPD_IMAGE}
    devices: ["${LATER}:/dev/later0"]
`);
});

after(async () => {
  await cleanupAll();
  await removeNodesDocker(ids);
  rmSync(dir, { recursive: true, force: true });
});

/** The replica of a one-replica stack service as n1 (the leader) reports it. */
const replica = async (service: string, stack = STACK) => (await serviceView(n1, `${stack}-${service}`)).replicas[0];

test('host-network services that listen on one port run on different nodes; one more waits, saying why', { timeout: 90_000 }, async () => {
  const hostStack = 'hostnet-it';
  // `sleep`: the nodes share this machine's one network, so nothing may really listen twice
  const svc = '    image: ' + HTTPD_IMAGE + '\n    network_mode: host\n    expose: ["18999"]\n    command: ["sleep", "3600"]\n';
  writeFileSync(join(dir, 'hostnet.yaml'), `name: ${hostStack}\nservices:\n  a:\n${svc}  b:\n${svc}  c:\n${svc}`);
  const deployed = await cli(['--data-dir', n1.dataDir, '--api', n1.api, 'deploy', '-f', join(dir, 'hostnet.yaml'), '--detach']);
  assert.equal(deployed.code, 0, deployed.stderr);
  await waitFor('a and b running, c waiting', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((s) => replica(s, hostStack)));
    return a?.state === 'running' && b?.state === 'running' && c?.state === 'unassigned';
  }, 60_000, 250);
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((s) => replica(s, hostStack)));
  assert.deepEqual([a!.nodeName, b!.nodeName].sort(), ['n1', 'n2']);
  assert.equal(c!.reason, 'no alive node has port 18999/tcp free (network_mode: host; another host-network replica listens there)');
  const removed = await cli(['--data-dir', n1.dataDir, '--api', n1.api, 'stack', 'rm', hostStack]);
  assert.equal(removed.code, 0, removed.stderr);
});

test('a service with devices runs on the node that has them, waits while none has, and never moves to one without', { timeout: 150_000 }, async () => {
  // the setup holds: n1's namespace hides the device, n2 (the host's view) has it
  const seen = await execFileP('nsenter', ['--target', String(n1.pid), '--mount', 'test', '-e', SERIAL]).then(() => true, () => false);
  assert.equal(seen, false, 'n1 must not see the device');

  const deployed = await cli(['--data-dir', n1.dataDir, '--api', n1.api, 'deploy', '-f', join(dir, 'compose.yaml'), '--detach']);
  assert.equal(deployed.code, 0, deployed.stderr);
  assert.doesNotMatch(deployed.stderr, /pinned/, 'a device pins nothing to the deploying node');

  await waitFor('serial running on n2', async () => {
    const r = await replica('serial');
    return r?.state === 'running' && r.nodeName === 'n2';
  }, 60_000, 250);
  // the container got the device
  const [container] = (await docker('ps', '-q', '--filter', `label=warren.service=${STACK}-serial`, '--filter', `label=warren.node=${ids[1]}`)).split('\n').filter(Boolean);
  assert.ok(container, 'the serial container on n2');
  await docker('exec', container!, 'sh', '-c', 'test -c /dev/serial0');

  // no node has the other device: it waits, saying which
  await waitFor('later pending with the device named', async () => {
    const r = await replica('later');
    return r?.state === 'unassigned' && r.reason === `no alive node has device ${LATER}`;
  }, 30_000, 250);
  const later = await serviceView(n1, `${STACK}-later`);
  assert.equal(later.pending, `no alive node has device ${LATER}`);

  // plugged in (n2 sees it, n1 does not): it runs there, found by n2's periodic check
  await mknod(LATER);
  await waitFor('later running on n2', async () => {
    const r = await replica('later');
    return r?.state === 'running' && r.nodeName === 'n2';
  }, 30_000, 250);

  // n2 dies: its services wait for a node with the devices rather than start on n1
  await n2.stop('SIGKILL', 5000);
  await waitFor('serial waiting after n2 died', async () => {
    const r = await replica('serial');
    return r?.nodeId === null && r.reason === `no alive node has device ${SERIAL}`;
  }, 30_000, 250);
  const onN1 = (await docker('ps', '-aq', '--filter', `label=warren.node=${ids[0]}`, '--filter', `label=warren.stack=${STACK}`)).split('\n').filter(Boolean);
  assert.deepEqual(onN1, [], 'nothing of the stack was started on n1');
  assert.equal((await replica('later'))?.nodeId, null);
});
