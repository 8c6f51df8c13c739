import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { acceptGossip, admissionBody, applyGossip, type GossipMemberInfo } from '../../src/core/gossip-acceptance.ts';
import { encodeMessage, MAX_MESSAGE_BYTES } from '../../src/core/gossip-messages.ts';
import { Membership } from '../../src/core/membership.ts';
import { CLUSTER_EVENT_NAMES, TOPICS, clusterEventTopic } from '../../src/core/topics.ts';
import { fuzz } from '../helpers/fuzz.ts';

// Fuzzes the rule the gossip driver uses to decide whether a message counts (acceptGossip) and
// what it then does to the membership machine (applyGossip): random, mutated-valid and
// type-confused messages on every topic, from admitted and non-admitted peers.

const SELF = '12D3KooWself';
const ADMITTED = ['12D3KooWadmittedA', '12D3KooWadmittedB'];
/** still in the membership table but no longer admitted (removed from the registry) */
const REMOVED = '12D3KooWremoved';
/** never admitted, never seen */
const STRANGER = '12D3KooWstranger';
const SIGNERS = [...ADMITTED, REMOVED, STRANGER];
const isAdmitted = (id: string) => id === SELF || ADMITTED.includes(id);

const TOPIC_LIST = [
  TOPICS.membership,
  TOPICS.health,
  TOPICS.admission,
  ...CLUSTER_EVENT_NAMES.map(clusterEventTopic),
  `${TOPICS.userPrefix}backup.done`,
  `${TOPICS.userPrefix}Bad Topic`,
  `${TOPICS.eventsPrefix}node.exploded`,
  'warren/unknown',
];
const health = { cpuLoad: 0.5, memUsedBytes: 1, memTotalBytes: 2, diskFreeBytes: 3, containers: 0, uptimeMs: 5 };

/** A valid message for `topic` from `signer`, about one of the known ids. */
function validFor(topic: string, signer: string, about: string, incarnation: number, state: string): Record<string, unknown> {
  if (topic === TOPICS.health) {
    return { type: 'heartbeat', id: signer, incarnation, name: 'n', addr: '10.0.0.1', api: 'http://10.0.0.1:7370', p2p: ['/ip4/10.0.0.1/tcp/7371'], version: '0.1.0', role: 'voter', health };
  }
  if (topic === TOPICS.membership) {
    return state === 'leave' ? { type: 'leave', id: signer, incarnation } : { type: 'rumor', id: signer, about, state, incarnation };
  }
  const name = topic.slice(topic.lastIndexOf('/') + 1);
  return { id: 'evt1', topic, name, time: 1, source: { id: signer, name: 'n' }, payload: { about } };
}

const anyId = fc.constantFrom(SELF, ...SIGNERS, '', 'x'.repeat(300));
const incarnation = fc.oneof(fc.nat({ max: 10 }), fc.constantFrom(-1, 1.5, Number.MAX_SAFE_INTEGER + 2, 1e308));
const memberState = fc.constantFrom('alive', 'suspect', 'dead', 'left', 'leave', 'zombie');

/** A valid message, then maybe mutated: a field replaced by anything, removed, or a type-confusing field added. */
const message = fc
  .record({
    topic: fc.constantFrom(...TOPIC_LIST),
    signer: fc.constantFrom(...SIGNERS),
    about: anyId,
    incarnation: fc.nat({ max: 10 }),
    state: memberState,
    mutation: fc.oneof(
      fc.constant({ kind: 'none' as const }),
      fc.record({ kind: fc.constant('set' as const), key: fc.constantFrom('type', 'id', 'about', 'state', 'incarnation', 'health', 'p2p', 'source', 'topic', 'name', 'role', '__proto__', 'payload'), value: fc.oneof(fc.anything(), anyId, incarnation, memberState) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom('type', 'id', 'about', 'state', 'incarnation', 'health', 'source', 'payload') }),
      // an event dressed as a membership message, or the other way round
      fc.record({ kind: fc.constant('confuse' as const), extra: fc.constantFrom({ type: 'rumor', about: ADMITTED[0], state: 'dead', incarnation: 9 }, { type: 'heartbeat', incarnation: 9 }, { type: 'leave', incarnation: 9 }) }),
    ),
  })
  .map(({ topic, signer, about, incarnation: inc, state, mutation }) => {
    const m = validFor(topic, signer, about, inc, state);
    if (mutation.kind === 'set') Object.defineProperty(m, mutation.key, { value: mutation.value, enumerable: true, configurable: true, writable: true });
    if (mutation.kind === 'delete') delete m[mutation.key];
    if (mutation.kind === 'confuse') Object.assign(m, mutation.extra, { id: signer });
    return { topic, signer, data: encodeMessage(m) };
  });

