/**
 * A compose stack's named volumes as Warren volumes, pure parts: the compose file → options
 * (replicated, local opt-out, external, stacks deployed before), the naming, which copies a slot's
 * node must hold (the stack placed together), the scheduler placing a whole stack on a node holding
 * all of them, the stack's peers, and `stack rm --volumes`' choice of volumes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stackServices } from '../../src/core/compose/to-services.ts';
import { legacyVolumesOf, stackVolumePolicies, stackVolumeRecord, warrenVolumesOfStack } from '../../src/core/compose/stack-volumes-plan.ts';
import { homeVolumes, peerGroup, slotHomes, slotVolumes, stackOfVolume, stackVolumeName, takeBlocked, volumeUsers } from '../../src/core/volumes/stack-volumes.ts';
import { choosePeers } from '../../src/core/volumes/peer-choice.ts';
import { checkPolicy } from '../../src/core/volumes/volume-policy.ts';
import type { CopyRecord, VolumeMeta } from '../../src/core/volumes/volume-records.ts';
import { planSchedule, type SchedNode } from '../../src/core/scheduler.ts';
import type { Constraint, ServiceSpec } from '../../src/core/service-types.ts';
import { project, refused, warningLines } from '../helpers/compose.ts';
import { prng } from '../helpers/prng.ts';

const COMPOSE = `name: immich
services:
  server:
    image: server
    volumes: [uploads:/data, "db:/backup:ro", thumbs:/thumbs, ext:/ext, /anon, ./cfg:/cfg]
  db:
    image: postgres
    volumes: [db:/var/lib/postgresql/data]
    tmpfs: [/run]
  redis:
    image: redis
volumes:
  uploads:
  db:
  thumbs:
    x-warren: {local: true}
  ext:
    external: true
`;

test('compose: named volumes become Warren volumes <stack>.<volume>, shared by the services mounting them; local, external, tmpfs and bind mounts stay Docker', () => {
  const s = stackServices(project({ 'compose.yaml': COMPOSE }).model, { nodeName: 'n1' });
  const by = (n: string) => s.find((x) => x.name === `immich-${n}`)!;
  assert.deepEqual(by('server').options!.stackVolumes, [
    { name: 'immich.uploads', target: '/data', readOnly: false },
    { name: 'immich.db', target: '/backup', readOnly: true },
  ]);
  assert.deepEqual(by('server').options!.volumes, [
    { name: 'warren-stack_immich_thumbs', target: '/thumbs', readOnly: false },
    { name: 'ext', target: '/ext', readOnly: false },
  ]);
  assert.deepEqual(by('server').options!.anonymousVolumes, ['/anon']);
  assert.equal(by('server').options!.binds!.length, 1);
  assert.deepEqual(by('server').volumes, [], 'never a service volume (<service>_<name>)');
  assert.deepEqual(by('db').options!.stackVolumes, [{ name: 'immich.db', target: '/var/lib/postgresql/data', readOnly: false }]);
  assert.deepEqual(by('db').options!.tmpfs, { '/run': '' });
  assert.equal(by('redis').options!.stackVolumes, undefined);
  // the slot's mounts the volume driver binds
  assert.deepEqual(slotVolumes('immich-server', 0, by('server') as never), [
    { name: 'immich.uploads', path: '/data', readOnly: false },
    { name: 'immich.db', path: '/backup', readOnly: true },
  ]);
});

test('compose: x-warren is {local: bool} or a snapshot policy; a Warren volume name must be a valid store name; driver is ignored with a warning', () => {
  const bad = refused({ 'compose.yaml': 'name: s\nservices:\n  a: {image: a, volumes: [v:/v]}\nvolumes:\n  v:\n    x-warren: {local: yes-please}\n' });
  assert.ok(bad.some((l) => /volumes\.v\.x-warren\.local: must be true or false/.test(l)), bad.join('\n'));
  const extra = refused({ 'compose.yaml': 'name: s\nservices:\n  a: {image: a}\nvolumes:\n  v:\n    x-warren: {replicas: 3}\n' });
  assert.ok(extra.some((l) => /compose\.yaml:6: volumes\.v\.x-warren\.replicas: unknown key \(expected local, snapshot_interval, retention\)/.test(l)), extra.join('\n'));
  const scalar = refused({ 'compose.yaml': 'name: s\nservices:\n  a: {image: a}\nvolumes:\n  v:\n    x-warren: local\n' });
  assert.ok(scalar.some((l) => /volumes\.v\.x-warren: must be a mapping/.test(l)), scalar.join('\n'));
  const name = refused({ 'compose.yaml': 'name: s\nservices:\n  a: {image: a, volumes: ["-v:/v"]}\nvolumes:\n  "-v":\n' });
  assert.ok(name.some((l) => /becomes the Warren volume/.test(l)), name.join('\n'));
  const off = project({ 'compose.yaml': 'name: s\nservices:\n  a: {image: a, volumes: [v:/v]}\nvolumes:\n  v:\n    x-warren: {local: false}\n    driver: local\n' });
  assert.equal(off.model.volumes[0]!.local, undefined);
  assert.ok(warningLines(off).some((l) => /driver and driver_opts are ignored/.test(l)));
});

test('names: unique per stack, never a plain service volume, slots distinct; a clash inside one stack is refused', () => {
  assert.equal(stackVolumeName('shop', 'data'), 'shop.data');
  assert.equal(stackVolumeName('shop', 'data', 2), 'shop.data.2');
  assert.equal(stackOfVolume('shop.data.2'), 'shop');
  assert.equal(stackOfVolume('web_data'), undefined);
  assert.equal(stackOfVolume('web_data.fenced-e3-abcdef12'), undefined);
  // randomized: stacks, volumes and slots never map two different things to one name, and never to
  // a service volume's name (<dns-label>_<dns-label>[_N])
  const rnd = prng(13);
  const pick = (chars: string, n: number) => Array.from({ length: 1 + Math.floor(rnd() * n) }, () => chars[Math.floor(rnd() * chars.length)]).join('');
  const seen = new Map<string, string>();
  for (let i = 0; i < 5000; i++) {
    const stack = pick('ab', 1) + pick('ab_-1', 3);
    const volume = pick('ab', 1) + pick('ab._-1', 3);
    const slot = Math.floor(rnd() * 3);
    const name = stackVolumeName(stack, volume, slot);
    assert.equal(stackOfVolume(name), stack);
    assert.ok(!/^[a-z0-9-]+_[a-z0-9-]+(_\d+)?$/.test(name), `${name} looks like a service volume`);
    // within one stack a volume "x.1" and slot 1 of "x" are the same name: stackServices refuses that
    const key = `${stack}|${volume}|${slot}`;
    const before = seen.get(name);
    if (before !== undefined && before !== key) assert.equal(before.split('|')[0], stack, `${name}: ${before} vs ${key} across stacks`);
    seen.set(name, key);
  }
  const clash = refused({ 'compose.yaml': 'name: s\nservices:\n  a:\n    image: a\n    deploy: {replicas: 2}\n    volumes: [x:/x, "x.1:/y"]\nvolumes:\n  x:\n  x.1:\n' });
  assert.ok(clash.some((l) => /volumes: the Warren volume s\.x\.1 would be both s\.x\.1 of replica 0 and s\.x of replica 1/.test(l)), clash.join('\n'));
  // one replica: no slot 1, no clash
  assert.equal(project({ 'compose.yaml': 'name: s\nservices:\n  a:\n    image: a\n    volumes: [x:/x, "x.1:/y"]\nvolumes:\n  x:\n  x.1:\n' }).model.volumes.length, 2);
});

test('stacks deployed before keep their Docker volumes (with a warning); new volumes of theirs and new stacks are Warren volumes', () => {
  const { model } = project({ 'compose.yaml': COMPOSE });
  const old = { volumes: ['warren-stack_immich_uploads', 'warren-stack_immich_db', 'warren-stack_immich_gone'] };
  assert.deepEqual(legacyVolumesOf('immich', old), ['uploads', 'db', 'gone']);
  const v = stackVolumeRecord(model, old);
  assert.deepEqual([...v.legacy].sort(), ['db', 'uploads'], 'only volumes the file still has');
  assert.deepEqual(v.record.legacyVolumes, ['db', 'uploads']);
  assert.equal(v.record.volumeFormat, 2);
  assert.deepEqual(v.warnings.map((w) => w.path), ['volumes.db', 'volumes.uploads']);
  const s = stackServices(model, { nodeName: 'n', legacyVolumes: v.legacy });
  const server = s.find((x) => x.name === 'immich-server')!;
  assert.equal(server.options!.stackVolumes, undefined);
  assert.deepEqual(server.options!.volumes!.map((x) => x.name), ['warren-stack_immich_uploads', 'warren-stack_immich_db', 'warren-stack_immich_thumbs', 'ext']);
  // the next deploy keeps that (the record says so), a fresh stack has none
  assert.deepEqual(legacyVolumesOf('immich', v.record), ['db', 'uploads']);
  const fresh = stackVolumeRecord(model, undefined);
  assert.deepEqual(fresh.record, { volumes: ['warren-stack_immich_thumbs'], volumeFormat: 2, legacyVolumes: [] });
  assert.deepEqual(fresh.warnings, []);
  assert.deepEqual(legacyVolumesOf('immich', fresh.record), []);
});

// ---- placement ----------------------------------------------------------------------------------

const svc = (name: string, over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  name, image: 'img', command: [], env: {}, ports: [], volumes: [], restart: 'always',
  replicas: 1, constraints: [], generation: 1, createdAt: 0, updatedAt: 0, ...over,
});
const withVolumes = (stack: string, name: string, vols: string[], over: Partial<ServiceSpec> = {}) =>
  svc(`${stack}-${name}`, { stack, options: { stackVolumes: vols.map((v) => ({ name: stackVolumeName(stack, v), target: `/${v}`, readOnly: false })) }, ...over });
const meta = (name: string, owner: string, epoch = 1): VolumeMeta => ({ name, service: 'x', slot: 0, volume: name, owner, epoch, since: 0 });
const copy = (volume: string, node: string, seq: number, epoch = 1): CopyRecord => ({ volume, node, snapshot: `${volume}-${seq}`, seq, epoch, createdAt: 0, sizeBytes: 1, applied: true, updatedAt: 0 });
const sched = (id: string, state: SchedNode['state'] = 'alive'): SchedNode => ({ id, name: `n-${id}`, labels: { zone: id }, state, draining: false });

test('a stack slot needs copies of its own volumes and of its siblings placed with it; not those of a sibling pinned elsewhere', () => {
  const pin: Constraint[] = [{ kind: 'node', value: 'n-c' }];
  const services = [
    withVolumes('shop', 'app', ['uploads']),
    withVolumes('shop', 'db', ['db']),
    svc('shop-cache', { stack: 'shop' }),
    withVolumes('shop', 'pinned', ['cfg'], { constraints: pin }),
    svc('web', { volumes: [{ name: 'data', path: '/data' }] }),
    withVolumes('other', 'app', ['uploads']),
  ];
  assert.deepEqual(homeVolumes(services[2]!, 0, services), ['shop.db', 'shop.uploads'], 'a service without volumes goes where its stack\'s volumes are');
  assert.deepEqual(homeVolumes(services[0]!, 0, services), ['shop.db', 'shop.uploads']);
  assert.deepEqual(homeVolumes(services[3]!, 0, services), ['shop.cfg']);
  assert.deepEqual(homeVolumes(services[4]!, 0, services), ['web_data'], 'a plain service: its own only');
  // slot 1 of a two-replica service: its own slot's volumes and those of siblings with a slot 1
  const two = [withVolumes('shop', 'app', ['uploads'], { replicas: 2 }), withVolumes('shop', 'db', ['db'])];
  assert.deepEqual(homeVolumes(two[0]!, 1, two), ['shop.uploads.1']);
  assert.deepEqual(volumeUsers('shop.uploads', services).map((u) => u.service), ['shop-app']);
  assert.deepEqual(peerGroup('shop.db', services), ['shop.cfg', 'shop.db', 'shop.uploads']);
  assert.deepEqual(peerGroup('web_data', services), ['web_data']);
});

test('scheduler: the stack whose node died lands together on the node holding copies of all its volumes; with none live it waits, never empty', () => {
  const services = [withVolumes('shop', 'app', ['uploads']), withVolumes('shop', 'db', ['db']), svc('shop-cache', { stack: 'shop' })];
  const m = new Map([['shop.uploads', meta('shop.uploads', 'a')], ['shop.db', meta('shop.db', 'a')]]);
  const assignments = Object.fromEntries(services.map((s) => [s.name, { service: s.name, slots: [{ index: 0, nodeId: 'a', generation: 1, since: 0 }], specs: { 1: s } }])) as never;
  // c holds both, b only one; d holds none but is least loaded
  const copies = [copy('shop.uploads', 'a', 9), copy('shop.db', 'a', 9), copy('shop.uploads', 'b', 8), copy('shop.uploads', 'c', 8), copy('shop.db', 'c', 8)];
  const nodes = [sched('a', 'dead'), sched('b'), sched('c'), sched('d')];
  const homeNodes = nodes.map((n) => ({ id: n.id, name: n.name, alive: n.state === 'alive' }));
  const plan = planSchedule({ now: 1, services, assignments, statuses: [], nodes, volumeHomes: slotHomes(services, m, copies, homeNodes) });
  for (const s of services) assert.equal(plan.writes.find((w) => w.service === s.name)!.record!.slots[0]!.nodeId, 'c', s.name);
  // no live node holds the db's copy: every service of the stack waits, saying why
  const lost = copies.filter((c) => !(c.volume === 'shop.db' && c.node === 'c'));
  const waiting = planSchedule({ now: 1, services, assignments, statuses: [], nodes, volumeHomes: slotHomes(services, m, lost, homeNodes) });
  for (const s of services) {
    const slot = waiting.writes.find((w) => w.service === s.name)!.record!.slots[0]!;
    assert.equal(slot.nodeId, null, s.name);
    assert.match(slot.reason!, /volume shop\.db: no live node holds a copy \(newest on n-a, down\)/);
  }
});

test('randomized: a stack is never placed on a node lacking a live copy of one of its volumes, and waits only when no live node holds them all', () => {
  const rnd = prng(1414);
  const ids = ['a', 'b', 'c', 'd', 'e'];
  for (let round = 0; round < 400; round++) {
    const vols = ['v1', 'v2', 'v3'].filter(() => rnd() < 0.7);
    const services = [withVolumes('st', 's1', vols.slice(0, 1)), withVolumes('st', 's2', vols.slice(1)), svc('st-s3', { stack: 'st' })];
    const nodes = ids.map((id) => sched(id, rnd() < 0.3 ? 'dead' : 'alive'));
    const copies: CopyRecord[] = [];
    for (const v of vols) for (const id of ids) if (rnd() < 0.45) copies.push(copy(stackVolumeName('st', v), id, 1 + Math.floor(rnd() * 5)));
    const m = new Map(vols.map((v) => [stackVolumeName('st', v), meta(stackVolumeName('st', v), 'a')]));
    const homeNodes = nodes.map((n) => ({ id: n.id, name: n.name, alive: n.state === 'alive' }));
    const plan = planSchedule({ now: 1, services, assignments: {}, statuses: [], nodes, volumeHomes: slotHomes(services, m, copies, homeNodes) });
    const alive = new Set(nodes.filter((n) => n.state === 'alive').map((n) => n.id));
    const captured = vols.map((v) => stackVolumeName('st', v)).filter((v) => copies.some((c) => c.volume === v));
    const holdsAll = (id: string) => captured.every((v) => copies.some((c) => c.volume === v && c.node === id));
    const anyHome = [...alive].some(holdsAll);
    const placed = services.map((s) => plan.writes.find((w) => w.service === s.name)!.record!.slots[0]!);
    const seed = `round ${round}: vols ${vols}, copies ${JSON.stringify(copies.map((c) => `${c.volume}@${c.node}`))}, dead ${ids.filter((i) => !alive.has(i))}`;
    if (anyHome && alive.size > 0) {
      for (const p of placed) {
        assert.ok(p.nodeId !== null && alive.has(p.nodeId) && holdsAll(p.nodeId), `${seed}: placed on ${p.nodeId}`);
      }
      assert.equal(new Set(placed.map((p) => p.nodeId)).size, 1, `${seed}: the stack is split`);
    } else {
      for (const p of placed) assert.ok(p.nodeId === null && p.reason, `${seed}: placed on ${p.nodeId} without every copy`);
    }
  }
});

test('peers: every volume of a stack goes to the same peers, those holding most of its volumes first (randomized)', () => {
  const rnd = prng(1415);
  const nodes = ['a', 'b', 'c', 'd', 'e'];
  for (let round = 0; round < 300; round++) {
    const vols = ['st.v1', 'st.v2', 'st.v3'];
    const holds = new Set(vols.flatMap((v) => nodes.filter(() => rnd() < 0.4).map((n) => `${v}/${n}`)));
    const alive = new Set(nodes.filter(() => rnd() < 0.8));
    const owner = nodes[Math.floor(rnd() * nodes.length)]!;
    const peersOf = () => choosePeers(owner, nodes.map((id) => ({ id, alive: alive.has(id), eligible: true, holds: vols.filter((v) => holds.has(`${v}/${id}`)).length })));
    const chosen = vols.map(() => peersOf());
    for (const c of chosen) assert.deepEqual(c, chosen[0], `round ${round}`);
    const count = (id: string) => vols.filter((v) => holds.has(`${v}/${id}`)).length;
    const p = chosen[0]!;
    for (let i = 1; i < p.length; i++) assert.ok(count(p[i - 1]!) >= count(p[i]!), `round ${round}: ${p}`);
    assert.equal(p.length, Math.min(2, [...alive].filter((n) => n !== owner).length));
  }
});

test('take-over: refused while the live copy is on another alive node that runs a replica mounting it', () => {
  const users = [{ service: 'shop-app', slot: 0 }, { service: 'shop-cron', slot: 0 }];
  const base = { volume: 'shop.data', self: 'b', owner: 'a', ownerAlive: true, ownerName: 'n-a', users };
  assert.match(takeBlocked({ ...base, assigned: new Map([['shop-app/0', 'a'], ['shop-cron/0', 'b']]) })!, /live on node n-a for service shop-app/);
  assert.equal(takeBlocked({ ...base, assigned: new Map([['shop-app/0', 'b'], ['shop-cron/0', 'b']]) }), undefined, 'everything moved here');
  assert.equal(takeBlocked({ ...base, ownerAlive: false, assigned: new Map([['shop-app/0', 'a']]) }), undefined, 'its owner is dead: take it');
  assert.equal(takeBlocked({ ...base, owner: 'b', assigned: new Map([['shop-app/0', 'a']]) }), undefined, 'owned here already');
  assert.equal(takeBlocked({ ...base, owner: undefined, assigned: new Map() }), undefined, 'new');
});

test('stack rm --volumes: exactly the stack\'s Warren volumes', () => {
  const names = ['shop.data', 'shop.data.1', 'shop-2.data', 'shop_data', 'shop.data.fenced-e2-abcdef12', 'shops.data', 'web_data'];
  assert.deepEqual(warrenVolumesOfStack('shop', names), ['shop.data', 'shop.data.1']);
  assert.deepEqual(warrenVolumesOfStack('shop-2', names), ['shop-2.data']);
});

const POLICY = (x: string) => `name: s
services:
  a:
    image: a
    deploy: {replicas: 2}
    volumes: [db:/db, other:/o, plain:/p]
  b: {image: b, volumes: [db:/db]}
volumes:
  db:
    x-warren:
${x}
  other:
    x-warren: {snapshot_interval: 1h}
  plain:
  unused:
    x-warren: {snapshot_interval: 5m}
`;

test('compose: x-warren gives a volume its snapshot policy, set on every volume its slots mount', () => {
  const p = project({ 'compose.yaml': POLICY('      snapshot_interval: 30s\n      retention: {keep_within: 2h, hourly: 48, daily: 0, weekly: 4, monthly: 12}') });
  const db = p.model.volumes.find((v) => v.name === 'db')!;
  assert.deepEqual(db.policy, { intervalMs: 30_000, retention: { keepAllWithinMs: 7_200_000, hourly: 48, daily: 0, weekly: 4, monthly: 12 } });
  assert.equal(p.model.volumes.find((v) => v.name === 'plain')!.policy, undefined);
  const desired = stackServices(p.model, { nodeName: 'n1' });
  assert.deepEqual(stackVolumePolicies(p.model, desired).map((x) => [x.volume, x.policy.intervalMs]).sort(), [
    ['s.db', 30_000],
    ['s.db.1', 30_000],
    ['s.other', 3_600_000],
    ['s.other.1', 3_600_000],
  ]);
  // only what is given: the rest stays the agent's default
  const some = project({ 'compose.yaml': POLICY('      retention: {daily: 14, keep_within: 0}') });
  assert.deepEqual(some.model.volumes.find((v) => v.name === 'db')!.policy, { retention: { daily: 14, keepAllWithinMs: 0 } });
  // the bounds are the HTTP API's: a policy at them passes checkPolicy as it is
  const edge = project({ 'compose.yaml': POLICY('      snapshot_interval: 24h\n      retention: {keep_within: 3650d, hourly: 10000, daily: 0}') });
  const atBounds = edge.model.volumes.find((v) => v.name === 'db')!.policy;
  assert.deepEqual(atBounds, { intervalMs: 86_400_000, retention: { keepAllWithinMs: 3650 * 86_400_000, hourly: 10_000, daily: 0 } });
  assert.deepEqual(checkPolicy(atBounds), { ok: true, record: atBounds });
});

test('compose: a bad x-warren policy is refused at its line, with the words of the file', () => {
  const cases: [string, RegExp][] = [
    ['      snapshot_interval: 500ms', /compose\.yaml:11: volumes\.db\.x-warren\.snapshot_interval: must be a duration from 1s to 24h .*got "500ms"/],
    ['      snapshot_interval: 30', /snapshot_interval: must be a duration from 1s to 24h .*got 30/],
    ['      snapshot_interval: 2d', /snapshot_interval: must be a duration from 1s to 24h/],
    ['      retention: {daily: -1}', /compose\.yaml:11: volumes\.db\.x-warren\.retention\.daily: must be a whole number from 0 to 10000, got -1/],
    ['      retention: {daily: 1.5}', /retention\.daily: must be a whole number from 0 to 10000, got 1.5/],
    ['      retention: {daily: 20000}', /compose\.yaml:11: volumes\.db\.x-warren\.retention\.daily: must be a whole number from 0 to 10000, got 20000/],
    ['      retention: {yearly: 2}', /retention\.yearly: unknown key \(expected keep_within, hourly, daily, weekly, monthly\)/],
    ['      retention: {keep_within: soon}', /retention\.keep_within: must be a duration from 0 to 3650d such as 10m, 1h or 7d, got "soon"/],
    ['      retention: {keep_within: 3651d}', /compose\.yaml:11: volumes\.db\.x-warren\.retention\.keep_within: must be a duration from 0 to 3650d .*got "3651d"/],
    ['      retention: [1, 2]', /x-warren\.retention: must be a mapping/],
    ['      local: true\n      snapshot_interval: 1m', /volumes\.db\.x-warren: a local volume is not snapshotted/],
  ];
  for (const [x, want] of cases) {
    const lines = refused({ 'compose.yaml': POLICY(x) });
    assert.ok(lines.some((l) => want.test(l)), `${x}:\n${lines.join('\n')}`);
  }
  const ext = refused({ 'compose.yaml': 'name: s\nservices:\n  a: {image: a, volumes: [v:/v]}\nvolumes:\n  v:\n    external: true\n    x-warren: {snapshot_interval: 1m}\n' });
  assert.ok(ext.some((l) => /an external volume is not a Warren volume/.test(l)), ext.join('\n'));
});
