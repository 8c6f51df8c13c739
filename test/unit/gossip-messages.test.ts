import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessage, validateMessage, MAX_MESSAGE_BYTES } from '../../src/core/gossip-messages.ts';
import { applyGossip, type GossipMemberInfo } from '../../src/core/gossip-acceptance.ts';
import { Membership } from '../../src/core/membership.ts';
import { MAX_HEARS } from '../../src/core/heartbeat-relay.ts';
import { CLUSTER_EVENT_NAMES, resolveSubscription, userTopicProblem, TOPICS } from '../../src/core/topics.ts';

const ID = '12D3KooWsigner';
const health = { cpuLoad: 0.1, memUsedBytes: 1, memTotalBytes: 2, diskFreeBytes: 3, containers: 0, uptimeMs: 5 };
const heartbeat = { type: 'heartbeat', id: ID, incarnation: 7, name: 'n1', addr: '10.0.0.1', api: 'http://10.0.0.1:7370', p2p: ['/ip4/10.0.0.1/tcp/7371'], version: '0.1.0', role: 'voter', health };

function reason(topic: string, value: unknown, signer = ID): string {
  const v = validateMessage(topic, signer, typeof value === 'string' ? new TextEncoder().encode(value) : encodeMessage(value));
  return v.ok ? 'ok' : v.reason;
}

test('a valid heartbeat passes; a forged, malformed or oversized one is dropped with a reason', () => {
  assert.equal(reason(TOPICS.health, heartbeat), 'ok');
  assert.equal(reason(TOPICS.health, heartbeat, '12D3KooWother'), 'sender_mismatch');
  assert.equal(reason(TOPICS.health, { ...heartbeat, incarnation: -1 }), 'bad_heartbeat');
  assert.equal(reason(TOPICS.health, { ...heartbeat, role: 'king' }), 'bad_heartbeat');
  assert.equal(reason(TOPICS.health, { ...heartbeat, health: { ...health, cpuLoad: 'high' } }), 'bad_heartbeat');
  assert.equal(reason(TOPICS.health, { ...heartbeat, health: { ...health, volumesSafeAgoMs: { web_data: 120, db_data: 0 } } }), 'ok');
  for (const bad of [[1], { web_data: -1 }, { web_data: 'soon' }, 'x', Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`v${i}`, 1]))]) {
    assert.equal(reason(TOPICS.health, { ...heartbeat, health: { ...health, volumesSafeAgoMs: bad } }), 'bad_heartbeat', JSON.stringify(bad).slice(0, 40));
  }
  assert.equal(reason(TOPICS.health, { ...heartbeat, p2p: new Array(17).fill('/ip4/1.2.3.4/tcp/1') }), 'bad_heartbeat');
  assert.equal(reason(TOPICS.health, 'not json'), 'not_json');
  assert.equal(reason(TOPICS.health, '[1,2]'), 'not_object');
  assert.equal(reason(TOPICS.health, 'x'.repeat(MAX_MESSAGE_BYTES + 1)), 'too_large');
  assert.equal(reason(TOPICS.health, new Uint8Array([0xff, 0xfe]) as unknown as string), 'bad_heartbeat');
});

test('a restart notice rides on a heartbeat (an optional field), checked, and kept out of the member info', () => {
  assert.equal(reason(TOPICS.health, { ...heartbeat, restart: { graceMs: 30_000 } }), 'ok');
  assert.equal(reason(TOPICS.health, { ...heartbeat, restart: { graceMs: -1 } }), 'bad_heartbeat');
  assert.equal(reason(TOPICS.health, { ...heartbeat, restart: { graceMs: 'soon' } }), 'bad_heartbeat');
  assert.equal(reason(TOPICS.health, { ...heartbeat, restart: 30_000 }), 'bad_heartbeat');
  // fields a later version adds are tolerated (one machine at a time is upgraded)
  assert.equal(reason(TOPICS.health, { ...heartbeat, somethingNew: { x: 1 } }), 'ok');
  const m = new Membership<GossipMemberInfo>({ selfId: 'me' });
  applyGossip(m, TOPICS.health, { ...heartbeat, restart: { graceMs: 30_000 } } as never, 0, 0);
  assert.equal(m.get(ID)?.state, 'alive', 'the heartbeat counts as one');
  assert.equal((m.get(ID)?.info as Record<string, unknown>).restart, undefined);
});

