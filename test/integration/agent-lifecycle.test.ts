import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { startAgent, cli, cleanupAll, tempDir, etcdClientOf, type AgentHandle } from '../helpers/agents.ts';
import { waitFor, pidAlive } from '../helpers/wait.ts';

after(cleanupAll);

const BIND = '127.0.0.2';

function noStack(text: string) {
  assert.doesNotMatch(text, /^\s+at /m, `output has a stack trace:\n${text}`);
}

async function withEtcd<T>(agent: AgentHandle, fn: (c: Etcd3) => Promise<T>): Promise<T> {
  const client = await etcdClientOf(agent, [`https://${agent.bind}:7372`]);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

test('agent lifecycle on real etcd: start, status, SIGTERM, restart with data, kill -9', { timeout: 120_000 }, async () => {
  const dataDir = join(await tempDir(), 'data');
  let agent: AgentHandle = await startAgent({ bind: BIND, dataDir, name: 'alpha' });

  const health = await agent.health();
  assert.equal(health.status, 200);
  assert.equal(health.body.status, 'ok');
  assert.equal(health.body.node.name, 'alpha');
  assert.equal(health.body.node.addr, BIND);
  assert.match(health.body.node.id, /^12D3KooW/);
  assert.deepEqual(health.body.etcd, { role: 'voter', healthy: true });
  assert.equal(typeof health.body.uptimeMs, 'number');
  assert.match(health.body.version, /^\d+\.\d+\.\d+/);
  const nodeId = health.body.node.id as string;

  const status = await cli(['status', '--json', '--api', agent.api]);
  assert.equal(status.code, 0, status.stderr);
  const statusJson = JSON.parse(status.stdout);
  assert.equal(statusJson.etcd.role, 'voter');
  assert.equal(statusJson.etcd.healthy, true);

  // the CLI finds the local agent through its data dir, and prints a table for people
  const table = await cli(['members', '--data-dir', dataDir]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /NAME\s+ID\s+ADDRESS\s+STATE/);
  assert.match(table.stdout, new RegExp(`alpha \\*\\s+${nodeId}\\s+${BIND.replaceAll('.', '\\.')}\\s+alive`));
  const members = JSON.parse((await cli(['members', '--json', '--api', agent.api])).stdout);
  assert.equal(members.length, 1);
  assert.equal(members[0].id, nodeId);

  const notFound = await fetch(`${agent.api}/v1/nope`);
  assert.equal(notFound.status, 404);
  assert.deepEqual(await notFound.json(), { error: { code: 'not_found', message: 'no route GET /v1/nope' } });

  await withEtcd(agent, async (c) => {
    await c.put('warren-test/key').value('kept');
  });

  // SIGTERM: the agent stops its etcd and exits cleanly
  const etcdPids = agent.etcdPids();
  assert.equal(etcdPids.length, 1, 'one etcd child runs');
  assert.equal(await agent.stop('SIGTERM'), 0);
  assert.ok(!pidAlive(etcdPids[0]!), 'etcd is gone once the agent has exited');
  assert.match(agent.log(), /"msg":"agent stopped"/);

  // restart with the same data dir: same identity, same data
  agent = await startAgent({ bind: BIND, dataDir, name: 'alpha' });
  assert.equal((await agent.health()).body.node.id, nodeId);
  assert.equal(await withEtcd(agent, (c) => c.get('warren-test/key').string()), 'kept');
  assert.match(agent.log(), /"newIdentity":false/);

  // kill -9: the kernel takes etcd down with the agent (pdeathsig)
  const [etcdPid] = agent.etcdPids();
  assert.ok(etcdPid);
  await agent.stop('SIGKILL');
  await waitFor('etcd to die after its agent was killed', () => !pidAlive(etcdPid!), 5000);
});

test('etcd that dies is restarted by the agent', { timeout: 60_000 }, async () => {
  const agent = await startAgent({ bind: '127.0.0.3' });
  const [first] = agent.etcdPids();
  assert.ok(first);
  process.kill(first!, 'SIGKILL');
  await waitFor('etcd restarted', () => {
    const pids = agent.etcdPids();
    return pids.length === 1 && pids[0] !== first;
  }, 15_000);
  await waitFor('health 200 again', async () => (await agent.health()).status === 200, 15_000);
  assert.match(agent.log(), /etcd exited unexpectedly; restarting/);
  await agent.stop();
});

test('the first health 200 means the API serves: a service listed at once is not refused as not ready', { timeout: 60_000 }, async () => {
  const agent = await startAgent({ bind: '127.0.0.9', waitReady: false });
  // as a script does after `warren agent`: poll health as fast as it answers, then use the API
  await waitFor('health 200', async () => {
    if (!agent.running) throw new Error(`agent exited: ${agent.log().slice(-600)}`);
    return (await agent.health()).status === 200;
  }, 30_000, 1);
  const res = await fetch(`${agent.api}/v1/services`);
  assert.equal(res.status, 200, await res.text());
  assert.equal((await agent.health()).body.catalog.ready, true);
  await agent.stop();
});

test('health is 503 while etcd is down', { timeout: 60_000 }, async () => {
  const agent = await startAgent({ bind: '127.0.0.4' });
  const [etcdPid] = agent.etcdPids();
  process.kill(etcdPid!, 'SIGSTOP'); // frozen, not dead: the supervisor does not restart it
  try {
    const res = await waitFor('503', async () => {
      const h = await agent.health();
      return h.status === 503 ? h : undefined;
    });
    assert.equal(res.body.status, 'unhealthy');
    assert.equal(res.body.etcd.healthy, false);
    const status = await cli(['status', '--api', agent.api]);
    assert.equal(status.code, 1);
    assert.match(status.stdout, /unhealthy/);
  } finally {
    process.kill(etcdPid!, 'SIGCONT');
  }
  await agent.stop();
});

test('a port already in use gets one clear line naming the port and its flag', { timeout: 30_000 }, async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(7372, '127.0.0.5', r));
  try {
    const agent = await startAgent({ bind: '127.0.0.5', waitReady: false });
    assert.equal(await agent.exited, 1);
    const log = agent.log();
    assert.match(log, /warren: port 7372 \(etcd client\) on 127\.0\.0\.5 is already in use: stop what uses it or choose another with --etcd-client-port/);
    noStack(log);
  } finally {
    blocker.close();
  }
});

