import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { startAgent, cli, cleanupAll, etcdClientOf, type AgentHandle } from '../helpers/agents.ts';
import { admission, etcdctlMembers, nodeId, voterIds } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';
import { caFingerprint, createClusterCa, issueNodeCert } from '../../src/system/pki.ts';

// each test's cluster goes when the test ends: a later test must not share the machine with it
afterEach(cleanupAll);
after(cleanupAll);

async function stopAll(agents: AgentHandle[]) {
  await Promise.all(agents.map((a) => a.stop()));
}

test('3 nodes joined with a token form one cluster of 3 voters; etcdctl agrees; a full restart keeps it', { timeout: 180_000 }, async () => {
  const founder = await startAgent({ bind: '127.0.6.2' });
  const tokenRun = await cli(['join-token', '--data-dir', founder.dataDir, '--api', founder.api]);
  assert.equal(tokenRun.code, 0, tokenRun.stderr);
  const token = tokenRun.stdout.trim();
  assert.match(token, /^wrn1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const others = await Promise.all(['127.0.6.3', '127.0.6.4'].map((ip) => startAgent({ bind: ip, args: ['--join', '127.0.6.2', '--token', token] })));
  const all = [founder, ...others];
  const ids = (await Promise.all(all.map(nodeId))).sort();
  await waitFor('3 voters', async () => (await voterIds(founder)).join() === ids.join(), 60_000, 250);

  const status = JSON.parse((await cli(['status', '--json', '--api', others[1]!.api])).stdout);
  const members = await etcdctlMembers(others[0]!);
  assert.deepEqual(members.map((m) => m.name).sort(), ids);
  assert.ok(members.every((m) => m.status === 'started' && !m.learner), 'every etcd member is a started voter');
  assert.deepEqual(status.admission.voters.map((v: any) => v.id).sort(), members.map((m) => m.name).sort(), 'warren status agrees with etcdctl');
  assert.ok(members.every((m) => m.client.startsWith('https://') && m.peer.startsWith('https://')), 'client and peer traffic are TLS');
  const clusterId = status.admission.clusterId as string;
  for (const a of all) assert.equal((await admission(a)).clusterId, clusterId, `${a.bind} is in the same cluster`);

  // a voter restarted (SIGTERM: gossip says it is restarting) keeps its seat: the leader does not remove it
  const leaderId = (await admission(founder)).leader as string;
  const restartIndex = (await Promise.all(all.map(nodeId))).findIndex((id) => id !== leaderId);
  const restarted = all[restartIndex]!;
  const restartedId = await nodeId(restarted);
  assert.equal(await restarted.stop('SIGTERM'), 0);
  await waitFor('the others see it restarting', async () => {
    const members = (await (await fetch(`${all.find((a) => a !== restarted)!.api}/v1/members`)).json()).members as any[];
    return members.find((m) => m.id === restartedId)?.state === 'restarting';
  }, 10_000, 100);
  all[restartIndex] = await startAgent({ bind: restarted.bind, dataDir: restarted.dataDir });
  assert.deepEqual(await voterIds(founder), ids, 'still the same 3 voters');
  assert.doesNotMatch(all[restartIndex]!.log(), /removed from the etcd cluster/);

  // data written before a full power-off is there after
  const client = await etcdClientOf(founder, all.map((a) => `https://${a.bind}:7372`));
  await client.put('restart-test').value('survives');
  client.close();
  await stopAll(all);
  const again = await Promise.all(all.map((a) => startAgent({ bind: a.bind, dataDir: a.dataDir, waitReady: false })));
  for (const a of again) await waitFor(`${a.bind} healthy after the restart`, async () => (await a.health()).status === 200, 60_000, 250);
  for (const a of again) assert.equal((await admission(a)).clusterId, clusterId, 'same cluster after a full restart');
  assert.deepEqual(await voterIds(again[0]!), ids, 'same voters, no queue');
  const client2 = await etcdClientOf(again[1]!, again.map((a) => `https://${a.bind}:7372`));
  assert.equal(await client2.get('restart-test').string(), 'survives');
  client2.close();
  await stopAll(again);
});

test('without a token a joiner waits for `warren admit`; a wrong token or a foreign CA is refused; outsiders cannot touch etcd', { timeout: 120_000 }, async () => {
  const founder = await startAgent({ bind: '127.0.6.10' });
  const joiner = await startAgent({ bind: '127.0.6.11', args: ['--join', '127.0.6.10'], waitReady: false });
  const joinerId = await waitFor('joiner pending in the queue', async () => (await admission(founder)).queue.find((q: any) => q.name === 'n11' && q.state === 'pending-approval')?.id, 20_000);
  const members = (await (await fetch(`${founder.api}/v1/members`)).json()) as any;
  assert.equal(members.members.find((m: any) => m.id === joinerId)?.state, 'pending', 'members lists the pending joiner');
  const statusText = (await cli(['status', '--api', founder.api])).stdout;
  assert.match(statusText, /n11 .* pending/);
  assert.equal((await joiner.health()).status, 503, 'a pending node is not in the cluster');

  // an unadmitted machine cannot read or write etcd: no certificate, or one from another CA
  const plain = new Etcd3({ hosts: 'https://127.0.6.10:7372', defaultCallOptions: () => ({ deadline: Date.now() + 3000 }) });
  await assert.rejects(plain.get('/warren/cluster').string(), 'no client certificate: refused');
  plain.close();
  const otherCa = await createClusterCa('elsewhere');
  const foreign = await issueNodeCert(otherCa, { nodeId: 'intruder', ips: ['127.0.6.11'] });
  const intruder = new Etcd3({
    hosts: 'https://127.0.6.10:7372',
    credentials: { rootCertificate: Buffer.from((await import('node:fs')).readFileSync(`${founder.dataDir}/tls/ca.crt`)), certChain: Buffer.from(foreign.certPem), privateKey: Buffer.from(foreign.keyPem) },
    defaultCallOptions: () => ({ deadline: Date.now() + 3000 }),
  });
  await assert.rejects(async () => {
    await intruder.put('/warren/evil').value('x');
  }, 'a certificate from another CA: refused');
  intruder.close();

  const approved = await cli(['admit', 'n11', '--data-dir', founder.dataDir, '--api', founder.api]);
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, /approved n11/);
  await waitFor('admitted joiner healthy', async () => (await joiner.health()).status === 200, 30_000, 250);
  assert.equal((await admission(founder)).queue.length, 0, 'queue empty');

  const unknown = await cli(['admit', 'nobody', '--data-dir', founder.dataDir, '--api', founder.api]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no node "nobody" is waiting for admission/);

  const token = (await cli(['join-token', '--data-dir', founder.dataDir, '--api', founder.api])).stdout.trim();
  const [, secret, pin] = token.split('.');
  const wrongSecret = await startAgent({ bind: '127.0.6.12', args: ['--join', '127.0.6.10', '--token', `wrn1.${'A'.repeat(secret!.length)}.${pin}`], waitReady: false });
  assert.equal(await wrongSecret.exited, 1);
  // the joiner asks the members it has heard of (the --join target, or one whose hello came first)
  assert.match(wrongSecret.log(), /warren: the cluster at http:\/\/127\.0\.6\.1[01]:7370 refused to admit this node: the join token is not valid for this cluster/);
  const wrongCa = await startAgent({ bind: '127.0.6.13', args: ['--join', '127.0.6.10', '--token', `wrn1.${secret}.${caFingerprint(otherCa.certPem)}`], waitReady: false });
  assert.equal(await wrongCa.exited, 1);
  assert.match(wrongCa.log(), /warren: the cluster at .* does not have the CA the join token pins: refusing to join it/);
  const garbage = await cli(['agent', '--bind', '127.0.6.14', '--token', 'hello']);
  assert.equal(garbage.code, 1);
  assert.match(garbage.stderr, /^warren: .*token/);
  await stopAll([founder, joiner]);
});

