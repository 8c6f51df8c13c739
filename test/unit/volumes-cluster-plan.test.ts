/**
 * The cluster part of volumes, pure: where a replica with replicated volumes may be placed
 * (volume-home), which peers receive its snapshots (peer-choice), the `volume ls` view, the
 * scheduler honouring the homes, and `NAME:/path:local`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { volumeHome, type HomeNode } from '../../src/core/volumes/volume-home.ts';
import { choosePeers } from '../../src/core/volumes/peer-choice.ts';
import { volumeView } from '../../src/core/volumes/volume-view.ts';
import { warrenVolumeName, warrenVolumes, type CopyRecord, type VolumeMeta } from '../../src/core/volumes/volume-records.ts';
import { newer } from '../../src/core/volumes/copy-choice.ts';
import { planSchedule, type SchedNode } from '../../src/core/scheduler.ts';
import { formatVolume, parseVolumes } from '../../src/core/service-ports-volumes.ts';
import type { ServiceSpec } from '../../src/core/service-types.ts';
import { prng } from '../helpers/prng.ts';

const meta = (name: string, owner: string, epoch: number): VolumeMeta => ({ name, service: 'web', slot: 0, volume: 'data', owner, epoch, since: 0 });
const copy = (volume: string, node: string, epoch: number, seq: number, createdAt = 0): CopyRecord => ({ volume, node, snapshot: `${volume}-${epoch}-${seq}`, seq, epoch, createdAt, sizeBytes: 10, applied: true, updatedAt: 0 });
const nodes = (alive: Record<string, boolean>): HomeNode[] => Object.entries(alive).map(([id, a]) => ({ id, name: `n-${id}`, alive: a }));

test('a volume nobody holds a copy of constrains nothing (a new service starts anywhere, empty)', () => {
  assert.deepEqual(volumeHome({ volumes: ['web_data'], meta: new Map(), copies: [], nodes: nodes({ a: true }) }), { kind: 'any' });
  // a meta without any copy: nothing was ever captured, so there is nothing to lose
  assert.deepEqual(volumeHome({ volumes: ['web_data'], meta: new Map([['web_data', meta('web_data', 'a', 1)]]), copies: [], nodes: nodes({ a: false, b: true }) }), { kind: 'any' });
});

test('the newest live copy first; an older epoch never wins whatever its seq; copies of nodes no longer admitted are gone', () => {
  const m = new Map([['v', meta('v', 'a', 3)]]);
  const copies = [copy('v', 'a', 3, 10), copy('v', 'b', 3, 9), copy('v', 'c', 2, 50), copy('v', 'gone', 3, 11)];
  assert.deepEqual(volumeHome({ volumes: ['v'], meta: m, copies, nodes: nodes({ a: false, b: true, c: true }) }), { kind: 'nodes', nodes: ['b', 'c'] });
  // a copy claiming an epoch etcd never gave out is not trusted
  assert.deepEqual(volumeHome({ volumes: ['v'], meta: m, copies: [...copies, copy('v', 'd', 4, 1)], nodes: nodes({ a: false, b: true, c: true, d: true }) }), { kind: 'nodes', nodes: ['b', 'c'] });
});

test('copies only on nodes that are down: the replica waits, naming where the newest is', () => {
  const r = volumeHome({ volumes: ['v'], meta: new Map([['v', meta('v', 'a', 1)]]), copies: [copy('v', 'a', 1, 5), copy('v', 'b', 1, 4)], nodes: nodes({ a: false, b: false, c: true }) });
  assert.deepEqual(r, { kind: 'wait', reason: 'volume v: no live node holds a copy (newest on n-a, down)' });
});

test('several volumes: only nodes holding a copy of each; none: wait with where each is', () => {
  const copies = [copy('v1', 'a', 1, 5), copy('v1', 'b', 1, 6), copy('v2', 'b', 1, 2), copy('v2', 'c', 1, 3)];
  assert.deepEqual(volumeHome({ volumes: ['v1', 'v2'], meta: new Map(), copies, nodes: nodes({ a: true, b: true, c: true }) }), { kind: 'nodes', nodes: ['b'] });
  const r = volumeHome({ volumes: ['v1', 'v2'], meta: new Map(), copies: copies.filter((c) => c.node !== 'b'), nodes: nodes({ a: true, b: true, c: true }) });
  assert.deepEqual(r, { kind: 'wait', reason: 'no live node holds a copy of every volume (v1 on n-a; v2 on n-c)' });
});

test('randomized: the home is never a dead node, never empty while a live copy exists, best first, and waits only when no live node holds one', () => {
  const rand = prng(13);
  for (let round = 0; round < 2000; round++) {
    const ids = ['a', 'b', 'c', 'd', 'e'].slice(0, 1 + Math.floor(rand() * 5));
    const alive = Object.fromEntries(ids.map((id) => [id, rand() < 0.6]));
    const epoch = 1 + Math.floor(rand() * 3);
    const copies = ids.filter(() => rand() < 0.6).map((id) => copy('v', id, 1 + Math.floor(rand() * 4), Math.floor(rand() * 5)));
    const home = volumeHome({ volumes: ['v'], meta: new Map([['v', meta('v', ids[0]!, epoch)]]), copies, nodes: nodes(alive) });
    const valid = copies.filter((c) => c.epoch <= epoch);
    const liveValid = valid.filter((c) => alive[c.node]);
    if (valid.length === 0) assert.deepEqual(home, { kind: 'any' }, `round ${round}`);
    else if (liveValid.length === 0) assert.equal(home.kind, 'wait', `round ${round}`);
    else {
      assert.equal(home.kind, 'nodes', `round ${round}`);
      if (home.kind !== 'nodes') continue;
      assert.deepEqual([...home.nodes].sort(), liveValid.map((c) => c.node).sort());
      const best = home.nodes.map((id) => liveValid.find((c) => c.node === id)!);
      for (let i = 1; i < best.length; i++) assert.ok(!newer(best[i]!, best[i - 1]!), `round ${round}: ranked out of order`);
    }
  }
});

test('peers: two alive, eligible nodes other than the owner, those already holding a copy first, stable', () => {
  const n = (id: string, alive = true, eligible = true, holds = false) => ({ id, alive, eligible, holds });
  assert.deepEqual(choosePeers('a', [n('a'), n('b'), n('c'), n('d')]), ['b', 'c']);
  assert.deepEqual(choosePeers('a', [n('a'), n('b'), n('c'), n('d', true, true, true)]), ['d', 'b']);
  assert.deepEqual(choosePeers('a', [n('a'), n('b', false), n('c', true, false), n('d')]), ['d']);
  assert.deepEqual(choosePeers('a', [n('a')]), []);
});

test('view: owner, state by live copies, data at risk = age of the second-newest live copy', () => {
  const m = meta('v', 'a', 1);
  const names = new Map([['a', { name: 'na', alive: true }], ['b', { name: 'nb', alive: true }], ['c', { name: 'nc', alive: false }]]);
  const copies = [copy('v', 'a', 1, 7, 9000), copy('v', 'b', 1, 6, 8000), copy('v', 'c', 1, 6, 8000)];
  const v = volumeView(m, copies, names, 10_000);
  assert.deepEqual(v, {
    name: 'v', service: 'web', sizeBytes: 10, node: 'na', state: 'degraded', atRiskMs: 2000,
    copies: [{ node: 'na', snapshot: 'v-1-7', ageMs: 1000, applied: true }, { node: 'nb', snapshot: 'v-1-6', ageMs: 2000, applied: true }, { node: 'nc', snapshot: 'v-1-6', ageMs: 2000, applied: true }],
  });
  assert.equal(volumeView(m, [copies[0]!], names, 10_000).atRiskMs, null);
  assert.equal(volumeView(m, [], names, 10_000).state, 'new');
  // the owner moved on to a snapshot nobody else has yet: the point both hold is still on 2 nodes
  assert.equal(volumeView(m, [copy('v', 'a', 2, 8, 9500), copy('v', 'b', 1, 6, 8000)], names, 10_000).atRiskMs, 2000);
  // a dead node's copy protects nothing
  assert.equal(volumeView(m, [copies[0]!, copies[2]!], names, 10_000).atRiskMs, null);
  assert.equal(volumeView(m, [copies[2]!], names, 10_000).state, 'unavailable');
  const all = new Map([...names, ['c', { name: 'nc', alive: true }]]);
  assert.equal(volumeView(m, copies, all, 10_000).state, 'protected');
  // the owner's word: its last cycle (an idle volume's unchanged one) is on a peer 300 ms ago
  assert.equal(volumeView(m, copies, names, 10_000, 300).atRiskMs, 300);
  // never more than the copies show, and nothing where only one node holds a copy
  assert.equal(volumeView(m, copies, names, 10_000, 60_000).atRiskMs, 2000);
  assert.equal(volumeView(m, [copies[0]!], names, 10_000, 300).atRiskMs, null);
});

test('names: slot 0 keeps the plain name; :local volumes are not replicated', () => {
  assert.equal(warrenVolumeName('web', 'data', 0), 'web_data');
  assert.equal(warrenVolumeName('web', 'data', 2), 'web_data_2');
  const vols = parseVolumes(['data:/data', 'cache:/cache:local', { name: 'thumbs', path: '/t', local: true }]);
  assert.deepEqual(vols, [{ name: 'data', path: '/data' }, { name: 'cache', path: '/cache', local: true }, { name: 'thumbs', path: '/t', local: true }]);
  assert.deepEqual(vols.map(formatVolume), ['data:/data', 'cache:/cache:local', 'thumbs:/t:local']);
  assert.deepEqual(warrenVolumes('web', 1, vols).map((v) => v.name), ['web_data_1']);
  assert.throws(() => parseVolumes(['data:/data:ro']), /mount options/);
  assert.throws(() => parseVolumes([{ name: 'data', path: '/data', local: 'yes' }]), /local must be true or false/);
});

const svc = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  name: 'web', image: 'img', command: [], env: {}, ports: [], volumes: [{ name: 'data', path: '/data' }], restart: 'always',
  replicas: 1, constraints: [], generation: 1, createdAt: 0, updatedAt: 0, ...over,
});
const sched = (id: string, state: SchedNode['state'] = 'alive', draining = false): SchedNode => ({ id, name: `n-${id}`, labels: {}, state, draining });

test('scheduler: a displaced replica goes to the node with the newest copy, waits when none is live, and a drain goes there too', () => {
  const before = { service: 'web', slots: [{ index: 0, nodeId: 'a', generation: 1, since: 0 }], specs: { 1: svc() } } as never;
  const plan = planSchedule({ now: 1, services: [svc()], assignments: { web: before }, statuses: [], nodes: [sched('a', 'dead'), sched('b'), sched('c')], volumeHomes: { 'web/0': { kind: 'nodes', nodes: ['c', 'b'] } } });
  assert.equal(plan.writes[0]!.record!.slots[0]!.nodeId, 'c');
  const waiting = planSchedule({ now: 1, services: [svc()], assignments: { web: before }, statuses: [], nodes: [sched('a', 'dead'), sched('b')], volumeHomes: { 'web/0': { kind: 'wait', reason: 'volume web_data: no live node holds a copy' } } });
  const slot = waiting.writes[0]!.record!.slots[0]!;
  assert.equal(slot.nodeId, null);
  assert.match(slot.reason!, /no live node holds a copy/);
  // a home that cannot take it (draining) falls to the next best copy
  const drained = planSchedule({ now: 1, services: [svc()], assignments: {}, statuses: [], nodes: [sched('a'), sched('b', 'alive', true), sched('c')], volumeHomes: { 'web/0': { kind: 'nodes', nodes: ['b', 'c'] } } });
  assert.equal(drained.writes[0]!.record!.slots[0]!.nodeId, 'c');
  // without homes the planner places as before
  const free = planSchedule({ now: 1, services: [svc()], assignments: {}, statuses: [], nodes: [sched('a'), sched('b')] });
  assert.equal(free.writes[0]!.record!.slots[0]!.nodeId, 'a');
});