test('bad input: clear one-line errors, never a stack', { timeout: 60_000 }, async () => {
  const dir = await tempDir();

  const unknownFlag = await cli(['agent', '--bogus']);
  assert.equal(unknownFlag.code, 2);
  assert.match(unknownFlag.stderr, /^warren: unknown option '--bogus'/);
  assert.equal(unknownFlag.stderr.trim().split('\n').length, 1);

  const unknownCmd = await cli(['frobnicate']);
  assert.equal(unknownCmd.code, 2);
  assert.match(unknownCmd.stderr, /unknown command 'frobnicate'/);

  const badPort = await cli(['agent', '--http-port', '70000', '--data-dir', dir]);
  assert.equal(badPort.code, 1);
  assert.match(badPort.stderr, /--http-port must be from 1 to 65535, got 70000/);

  const notWritable = join(dir, 'a-file');
  await writeFile(notWritable, 'x');
  const notDir = await cli(['agent', '--bind', '127.0.0.6', '--data-dir', join(notWritable, 'data')]);
  assert.equal(notDir.code, 1);
  assert.match(notDir.stderr, /^warren: data dir .* is not writable/);

  const badIdentity = join(dir, 'other');
  await mkdir(badIdentity);
  await writeFile(join(badIdentity, 'identity.json'), '{"version":9}');
  const ident = await cli(['agent', '--bind', '127.0.0.6', '--data-dir', badIdentity]);
  assert.equal(ident.code, 1);
  assert.match(ident.stderr, /the node identity .*identity\.json cannot be read/);

  const orphan = join(dir, 'orphan');
  await mkdir(join(orphan, 'etcd'), { recursive: true });
  const orphanRun = await cli(['agent', '--bind', '127.0.0.6', '--data-dir', orphan]);
  assert.equal(orphanRun.code, 1);
  assert.match(orphanRun.stderr, /holds cluster data but no identity\.json/);

  const noEtcd = await cli(['agent', '--bind', '127.0.0.6', '--data-dir', join(dir, 'fresh')], { WARREN_ETCD_BIN: '/nonexistent/etcd' });
  assert.equal(noEtcd.code, 1);
  assert.match(noEtcd.stderr, /WARREN_ETCD_BIN=\/nonexistent\/etcd is not an executable file/);

  const down = await cli(['status', '--api', 'http://127.0.0.6:7370']);
  assert.equal(down.code, 1);
  assert.equal(down.stderr.trim(), 'warren: no Warren agent is answering at http://127.0.0.6:7370 (start one with "warren agent", or point --api / WARREN_API at a running one)');

  for (const r of [unknownFlag, unknownCmd, badPort, notDir, ident, orphanRun, noEtcd, down]) noStack(r.stderr);
});

test('a second agent on the same data dir is refused', { timeout: 60_000 }, async () => {
  const dataDir = join(await tempDir(), 'data');
  const first = await startAgent({ bind: '127.0.0.7', dataDir });
  const second = await cli(['agent', '--bind', '127.0.0.8', '--data-dir', dataDir]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`data dir .* is in use by another agent \\(pid ${first.pid}`));
  assert.equal((await first.health()).status, 200, 'the first agent is untouched');
  await first.stop();
});

test('--help on every command and --version', async () => {
  for (const args of [['--help'], ['agent', '--help'], ['status', '--help'], ['members', '--help']]) {
    const r = await cli(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /^Usage: warren/);
  }
  const v = await cli(['--version']);
  assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
});
