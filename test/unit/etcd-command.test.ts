import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildEtcdArgs, etcdEnv } from '../../src/consensus/etcd-command.ts';
import { restartDelayMs } from '../../src/consensus/etcd-process.ts';
import { findEtcdBinary } from '../../src/consensus/etcd-binary.ts';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

test('a founding member lists only itself, on its bind address', () => {
  const args = buildEtcdArgs({ name: 'id1', dataDir: '/d/etcd', bind: '127.0.0.2', clientPort: 7372, peerPort: 7373, clusterState: 'new', clusterToken: 'warren-x' });
  assert.equal(flag(args, '--name'), 'id1');
  assert.equal(flag(args, '--data-dir'), '/d/etcd');
  assert.equal(flag(args, '--listen-client-urls'), 'http://127.0.0.2:7372');
  assert.equal(flag(args, '--advertise-client-urls'), 'http://127.0.0.2:7372');
  assert.equal(flag(args, '--listen-peer-urls'), 'http://127.0.0.2:7373');
  assert.equal(flag(args, '--initial-advertise-peer-urls'), 'http://127.0.0.2:7373');
  assert.equal(flag(args, '--initial-cluster'), 'id1=http://127.0.0.2:7373');
  assert.equal(flag(args, '--initial-cluster-state'), 'new');
  assert.equal(flag(args, '--initial-cluster-token'), 'warren-x');
  assert.equal(flag(args, '--logger'), 'zap');
  assert.equal(flag(args, '--log-outputs'), 'stderr');
  assert.ok(args.includes('--pre-vote=true'), 'a member back from a partition does not depose the leader');
  // every flag has a value: the next argument, or after = for booleans (etcd reads `--flag true` as two)
  for (let i = 0; i < args.length; i += args[i]!.includes('=') ? 1 : 2) assert.match(args[i]!, /^--[a-z-]+(=(true|false))?$/, `flag ${i}: ${args[i]}`);
});

test('a joining member lists every member and starts as existing; IPv6 in brackets', () => {
  const args = buildEtcdArgs({
    name: 'id2', dataDir: '/d', bind: 'fd00::2', clientPort: 1, peerPort: 2, clusterState: 'existing', clusterToken: 't',
    initialCluster: [{ name: 'id1', peerUrl: 'http://[fd00::1]:2' }, { name: 'id2', peerUrl: 'http://[fd00::2]:2' }],
  });
  assert.equal(flag(args, '--initial-cluster'), 'id1=http://[fd00::1]:2,id2=http://[fd00::2]:2');
  assert.equal(flag(args, '--initial-cluster-state'), 'existing');
  assert.equal(flag(args, '--listen-client-urls'), 'http://[fd00::2]:1');
});

test('restart backoff doubles from 250 ms to a 10 s cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 20].map(restartDelayMs), [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
});

test('the etcd binary is found, or missing with an install hint', async () => {
  assert.match(await findEtcdBinary({ PATH: '/usr/bin' }), /\/etcd$/);
  await assert.rejects(findEtcdBinary({ WARREN_ETCD_BIN: '/nope' }), /not an executable file/);
});

test("etcd runs with GOGC=25 unless the agent's environment sets GOGC, and inherits the rest", () => {
  assert.deepEqual(etcdEnv({ PATH: '/bin', HOME: '/root' }), { PATH: '/bin', HOME: '/root', GOGC: '25' });
  assert.equal(etcdEnv({ GOGC: '100' }).GOGC, '100');
  assert.equal(etcdEnv({ GOGC: 'off' }).GOGC, 'off');
});