test('what a member hears rides on its heartbeat (optional, bounded, a list of ids) and stays out of its info', () => {
  assert.equal(reason(TOPICS.health, { ...heartbeat, hears: [] }), 'ok');
  assert.equal(reason(TOPICS.health, { ...heartbeat, hears: ['12D3KooWa', '12D3KooWb'] }), 'ok');
  for (const bad of ['12D3KooWa', [1], [''], ['x'.repeat(101)], new Array(MAX_HEARS + 1).fill('12D3KooWa')]) {
    assert.equal(reason(TOPICS.health, { ...heartbeat, hears: bad }), 'bad_heartbeat', JSON.stringify(bad).slice(0, 40));
  }
  const m = new Membership<GossipMemberInfo>({ selfId: 'me' });
  applyGossip(m, TOPICS.health, { ...heartbeat, hears: ['12D3KooWa'] } as never, 0, 0);
  assert.equal((m.get(ID)?.info as Record<string, unknown>).hears, undefined);
});

test('membership messages: leave and rumors only from their sender', () => {
  assert.equal(reason(TOPICS.membership, { type: 'leave', id: ID, incarnation: 1 }), 'ok');
  assert.equal(reason(TOPICS.membership, { type: 'leave', id: 'someone-else', incarnation: 1 }), 'sender_mismatch');
  assert.equal(reason(TOPICS.membership, { type: 'rumor', id: ID, about: 'x', state: 'dead', incarnation: 3 }), 'ok');
  assert.equal(reason(TOPICS.membership, { type: 'rumor', id: ID, about: 'x', state: 'zombie', incarnation: 3 }), 'bad_membership');
  assert.equal(reason(TOPICS.membership, { type: 'hello' }), 'bad_membership');
  assert.equal(reason(TOPICS.membership, { type: 'rumor', id: ID, about: 'x', state: 'dead', incarnation: 3, to: 'x' }), 'ok');
  assert.equal(reason(TOPICS.membership, { type: 'rumor', id: ID, about: 'x', state: 'dead', incarnation: 3, to: 7 }), 'bad_membership');
});

test('a verdict told to one member moves only that member: it refutes, the others ignore it', () => {
  const told = { type: 'rumor' as const, id: 'a', about: 'x', state: 'dead' as const, incarnation: 3, to: 'x' };
  const x = new Membership<GossipMemberInfo>({ selfId: 'x', incarnation: 3 });
  assert.deepEqual(applyGossip(x, TOPICS.membership, told, 0, 0), { outputs: [{ type: 'refute', incarnation: 4 }] });
  const other = new Membership<GossipMemberInfo>({ selfId: 'b', incarnation: 1 });
  other.heartbeat('x', { incarnation: 3, now: 0 });
  assert.deepEqual(applyGossip(other, TOPICS.membership, told, 5000, 0), { outputs: [] });
  assert.equal(other.get('x')?.state, 'alive');
  // the same rumor without `to` is a verdict for everyone
  assert.equal((applyGossip(other, TOPICS.membership, { ...told, to: undefined }, 5000, 0) as { outputs: { type: string }[] }).outputs[0]?.type, 'state');
});

test('events: the envelope must match its topic and its signer', () => {
  const event = { id: 'e1', topic: `${TOPICS.eventsPrefix}node.dead`, name: 'node.dead', time: 1, source: { id: ID, name: 'n1' }, payload: { node: 'x' } };
  assert.equal(reason(event.topic, event), 'ok');
  assert.equal(reason(event.topic, { ...event, source: { id: 'other', name: 'n1' } }), 'sender_mismatch');
  assert.equal(reason(event.topic, { ...event, name: 'node.alive' }), 'bad_event');
  assert.equal(reason(`${TOPICS.eventsPrefix}node.exploded`, { ...event, topic: `${TOPICS.eventsPrefix}node.exploded`, name: 'node.exploded' }), 'bad_event');
  const user = { ...event, topic: `${TOPICS.userPrefix}backup.done`, name: 'backup.done' };
  assert.equal(reason(user.topic, user), 'ok');
  const { payload: _p, ...noPayload } = user;
  assert.equal(reason(user.topic, noPayload), 'bad_event');
  assert.equal(reason('some/other/topic', user), 'unknown_topic');
});

test('topic names and subscriptions', () => {
  assert.equal(userTopicProblem('backup.done'), undefined);
  assert.match(userTopicProblem('Backup')!, /lowercase/);
  assert.match(userTopicProblem('node.dead')!, /reserved/);
  assert.match(userTopicProblem('service.x')!, /reserved/);
  assert.match(userTopicProblem('a'.repeat(65))!, /1-64/);
  assert.deepEqual(resolveSubscription([]), CLUSTER_EVENT_NAMES.map((n) => `${TOPICS.eventsPrefix}${n}`), 'no topic: every cluster event');
  assert.deepEqual(resolveSubscription(['node.dead', 'backup.done']), [`${TOPICS.eventsPrefix}node.dead`, `${TOPICS.userPrefix}backup.done`]);
  assert.deepEqual(resolveSubscription(['warren/user/x', 'x']), ['warren/user/x']);
  assert.throws(() => resolveSubscription(['Nope']), /lowercase/);
});
