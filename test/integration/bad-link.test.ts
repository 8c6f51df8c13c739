/**
 * One bad link does not kill a healthy node: three real agents, then every packet between the
 * first two is dropped (iptables, both ways) while both still reach the third. Neither may ever
 * see the other as anything but alive (their probes go through the third), and a user event
 * published on the first still reaches a subscriber on the second (gossip's IHAVE/IWANT through
 * the third, which subscribes too: agents relay only topics they subscribe to). Then the link
 * comes back and nothing has changed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { startAgent, cleanupAll, type AgentHandle } from '../helpers/agents.ts';
import { followEvents, type EventFollower } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const IPS = ['127.0.23.2', '127.0.23.3', '127.0.23.4'];
let agents: AgentHandle[] = [];
const followers: EventFollower[] = [];
/** the iptables rules in place (their arguments after -I/-D INPUT) */
const rules: string[][] = [];

async function views(): Promise<{ viewer: string; name: string; state: string }[]> {
  const all = await Promise.all(
    agents.map(async (a) => {
      const res = await fetch(`${a.api}/v1/members`, { signal: AbortSignal.timeout(3000) });
      const { members } = (await res.json()) as { members: { name: string; state: string; self: boolean }[] };
      return members.filter((m) => !m.self).map((m) => ({ viewer: a.bind, name: m.name, state: m.state }));
    }),
  );
  return all.flat();
}

async function cutLink(a: string, b: string): Promise<void> {
  for (const [src, dst] of [[a, b], [b, a]]) {
    const rule = ['-s', src!, '-d', dst!, '-j', 'DROP', '-m', 'comment', '--comment', `warren-test-${process.pid}`];
    await execFileP('iptables', ['-I', 'INPUT', ...rule]);
    rules.push(rule);
  }
}

/** Whether a TCP connection from address `from` to the agent API on `to` opens within a second. */
function connects(from: string, to: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: to, port: 7370, localAddress: from, timeout: 1000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true)).once('timeout', () => done(false)).once('error', () => done(false));
  });
}

async function restoreLinks(): Promise<void> {
  while (rules.length) await execFileP('iptables', ['-D', 'INPUT', ...rules.pop()!]).catch(() => undefined);
}

before(async () => {
  const first = await startAgent({ bind: IPS[0]!, args: ['--open'] });
  agents = [first, ...(await Promise.all(IPS.slice(1).map((ip) => startAgent({ bind: ip, args: ['--join', IPS[0]!] }))))];
  await waitFor('3 agents see each other alive', async () => {
    const v = await views();
    return v.length === 6 && v.every((m) => m.state === 'alive');
  }, 30_000);
});

after(async () => {
  await restoreLinks();
  await Promise.all(followers.map((f) => f.stop()));
  await cleanupAll();
});

test('a cut link between two agents kills nobody, and events still cross it through the third', { timeout: 90_000 }, async (t) => {
  const [a, b, c] = agents as [AgentHandle, AgentHandle, AgentHandle];
  for (const x of [b, c]) followers.push(await followEvents(x.api, ['link.check']));
  const onB = followers[0]!;
  await cutLink(a.bind, b.bind);
  assert.equal(await connects(a.bind, b.bind), false, 'nothing from the first agent\'s address reaches the second');
  assert.equal(await connects(c.bind, b.bind), true, 'the third still reaches the second');

  // watched for longer than a dead verdict takes (1.85 s of silence) several times over
  const seen: string[] = [];
  const token = readFileSync(`${a.dataDir}/admin-token`, 'utf8').trim();
  let sent = 0;
  const watchUntil = Date.now() + 12_000;
  while (Date.now() < watchUntil) {
    for (const m of await views()) if (m.state !== 'alive') seen.push(`${m.viewer} saw ${m.name} ${m.state}`);
    if (!onB.find((e) => e.payload?.n !== undefined)) {
      const res = await fetch(`${a.api}/v1/events/link.check`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ n: sent++ }) });
      assert.equal(res.status, 202);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.deepEqual(seen, [], 'nobody was ever suspect or dead');
  // how the two kept hearing of each other: gossip relayed through the third, or probes through it
  for (const x of [a, b]) t.diagnostic(`${x.bind}: ${(await (await fetch(`${x.api}/metrics`)).text()).split('\n').filter((l) => /^warren_gossip_(probes|received)_total/.test(l)).join(', ')}`);
  const got = onB.find((e) => e.payload?.n !== undefined);
  assert.ok(got, `an event published on ${a.bind} reached the subscriber on ${b.bind} without the direct link (${sent} sent)`);
  assert.equal(got.source.name, 'n2');

  await restoreLinks();
  const marker = await fetch(`${a.api}/v1/events/link.check`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ healed: true }) });
  assert.equal(marker.status, 202);
  await onB.waitFor('an event after the link is back', (e) => e.payload?.healed === true, 15_000);
  const v = await views();
  assert.ok(v.length === 6 && v.every((m) => m.state === 'alive'), JSON.stringify(v));
});
