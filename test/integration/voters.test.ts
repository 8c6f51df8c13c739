import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent, cli, cleanupAll, etcdClientOf, type AgentHandle } from '../helpers/agents.ts';
import { admission, nodeId, voterIds } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';

// each test's cluster goes when the test ends: a later test must not share the machine with it
afterEach(cleanupAll);
after(cleanupAll);

async function role(a: AgentHandle): Promise<string | undefined> {
  return (await a.health().catch(() => undefined))?.body.etcd.role;
}

test('kill -9 of a voter: replaced by a client, writes never lost; it comes back as a client without the queue', { timeout: 240_000 }, async () => {
  const founder = await startAgent({ bind: '127.0.7.2', args: ['--open'] });
  const joiners: AgentHandle[] = [];
  for (const ip of ['127.0.7.3', '127.0.7.4', '127.0.7.5']) joiners.push(await startAgent({ bind: ip, args: ['--join', '127.0.7.2'] }));
  const all = [founder, ...joiners];
  await waitFor('3 voters and a client', async () => (await Promise.all(all.map(role))).sort().join() === 'client,voter,voter,voter', 60_000, 250);
  const leaderId = (await admission(founder)).leader as string;
  const ids = await Promise.all(all.map(nodeId));
  // the victim: a voter that is not the leader
  const victimIndex = (await Promise.all(all.map(role))).findIndex((r, i) => r === 'voter' && ids[i] !== leaderId);
  const victim = all[victimIndex]!;
  const victimId = ids[victimIndex]!;
  const writerNode = all.find((a, i) => i !== victimIndex && ids[i] === leaderId)!;

  // a writer loop through all the voters: every acknowledged write must survive
  const client = await etcdClientOf(writerNode, all.map((a) => `https://${a.bind}:7372`));
  const acked: string[] = [];
  let failures = 0;
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const key = `writer/${String(i).padStart(6, '0')}`;
      try {
        await client.put(key).value(String(i));
        acked.push(key);
      } catch {
        failures++;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  // the other survivors reconnect to the changed voters (the dead one gone, then its successor
  // added) and hand their client over: their catalogs stay ready throughout, and so their APIs
  // serve (the old client closed first made each answer 503 not_ready for a moment)
  const survivors = all.filter((a) => a !== victim);
  const samples = survivors.map(() => ({ ready: 0, unready: 0 }));
  let sampling = true;
  const sampler = Promise.all(survivors.map(async (a, i) => {
    while (sampling) {
      const body = (await a.health().catch(() => undefined))?.body;
      if (body?.catalog) samples[i]![body.catalog.ready ? 'ready' : 'unready']++;
      await new Promise((r) => setTimeout(r, 50));
    }
  }));
  const logFrom = survivors.map((a) => a.log().length);

  await waitFor('a few writes before the kill', () => acked.length > 20, 10_000);
  await victim.stop('SIGKILL');
  await waitFor('the dead voter replaced: 3 voters again, without it', async () => {
    const v = await voterIds(writerNode);
    return v.length === 3 && !v.includes(victimId) && (await admission(writerNode)).voters.every((x: any) => !x.isLearner);
  }, 90_000, 250);
  sampling = false;
  await sampler;
  survivors.forEach((a, i) => {
    const reconnects = a.log().slice(logFrom[i]).match(/reconnecting to/g)?.length ?? 0;
    console.log(`# ${a.bind}: ${reconnects} reconnects, catalog ready in ${samples[i]!.ready} health answers, not ready in ${samples[i]!.unready}`);
    // (the leader keeps the client it has unless a voter it uses is gone: it may not reconnect)
    if (a !== writerNode) assert.ok(reconnects > 0, `${a.bind} reconnected to the changed voters`);
    assert.ok(samples[i]!.ready >= 20, `${a.bind} answered its health often enough to tell`);
    assert.equal(samples[i]!.unready, 0, `${a.bind}'s catalog stayed ready while it reconnected`);
  });
  const before = acked.length;
  await waitFor('writes go on after the change', () => acked.length > before + 20, 20_000);
  writing = false;
  await writer;
  const stored = await client.getAll().prefix('writer/').keys();
  const missing = acked.filter((k) => !stored.includes(k));
  console.log(`# ${acked.length} acknowledged writes, ${failures} refused during the change, ${missing.length} lost`);
  assert.equal(missing.length, 0, `lost acknowledged writes: ${missing.slice(0, 5).join(', ')}`);
  client.close();

  // the removed voter comes back with its old data dir: still a member (booked as a client-only
  // node when its seat was given away), it drops its stale etcd data and carries on as a client,
  // with no new admission (in a closed cluster that would wait for an operator)
  const back = await startAgent({ bind: victim.bind, dataDir: victim.dataDir, waitReady: false });
  await waitFor('the removed voter back', async () => (await back.health().catch(() => undefined))?.status === 200, 90_000, 250);
  await waitFor('it is a client now (the voter set is full)', async () => (await role(back)) === 'client', 20_000);
  assert.match(back.log(), /demoted to a client-only node/);
  assert.doesNotMatch(back.log(), /joining again through the queue/);
  assert.equal((await voterIds(writerNode)).length, 3);
});

test('kill -9 of a joiner after its learner was added: the learner is removed and the next joiner gets in', { timeout: 180_000 }, async () => {
  const founder = await startAgent({ bind: '127.0.7.10', args: ['--open'] });
  const second = await startAgent({ bind: '127.0.7.11', args: ['--join', '127.0.7.10'] });
  await waitFor('second is a client', async () => (await role(second)) === 'client', 30_000);
  // the third node becomes a voter (3 nodes): kill it as soon as its learner exists
  const doomed = await startAgent({ bind: '127.0.7.12', args: ['--join', '127.0.7.10'], waitReady: false });
  const client = await etcdClientOf(founder, ['https://127.0.7.10:7372']);
  await waitFor('a learner in etcd', async () => ((await client.cluster.memberList({} as never)).members ?? []).some((m) => m.isLearner), 60_000, 20);
  await doomed.stop('SIGKILL');
  const next = await startAgent({ bind: '127.0.7.13', args: ['--join', '127.0.7.10'], waitReady: false });
  await waitFor('the next joiner admitted', async () => (await next.health().catch(() => undefined))?.status === 200, 120_000, 250);
  const members = (await client.cluster.memberList({} as never)).members ?? [];
  assert.ok(!members.some((m) => (m.peerURLs ?? []).includes('https://127.0.7.12:7373')), 'the dead joiner\'s learner was removed');
  // the next joiner may still be a learner being promoted: wait for that to finish
  await waitFor('no learner left behind', async () => ((await client.cluster.memberList({} as never)).members ?? []).every((m) => !m.isLearner), 30_000, 250);
  assert.match(founder.log() + second.log(), /"reason":"(learner-gone|stale-learner)"/, 'given up as gone (silent, or dead in gossip), not after the learner timeout');
  client.close();
});

test('kill -9 of the leader while a joiner is mid-admission: a new leader finishes it', { timeout: 360_000 }, async () => {
  // target 5: a fifth node joins as a voter while 3 voters keep the quorum when the leader dies
  const founder = await startAgent({ bind: '127.0.7.20', args: ['--open', '--voters', '5'] });
  const members: AgentHandle[] = [founder];
  for (const ip of ['127.0.7.21', '127.0.7.22', '127.0.7.23']) members.push(await startAgent({ bind: ip, args: ['--join', '127.0.7.20', '--voters', '5'] }));
  await waitFor('3 voters and a client', async () => (await Promise.all(members.map(role))).sort().join() === 'client,voter,voter,voter', 90_000, 250);
  const leaderId = (await admission(founder)).leader as string;
  const ids = await Promise.all(members.map(nodeId));
  const leader = members[ids.indexOf(leaderId)]!;
  const survivor = members.find((m) => m !== leader && ids[members.indexOf(m)] !== leaderId)!;
  const client = await etcdClientOf(survivor, members.filter((m) => m !== leader).map((m) => `https://${m.bind}:7372`));
  const joiner = await startAgent({ bind: '127.0.7.24', args: ['--join', members.map((m) => m.bind).join(','), '--voters', '5'], waitReady: false });
  await waitFor('the joiner mid-admission (its learner added)', async () => ((await client.cluster.memberList({} as never)).members ?? []).some((m) => m.isLearner && (m.peerURLs ?? []).includes('https://127.0.7.24:7373')), 60_000, 20);
  await leader.stop('SIGKILL');
  // the new leader finishes the admission: promoted in the learner seat, or (the dead leader no
  // longer counting towards the voter set) admitted as a client after the seat is cleaned up
  // (at worst the seat of a lost grant is given up after the 60 s learner timeout and re-offered)
  await waitFor('the joiner admitted by a new leader', async () => (await joiner.health().catch(() => undefined))?.status === 200, 150_000, 250);
  await waitFor('no learner left behind', async () => ((await client.cluster.memberList({} as never)).members ?? []).every((m) => !m.isLearner), 60_000, 250);
  // (its own view of its role refreshes every second)
  await waitFor('the joiner a voter or a client', async () => ['voter', 'client'].includes((await role(joiner))!), 10_000, 250);
  let last: unknown;
  await waitFor('a new leader reported', async () => {
    last = await admission(survivor);
    const now = (last as { leader?: string }).leader;
    return now && now !== leaderId;
  }, 20_000).catch((err: Error) => {
    throw new Error(`${err.message}; last view: ${JSON.stringify(last)}`);
  });
  client.close();
});

test('warren leave: a voter hands its seat to a client first; a client-only node just leaves', { timeout: 180_000 }, async () => {
  const founder = await startAgent({ bind: '127.0.7.30', args: ['--open'] });
  const rest: AgentHandle[] = [];
  for (const ip of ['127.0.7.31', '127.0.7.32', '127.0.7.33', '127.0.7.34']) rest.push(await startAgent({ bind: ip, args: ['--join', '127.0.7.30'] }));
  const all = [founder, ...rest];
  await waitFor('3 voters and 2 clients', async () => (await Promise.all(all.map(role))).sort().join() === 'client,client,voter,voter,voter', 90_000, 250);
  const roles = await Promise.all(all.map(role));
  const leaderId = (await admission(founder)).leader as string;
  const ids = await Promise.all(all.map(nodeId));
  // the leader itself leaves: it must give up leadership and its seat
  const leaver = all[ids.indexOf(leaderId)]!;
  assert.equal(roles[all.indexOf(leaver)], 'voter');
  const r = await cli(['leave', '--data-dir', leaver.dataDir, '--api', leaver.api]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /left the cluster/);
  assert.equal(await leaver.exited, 0);
  const stay = all.filter((a) => a !== leaver);
  // (a member whose etcd client pointed at the leaver reconnects to the new voters first)
  const voters = await waitFor('a client took the seat over', async () => {
    const v = await voterIds(stay[0]!);
    return v.length === 3 ? v : undefined;
  }, 20_000, 250);
  assert.ok(!voters.includes(leaderId), 'the leaver is no longer a voter');
  await waitFor('others see it left', async () => {
    const res = (await (await fetch(`${stay[0]!.api}/v1/members`)).json()) as any;
    return res.members.find((m: any) => m.id === leaderId)?.state === 'left';
  }, 10_000);

  const client = stay[(await Promise.all(stay.map(role))).indexOf('client')]!;
  const clientId = await nodeId(client);
  const r2 = await cli(['leave', '--data-dir', client.dataDir, '--api', client.api]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(await client.exited, 0);
  const remaining = await waitFor('the voter set read', async () => {
    const v = await voterIds(stay.find((a) => a !== client)!);
    return v.length ? v : undefined;
  }, 20_000, 250);
  assert.equal(remaining.length, 3, 'voters untouched by a client leaving');
  assert.ok(!(await voterIds(stay.find((a) => a !== client)!)).includes(clientId));
});

test('a 3-voter cluster that loses a node for good shrinks to 1 voter + 1 client, never 2 voters', { timeout: 150_000 }, async () => {
  const founder = await startAgent({ bind: '127.0.7.40', args: ['--open'] });
  const rest: AgentHandle[] = [];
  for (const ip of ['127.0.7.41', '127.0.7.42']) rest.push(await startAgent({ bind: ip, args: ['--join', '127.0.7.40'] }));
  const all = [founder, ...rest];
  await waitFor('3 voters', async () => (await Promise.all(all.map(role))).join() === 'voter,voter,voter', 60_000, 250);
  const leaderId = (await admission(founder)).leader as string;
  const ids = await Promise.all(all.map(nodeId));
  const victim = all.find((_, i) => ids[i] !== leaderId)!;
  await victim.stop('SIGKILL');
  const survivors = all.filter((a) => a !== victim);
  await waitFor('1 voter + 1 client', async () => (await Promise.all(survivors.map(role))).sort().join() === 'client,voter', 60_000, 250);
  // the demoted node reads its new role before it has reconnected as a client (its registry
  // record changes first): healthy a moment later
  for (const s of survivors) await waitFor(`${s.bind} healthy`, async () => (await s.health().catch(() => undefined))?.status === 200, 20_000, 100);
  assert.equal((await voterIds(survivors[0]!)).length, 1);
  assert.ok(survivors.some((s) => /demoted to a client-only node/.test(s.log())), 'one survivor was demoted');
});
