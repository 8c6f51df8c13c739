/**
 * One bad link does not kill a healthy node: three real agents on a LAN of network namespaces,
 * then every packet between the first two is dropped (iptables inside the first one's namespace,
 * both ways) while both still reach the third. On loopback this cannot be done by address:
 * agents' connections there leave from 127.0.0.1 whatever address they bind. Neither may ever
 * see the other as anything but alive (their probes and gossip go through the third), and a user
 * event published on the first still reaches a subscriber on the second (the third relays it: it
 * subscribes too, and agents relay only topics they subscribe to). Then the link comes back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupAll } from '../helpers/agents.ts';
import { createLan, cleanupAllLans, type Lan } from '../helpers/netns.ts';
import { startNsAgents, type NsAgent } from '../helpers/ns-agents.ts';
import { followEvents, type EventFollower } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait.ts';
import { metric } from '../helpers/metrics.ts';

let lan: Lan;
let agents: NsAgent[] = [];
const followers: EventFollower[] = [];

/** Every agent's view of the others (answered within 2 s even while an etcd endpoint is cut off). */
async function views(): Promise<{ viewer: string; name: string; state: string }[]> {
  const all = await Promise.all(
    agents.map(async (a) => {
      const res = await fetch(`${a.api}/v1/members`, { signal: AbortSignal.timeout(2000) });
      const { members } = (await res.json()) as { members: { name: string; state: string; self: boolean }[] };
      return members.filter((m) => !m.self).map((m) => ({ viewer: a.name, name: m.name, state: m.state }));
    }),
  );
  return all.flat();
}

/** An agent's heartbeat relay counters (core/heartbeat-relay.ts): heartbeats of others it passed on or kept. */
async function relayCounts(a: NsAgent): Promise<{ relayed: number; kept: number }> {
  const text = await (await fetch(`${a.api}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  const n = (outcome: string) => metric(text, `warren_gossip_heartbeat_relay_total{outcome="${outcome}"}`, 0);
  return { relayed: n('relayed'), kept: n('kept') };
}

/** Drops everything between `a` and `b`, in a's namespace (the rules go with it at cleanup). */
async function setLink(a: NsAgent, b: NsAgent, cut: boolean): Promise<void> {
  const ns = lan.hosts.find((h) => h.ip === a.ip)!.ns;
  for (const rule of [['INPUT', '-s', b.ip], ['OUTPUT', '-d', b.ip]]) {
    const r = await lan.exec(ns, 'iptables', ['-w', cut ? '-I' : '-D', ...rule, '-j', 'DROP']);
    assert.equal(r.code, 0, r.stderr);
  }
}

/** Whether a TCP connection from `from`'s namespace to `to`'s agent API opens within a second. */
async function connects(from: NsAgent, to: NsAgent): Promise<boolean> {
  const ns = lan.hosts.find((h) => h.ip === from.ip)!.ns;
  const r = await lan.exec(ns, 'bash', ['-c', `exec 3<>/dev/tcp/${to.ip}/7370`], { timeoutMs: 1000 });
  return r.code === 0;
}

before(async () => {
  lan = await createLan({ prefix: 'wbl', hosts: 3, rootAddress: true });
  agents = await startNsAgents(lan, ['--open']);
  await waitFor('3 agents (found by mDNS) see each other alive', async () => {
    const v = await views().catch(() => []);
    return v.length === 6 && v.every((m) => m.state === 'alive');
  }, 60_000, 500);
});

after(async () => {
  await Promise.all(followers.map((f) => f.stop()));
  await cleanupAllLans();
  // the agents' data dirs (startNsAgents made them with tempDir)
  await cleanupAll();
});

test('a cut link between two agents kills nobody, and events still cross it through the third', { timeout: 120_000 }, async (t) => {
  const [a, b, c] = agents as [NsAgent, NsAgent, NsAgent];
  for (const x of [b, c]) followers.push(await followEvents(x.api, ['link.check']));
  const onB = followers[0]!;
  // every link up: each heartbeat reaches every peer straight from its author, so the agents stop
  // relaying them (they did relay every one before core/heartbeat-relay.ts)
  await waitFor('the agents keep the heartbeats they receive instead of relaying them', async () => {
    const before = await Promise.all(agents.map(relayCounts));
    await new Promise((r) => setTimeout(r, 2000));
    const now = await Promise.all(agents.map(relayCounts));
    const kept = now.reduce((s, x, i) => s + x.kept - before[i]!.kept, 0);
    const relayed = now.reduce((s, x, i) => s + x.relayed - before[i]!.relayed, 0);
    return kept > 0 && relayed === 0;
  }, 30_000, 0);
  const relayedBefore = (await relayCounts(c)).relayed;
  await setLink(a, b, true);
  assert.equal(await connects(a, b), false, 'nothing from the first agent reaches the second');
  assert.equal(await connects(b, a), false, 'nor the other way');
  assert.equal(await connects(c, b), true, 'the third still reaches the second');

  // watched for longer than a dead verdict takes (1.85 s of silence) several times over
  const seen: string[] = [];
  const token = readFileSync(join(a.dataDir, 'admin-token'), 'utf8').trim();
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
  assert.ok((await relayCounts(c)).relayed > relayedBefore, `${c.name} relayed heartbeats across the cut link`);
  // how the two kept hearing of each other: gossip relayed through the third, or probes through it
  for (const x of [a, b, c]) t.diagnostic(`${x.name}: ${(await (await fetch(`${x.api}/metrics`)).text()).split('\n').filter((l) => /^warren_gossip_(probes|received|heartbeat_relay)_total/.test(l)).join(', ')}`);
  const got = onB.find((e) => e.payload?.n !== undefined);
  assert.ok(got, `an event published on ${a.name} reached the subscriber on ${b.name} without the direct link (${sent} sent)`);
  assert.equal(got.source.name, a.name);

  await setLink(a, b, false);
  assert.equal(await connects(a, b), true, 'the link is back');
  const marker = await fetch(`${a.api}/v1/events/link.check`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ healed: true }) });
  assert.equal(marker.status, 202);
  await onB.waitFor('an event after the link is back', (e) => e.payload?.healed === true, 15_000);
  const v = await views();
  assert.ok(v.length === 6 && v.every((m) => m.state === 'alive'), JSON.stringify(v));
});