/** Bytes that are not a message at all: random bytes, any JSON value, or oversized. */
const garbage = fc.record({
  topic: fc.oneof(fc.constantFrom(...TOPIC_LIST), fc.string()),
  signer: fc.constantFrom(...SIGNERS),
  data: fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.jsonValue().map((v) => encodeMessage(v)),
    fc.constant(new Uint8Array(MAX_MESSAGE_BYTES + 1).fill(0x7b)),
  ),
});

const input = fc.oneof({ weight: 3, arbitrary: message }, { weight: 1, arbitrary: garbage });

/** A machine that knows both admitted peers and the removed one, all alive. */
function machine(): Membership<GossipMemberInfo> {
  const m = new Membership<GossipMemberInfo>({ selfId: SELF, incarnation: 5 });
  for (const id of [...ADMITTED, REMOVED]) m.heartbeat(id, { incarnation: 3, now: 0 });
  return m;
}

const snapshot = (m: Membership<GossipMemberInfo>) => JSON.stringify({ self: m.self, members: m.list() });

/** What the driver does with one message: the verdict, then (if accepted) the machine's inputs. */
function deliver(m: Membership<GossipMemberInfo>, msg: { topic: string; signer: string; data: Uint8Array }, now: number) {
  const a = acceptGossip({ topic: msg.topic, signed: true, signer: msg.signer, data: msg.data }, { isAdmitted, isKnownMember: (id) => m.get(id) !== undefined });
  if (a.verdict === 'accept' && a.kind === 'cluster') applyGossip(m, msg.topic, a.value, now, 0);
  if (a.verdict === 'accept' && a.kind === 'admission') admissionBody(msg.data);
  return a;
}

test('fuzz: no gossip message makes the acceptance rule or the machine throw; a non-admitted sender changes nothing but its own goodbye', async () => {
  await fuzz(
    'gossip-one',
    fc.property(input, (msg) => {
      const m = machine();
      const others = (s: Membership<GossipMemberInfo>) => JSON.stringify({ self: s.self, members: s.list().filter((x) => x.id !== msg.signer) });
      const before = snapshot(m);
      const beforeOthers = others(m);
      const a = deliver(m, msg, 100);
      if (isAdmitted(msg.signer)) return;
      if (msg.topic === TOPICS.admission) assert.equal(snapshot(m), before, 'an admission message never touches membership');
      if (msg.signer === STRANGER) {
        assert.equal(snapshot(m), before, 'a stranger changed membership');
        if (msg.topic !== TOPICS.admission) assert.equal(a.verdict, 'ignore');
        return;
      }
      // the removed member: at most its own entry changes, and only to 'left'
      assert.equal(others(m), beforeOthers, 'a removed member changed what this node knows of others');
      const own = m.get(REMOVED)!;
      assert.ok(own.state === 'alive' || own.state === 'left', `removed member is now ${own.state}`);
    }),
    10_000,
  );
});

test('fuzz: in any sequence of gossip, the messages of non-admitted peers change nothing (same state as without them)', async () => {
  const seqItem = fc.oneof(message, garbage).filter((x) => x.signer !== REMOVED);
  await fuzz(
    'gossip-sequence',
    fc.property(fc.array(seqItem, { minLength: 1, maxLength: 12 }), (msgs) => {
      const all = machine();
      const onlyAdmitted = machine();
      msgs.forEach((msg, i) => {
        deliver(all, msg, 100 + i * 10);
        if (isAdmitted(msg.signer)) deliver(onlyAdmitted, msg, 100 + i * 10);
        else {
          // the clock still advances in the twin, as it would with the message ignored
          onlyAdmitted.tick(100 + i * 10);
          all.tick(100 + i * 10);
        }
      });
      assert.equal(snapshot(all), snapshot(onlyAdmitted));
    }),
    1_500,
  );
});

test('an event dressed as a rumor is delivered as an event, never read as a rumor', () => {
  const m = machine();
  const topic = clusterEventTopic('node.dead');
  const dressed = { ...validFor(topic, ADMITTED[0]!, 'x', 1, 'dead'), type: 'rumor', about: ADMITTED[1], state: 'dead', incarnation: 9 };
  const a = deliver(m, { topic, signer: ADMITTED[0]!, data: encodeMessage(dressed) }, 100);
  assert.equal(a.verdict, 'accept');
  assert.equal(m.get(ADMITTED[1]!)!.state, 'alive');
});

test('a removed member may say goodbye, but not declare others dead', () => {
  const m = machine();
  const rumor = { type: 'rumor', id: REMOVED, about: ADMITTED[0], state: 'dead', incarnation: 3 };
  assert.deepEqual(deliver(m, { topic: TOPICS.membership, signer: REMOVED, data: encodeMessage(rumor) }, 100), { verdict: 'ignore', reason: 'not_admitted' });
  assert.equal(m.get(ADMITTED[0]!)!.state, 'alive');
  assert.equal(deliver(m, { topic: TOPICS.membership, signer: REMOVED, data: encodeMessage({ type: 'leave', id: REMOVED, incarnation: 3 }) }, 100).verdict, 'accept');
  assert.equal(m.get(REMOVED)!.state, 'left');
});