test('8 joiners at once: all admitted, 3 voters and 5 client-only nodes', { timeout: 240_000 }, async () => {
  const founder = await startAgent({ bind: '127.0.6.20', args: ['--open'] });
  const ips = Array.from({ length: 8 }, (_, i) => `127.0.6.${21 + i}`);
  const t0 = Date.now();
  const joiners = await Promise.all(ips.map((ip) => startAgent({ bind: ip, args: ['--join', '127.0.6.20'], waitReady: false })));
  const all = [founder, ...joiners];
  for (const j of joiners) await waitFor(`${j.bind} admitted`, async () => (await j.health()).status === 200, 180_000, 250);
  await waitFor('3 voters', async () => (await voterIds(founder)).length === 3 && (await admission(founder)).voters.every((v: any) => !v.isLearner), 60_000, 250);
  console.log(`# 8 concurrent joiners admitted in ${Date.now() - t0} ms`);
  // each node reads its own role from etcd every second: the last one promoted may say so a moment later
  let roles: string[] = [];
  await waitFor('every node reporting its role', async () => {
    roles = await Promise.all(all.map(async (a) => (await a.health()).body.etcd.role));
    return roles.filter((r) => r === 'voter').length === 3;
  }, 10_000, 250).catch(() => undefined);
  assert.equal(roles.filter((r) => r === 'voter').length, 3, `roles: ${roles.join(',')}`);
  assert.equal(roles.filter((r) => r === 'client').length, 6 - 0, `roles: ${roles.join(',')}`);
  assert.equal((await admission(founder)).queue.length, 0);
  for (const j of joiners) assert.doesNotMatch(j.log(), /cannot join the cluster/, `${j.bind} never failed a join`);
  await stopAll(all);
});
