/** The leader's scheduler (src/core/scheduler.ts) case by case; the randomized schedules are in scheduler-sim.test.ts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planSchedule, type ScheduleInput } from '../../src/core/scheduler.ts';
import type { AssignmentRecord, ServiceSpec } from '../../src/core/service-types.ts';
import { NOW, MiB, GiB, node, health, svc, label, status, world, assertIdempotent, run, allRunning, where, slot, record, on, events } from '../helpers/scheduler-world.ts';

// ------------------------------------------------------------------ capacity

describe('planSchedule: capacity', () => {
  it('spreads replicas over nodes and co-locates only when there are fewer nodes than replicas', () => {
    let r = run(world({ nodes: [node('a'), node('b'), node('c')], services: [svc('web', { replicas: 3 })] }));
    assert.deepEqual(where(r.w, 'web'), ['a', 'b', 'c']);
    assert.deepEqual(events(r.plan), ['service.scheduled web/0 ->a', 'service.scheduled web/1 ->b', 'service.scheduled web/2 ->c']);
    assert.deepEqual(slot(r.w, 'web', 0), { index: 0, nodeId: 'n-a', generation: 1, since: NOW });
    r = run(world({ nodes: [node('a'), node('b')], services: [svc('web', { replicas: 4 })] }));
    assert.deepEqual(where(r.w, 'web'), ['a', 'b', 'a', 'b']);
  });

  it('prefers the least-loaded node, then the lower memory use', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const db = record('db', on('a', 'b'), [svc('db')]);
    let r = run(world({ nodes, services: [svc('db', { replicas: 2 }), svc('web')], assignments: { db } }));
    assert.deepEqual(where(r.w, 'web'), ['c']);
    const byMem = [node('a', { health: health(3 * GiB) }), node('b', { health: health(1 * GiB) })];
    r = run(world({ nodes: byMem, services: [svc('web')] }));
    assert.deepEqual(where(r.w, 'web'), ['b']);
  });

  it('places only where the memory fits, counting replicas that have not started yet', () => {
    const nodes = [node('a', { health: health(4 * GiB - 256 * MiB) }), node('b', { health: health(4 * GiB - 768 * MiB) })];
    const web = svc('web', { replicas: 2, memoryBytes: 512 * MiB });
    let r = run(world({ nodes, services: [web] }));
    assert.deepEqual(where(r.w, 'web'), ['b', null]);
    assert.equal(slot(r.w, 'web', 1).reason, 'no alive node has 512 MiB free memory');
    assert.deepEqual(r.w.assignments.web!.specs['1']!.memoryBytes, 512 * MiB);
    // it starts and the heartbeat shows it: still no room for the second
    const started = { ...allRunning(r.w), nodes: [nodes[0]!, node('b', { health: health(4 * GiB - 256 * MiB) })] };
    assertIdempotent(started);
    // a node without figures counts as fitting
    r = run({ ...started, nodes: [...started.nodes, node('c')] });
    assert.deepEqual(where(r.w, 'web'), ['b', 'c']);
    assert.deepEqual(events(r.plan), ['service.scheduled web/1 ->c']);
    assert.equal(slot(r.w, 'web', 1).reason, undefined);
  });
});

// ------------------------------------------------------------------ constraints

describe('planSchedule: constraints', () => {
  const nodes = [node('a', { labels: { disk: 'hdd' } }), node('nas', { labels: { disk: 'ssd' } }), node('c')];

  it('node= matches a node by name or by id, label= by label', () => {
    const services = [
      svc('byname', { replicas: 2, constraints: [{ kind: 'node', value: 'nas' }] }),
      svc('byid', { constraints: [{ kind: 'node', value: 'n-c' }] }),
      svc('ssd', { constraints: [label('disk', 'ssd')] }),
    ];
    const { w } = run(world({ nodes, services }));
    assert.deepEqual(where(w, 'byname'), ['nas', 'nas']);
    assert.deepEqual(where(w, 'byid'), ['c']);
    assert.deepEqual(where(w, 'ssd'), ['nas']);
  });

  it('a constraint no node meets leaves the replica pending with the reason, said once', () => {
    let r = run(world({ nodes, services: [svc('ml', { constraints: [label('gpu', 'yes')] })] }));
    assert.deepEqual(where(r.w, 'ml'), [null]);
    assert.equal(slot(r.w, 'ml', 0).reason, 'no alive node matches label=gpu=yes');
    assert.deepEqual(events(r.plan), ['service.scheduled ml/0 ->null (no alive node matches label=gpu=yes)']);
    r = run({ ...r.w, nodes: [...nodes, node('gpu', { labels: { gpu: 'yes' } })] });
    assert.deepEqual(where(r.w, 'ml'), ['gpu']);
    assert.deepEqual(events(r.plan), ['service.scheduled ml/0 ->gpu']);
  });

  it('a replica whose node no longer matches moves', () => {
    const w = world({ nodes, services: [svc('web', { constraints: [label('disk', 'ssd')] })], assignments: { web: record('web', on('a')) } });
    const r = run(w);
    assert.deepEqual(where(r.w, 'web'), ['nas']);
    assert.deepEqual(events(r.plan), ['service.moved web/0 a>nas (node a no longer matches label=disk=ssd)']);
    assert.equal(slot(r.w, 'web', 0).since, NOW);
  });
});

// ------------------------------------------------------------------ devices

describe('planSchedule: devices', () => {
  const usb = (host = '/dev/ttyUSB0') => ({ host, container: '/dev/ttyUSB0', permissions: 'rwm' });
  const zigbee = (extra: Partial<ServiceSpec> = {}) => svc('zigbee', { options: { devices: [usb()] }, ...extra });

  it('places a service with devices only on a node that has them all', () => {
    const nodes = [node('a', { devices: { '/dev/ttyUSB0': false } }), node('b'), node('pi', { devices: { '/dev/ttyUSB0': true } })];
    const r = run(world({ nodes, services: [zigbee()] }));
    assert.deepEqual(where(r.w, 'zigbee'), ['pi']);
    // two devices: a node with one of them is not enough
    const both = svc('both', { options: { devices: [usb(), usb('/dev/dri')] } });
    const two = [node('a', { devices: { '/dev/ttyUSB0': true, '/dev/dri': false } }), node('gpu', { devices: { '/dev/ttyUSB0': true, '/dev/dri': true } })];
    assert.deepEqual(where(run(world({ nodes: two, services: [both] })).w, 'both'), ['gpu']);
  });

  it('waits with the device named when no node has it, and goes where it is plugged in', () => {
    const nodes = [node('a', { devices: { '/dev/ttyUSB0': false } }), node('b')];
    let r = run(world({ nodes, services: [zigbee()] }));
    assert.deepEqual(where(r.w, 'zigbee'), [null]);
    assert.equal(slot(r.w, 'zigbee', 0).reason, 'no alive node has device /dev/ttyUSB0');
    const withConstraint = run(world({ nodes, services: [zigbee({ constraints: [label('room', 'attic')] }), svc('two', { options: { devices: [usb(), usb('/dev/dri')] } })] }));
    assert.equal(slot(withConstraint.w, 'zigbee', 0).reason, 'no alive node matches label=room=attic');
    assert.equal(slot(withConstraint.w, 'two', 0).reason, 'no alive node has devices /dev/dri, /dev/ttyUSB0');
    const attic = [node('a', { labels: { room: 'attic' }, devices: { '/dev/ttyUSB0': false } })];
    assert.equal(slot(run(world({ nodes: attic, services: [zigbee({ constraints: [label('room', 'attic')] })] })).w, 'zigbee', 0).reason, 'no alive node that matches its constraints has device /dev/ttyUSB0');
    r = run({ ...r.w, nodes: [nodes[0]!, node('b', { devices: { '/dev/ttyUSB0': true } })] });
    assert.deepEqual(where(r.w, 'zigbee'), ['b']);
    assert.deepEqual(events(r.plan), ['service.scheduled zigbee/0 ->b']);
  });

  it('moves a replica off a node that checked and lacks the device, not off one that has not checked yet', () => {
    const nodes = [node('a'), node('pi', { devices: { '/dev/ttyUSB0': true } })];
    // a service just updated to ask for the device: node a has not looked for it yet
    const w = world({ nodes, services: [zigbee()], assignments: { zigbee: record('zigbee', on('a')) } });
    const stay = run(w);
    assert.deepEqual(where(stay.w, 'zigbee'), ['a'], 'an unchecked device is no reason to move');
    assert.deepEqual(events(stay.plan), []);
    const r = run({ ...w, nodes: [node('a', { devices: { '/dev/ttyUSB0': false } }), nodes[1]!] });
    assert.deepEqual(where(r.w, 'zigbee'), ['pi']);
    assert.deepEqual(events(r.plan), ['service.moved zigbee/0 a>pi (node a has no device /dev/ttyUSB0)']);
    // unplugged and nowhere else: it waits, saying both
    const gone = run({ ...w, nodes: [node('a', { devices: { '/dev/ttyUSB0': false } })] });
    assert.deepEqual(events(gone.plan), ['service.moved zigbee/0 a>null (node a has no device /dev/ttyUSB0; no alive node has device /dev/ttyUSB0)']);
  });
});

// ------------------------------------------------------------------ host-network ports

describe('planSchedule: host-network ports', () => {
  const host = (name: string, ports: string[], extra: Partial<ServiceSpec> = {}) => svc(name, { options: { hostNetwork: true, hostPorts: ports }, ...extra });

  it('never places two replicas holding one node port on a node; other services are not held back', () => {
    const nodes = [node('a'), node('b')];
    const r = run(world({ nodes, services: [host('ha', ['8123/tcp'], { replicas: 3 }), host('other', ['8123/tcp', '53/udp']), host('free', ['9000/tcp']), svc('web', { replicas: 2 })] }));
    const [h0, h1, h2] = where(r.w, 'ha');
    assert.notEqual(h0, h1);
    assert.equal(h2, null);
    assert.equal(slot(r.w, 'ha', 2).reason, 'no alive node has port 8123/tcp free (network_mode: host; another host-network replica listens there)');
    assert.deepEqual(where(r.w, 'other'), [null]);
    assert.equal(slot(r.w, 'other', 0).reason, 'no alive node has ports 8123/tcp, 53/udp free (network_mode: host; another host-network replica listens there)');
    assert.equal(where(r.w, 'free').length, 1);
    assert.notEqual(where(r.w, 'free')[0], null);
    assert.deepEqual(where(r.w, 'web').sort(), ['a', 'b']);
    // a third node: the waiting replica goes there
    const more = run({ ...r.w, nodes: [...nodes, node('c')] });
    assert.deepEqual(where(more.w, 'ha').filter((n) => n === 'c').length + where(more.w, 'other').filter((n) => n === 'c').length, 1);
  });

  it('a replica that moves frees its port on the node it left, and a dead node holds none', () => {
    const nodes = [node('a'), node('b')];
    const w = world({ nodes, services: [host('ha', ['8123/tcp']), host('hb', ['8123/tcp'])], assignments: { ha: record('ha', on('a')), hb: record('hb', on('b')) } });
    assert.deepEqual(events(run(w).plan), []);
    const r = run({ ...w, nodes: [node('a', { state: 'dead' }), nodes[1]!] });
    assert.deepEqual(where(r.w, 'ha'), [null], 'b is held by hb');
    assert.match(slot(r.w, 'ha', 0).reason!, /^no alive node has port 8123\/tcp free/);
    const back = run({ ...r.w, nodes: [node('a'), nodes[1]!] });
    assert.deepEqual(where(back.w, 'ha'), ['a']);
  });
});

// ------------------------------------------------------------------ scaling and removal

describe('planSchedule: stacks', () => {
  it("places a stack's services together, away from nothing else, and moves them together", () => {
    const nodes = [node('a'), node('b'), node('c')];
    const services = [svc('other'), svc('shop-cache', { stack: 'shop' }), svc('shop-db', { stack: 'shop' }), svc('shop-web', { stack: 'shop', replicas: 2 }), svc('solo')];
    let r = run(world({ nodes, services }));
    const shopNode = where(r.w, 'shop-cache')[0];
    assert.notEqual(shopNode, where(r.w, 'other')[0], 'the first service of the stack still goes to the least-loaded node');
    for (const name of ['shop-db', 'shop-web']) assert.ok(where(r.w, name).every((n) => n === shopNode), `${name} with the rest of its stack`);
    assert.notEqual(where(r.w, 'solo')[0], shopNode, 'services outside the stack are spread as before');
    r = run({ ...r.w, nodes: nodes.map((n) => (n.name === shopNode ? { ...n, state: 'dead' as const } : n)) });
    const moved = where(r.w, 'shop-cache')[0];
    assert.notEqual(moved, shopNode);
    for (const name of ['shop-db', 'shop-web']) assert.ok(where(r.w, name).every((n) => n === moved), `${name} moved with its stack`);
  });
});

describe('planSchedule: scale and removal', () => {
  const nodes = [node('a'), node('b'), node('c')];

  it('scales up by adding slots and down by dropping the highest', () => {
    const w = world({ nodes, services: [svc('web', { replicas: 3 })], assignments: { web: record('web', on('a')) } });
    let r = run(w);
    assert.deepEqual(where(r.w, 'web'), ['a', 'b', 'c']);
    assert.equal(slot(r.w, 'web', 0).since, 0, 'the existing slot is untouched');
    assert.deepEqual(events(r.plan), ['service.scheduled web/1 ->b', 'service.scheduled web/2 ->c']);
    r = run({ ...r.w, services: [svc('web', { replicas: 1 })] });
    assert.deepEqual(where(r.w, 'web'), ['a']);
    assert.deepEqual(r.plan.events, []);
  });

  it('replicas 0 is a record without slots', () => {
    const r = run(world({ nodes, services: [svc('web', { replicas: 0 })], assignments: { web: record('web', on('a', 'b')) } }));
    assert.deepEqual(r.w.assignments.web!.slots, []);
    assert.deepEqual(Object.keys(r.w.assignments.web!.specs), ['1']);
    assert.deepEqual(run(world({ nodes, services: [svc('new', { replicas: 0 })] })).plan.writes, [{ service: 'new', record: { service: 'new', specs: { 1: record('new', []).specs['1']! }, slots: [] } }]);
  });

  it('a removed service loses its record', () => {
    const r = run(world({ nodes, services: [], assignments: { web: record('web', on('a')), gone: undefined } }));
    assert.deepEqual(r.plan, { writes: [{ service: 'web', record: null }], events: [] });
  });
});

// ------------------------------------------------------------------ node liveness

describe('planSchedule: node liveness', () => {
  it('moves replicas off dead, left and removed nodes, with events', () => {
    const nodes = [node('a', { state: 'dead' }), node('b', { state: 'left' }), node('d')];
    const services = [svc('x'), svc('y'), svc('z')];
    const assignments = { x: record('x', on('a')), y: record('y', on('b')), z: record('z', on('c')) };
    const r = run(world({ nodes, services, assignments }));
    assert.deepEqual(events(r.plan), [
      'service.moved x/0 a>d (node a is dead)',
      'service.moved y/0 b>d (node b left)',
      'service.moved z/0 c>d (node n-c was removed)',
    ]);
    assert.deepEqual(r.plan.events[0]!.payload, { service: 'x', slot: 0, node: 'n-d', nodeName: 'd', from: 'n-a', fromName: 'a', reason: 'node a is dead' });
    assert.deepEqual(slot(r.w, 'x', 0), { index: 0, nodeId: 'n-d', generation: 1, since: NOW, reason: 'node a is dead' });
  });

  it('a replica with nowhere to go is unplaced, said once, and placed when a node comes back', () => {
    const w = world({ nodes: [node('a', { state: 'dead' })], services: [svc('web')], assignments: { web: record('web', on('a')) } });
    let r = run(w);
    assert.deepEqual(events(r.plan), ['service.moved web/0 a>null (node a is dead; no alive node)']);
    assert.deepEqual(slot(r.w, 'web', 0), { index: 0, nodeId: null, generation: 1, since: NOW, reason: 'no alive node' });
    r = run({ ...r.w, nodes: [node('a')] });
    assert.deepEqual(events(r.plan), ['service.scheduled web/0 ->a']);
    assert.equal(slot(r.w, 'web', 0).reason, undefined);
  });

  it('suspect and not-yet-heard nodes keep their replicas but get no new ones', () => {
    const nodes = [node('a', { state: 'suspect' }), node('b', { state: 'unknown' }), node('c')];
    const assignments = { x: record('x', on('a')), y: record('y', on('b')) };
    const r = run(world({ nodes, services: [svc('x'), svc('y'), svc('z', { replicas: 2 })], assignments }));
    assert.deepEqual(r.plan.writes.map((w) => w.service), ['z']);
    assert.deepEqual(where(r.w, 'z'), ['c', 'c']);
  });

  it('a restarting node keeps its replicas, even those not running now, and gets no new ones', () => {
    const nodes = [node('a', { state: 'restarting' }), node('c')];
    // a restarting node stopped its containers: no status says running
    const assignments = { x: record('x', on('a')) };
    const r = run(world({ nodes, services: [svc('x'), svc('z', { replicas: 2 })], assignments }));
    assert.deepEqual(r.plan.writes.map((w) => w.service), ['z']);
    assert.deepEqual(where(r.w, 'x'), ['a']);
    assert.deepEqual(where(r.w, 'z'), ['c', 'c']);
    // the hold runs out: the node reads dead and its replica moves
    const after = run({ ...r.w, nodes: [node('a', { state: 'dead' }), node('c')] });
    assert.deepEqual(events(after.plan), ['service.moved x/0 a>c (node a is dead)']);
  });
});

// ------------------------------------------------------------------ drain

describe('planSchedule: draining nodes', () => {
  const nodes = [node('a', { draining: true }), node('b', { draining: true }), node('c'), node('d')];

  it('moves one replica at a time, only while every other replica runs', () => {
    let w = world({ nodes, services: [svc('web', { replicas: 2 })], assignments: { web: record('web', on('a', 'b')) } });
    let r = run(w);
    assert.deepEqual(r.plan.writes, [], 'nothing runs yet: nothing leaves');
    r = run(allRunning(w));
    assert.deepEqual(events(r.plan), ['service.moved web/0 a>c (node a is draining)']);
    w = { ...r.w, statuses: allRunning(w).statuses };
    r = run(w);
    assert.deepEqual(r.plan.writes, [], 'the moved replica does not run yet');
    r = run(allRunning(r.w));
    assert.deepEqual(events(r.plan), ['service.moved web/1 b>d (node b is draining)']);
    assert.deepEqual(where(r.w, 'web'), ['c', 'd']);
  });

  it('takes the next step in the same plan when a report already shows the moved replica running', () => {
    // c still reports slot 0 from an earlier stay (it kept the container): planning again would move slot 1 next
    const statuses = [status('web', 0, 'n-c', 1), status('web', 1, 'n-b', 1)];
    const r = run(world({ nodes, services: [svc('web', { replicas: 2 })], assignments: { web: record('web', on('a', 'b')) }, statuses }));
    assert.deepEqual(events(r.plan), ['service.moved web/0 a>c (node a is draining)', 'service.moved web/1 b>d (node b is draining)']);
  });

  it('a single replica leaves at once; one that cannot leave stays, saying why', () => {
    let r = run(world({ nodes, services: [svc('one')], assignments: { one: record('one', on('a')) } }));
    assert.deepEqual(where(r.w, 'one'), ['c']);
    const stuck = world({ nodes: [node('a', { draining: true })], services: [svc('one')], assignments: { one: record('one', on('a')) } });
    r = run(stuck);
    assert.deepEqual(where(r.w, 'one'), ['a']);
    assert.equal(slot(r.w, 'one', 0).reason, 'stays on draining node a: every alive node is draining');
    assert.deepEqual(r.plan.events, []);
    r = run({ ...r.w, nodes: [node('a')] });
    assert.deepEqual(slot(r.w, 'one', 0), { index: 0, nodeId: 'n-a', generation: 1, since: 0 });
  });
});

// ------------------------------------------------------------------ image failures

describe('planSchedule: image failures', () => {
  const nodes = [node('a'), node('b'), node('c')];
  const failed = (w: ScheduleInput, name: string, gen = 1) => ({
    ...w,
    statuses: [status('web', 0, `n-${name}`, gen, 'failed', { failure: 'image' })],
  });

  it('tries other nodes, then stays where it is rather than ping-pong', () => {
    let r = run(failed(world({ nodes, services: [svc('web')], assignments: { web: record('web', on('a')) } }), 'a'));
    assert.deepEqual(events(r.plan), ['service.moved web/0 a>b (image web:1 not available on a)']);
    assert.deepEqual(slot(r.w, 'web', 0).avoid, ['n-a']);
    r = run(failed(r.w, 'b'));
    assert.deepEqual(where(r.w, 'web'), ['c']);
    r = run(failed(r.w, 'c'));
    assert.deepEqual(where(r.w, 'web'), ['c'], 'nowhere left: it stays');
    assert.deepEqual(slot(r.w, 'web', 0).avoid, ['n-a', 'n-b', 'n-c']);
    assert.deepEqual(r.plan.events, []);
    // a new image may be pullable: the update clears avoid
    r = run({ ...r.w, services: [svc('web', { generation: 2, image: 'web:2' })] });
    assert.deepEqual(slot(r.w, 'web', 0), { index: 0, nodeId: 'n-c', generation: 2, since: r.w.now - 250, reason: 'image web:1 not available on b' });
    assert.deepEqual(Object.keys(r.w.assignments.web!.specs), ['2']);
  });

  it('ignores failures reported for another node or generation, and other kinds of failure', () => {
    const w = world({ nodes, services: [svc('web')], assignments: { web: record('web', on('a')) } });
    for (const st of [status('web', 0, 'n-b', 1, 'failed', { failure: 'image' }), status('web', 0, 'n-a', 0, 'failed', { failure: 'image' }), status('web', 0, 'n-a', 1, 'failed', { failure: 'crash' })]) {
      assert.deepEqual(planSchedule({ ...w, statuses: [st] }).writes, []);
    }
  });
});

// ------------------------------------------------------------------ rolling update

describe('planSchedule: rolling update', () => {
  const nodes = [node('a'), node('b'), node('c')];
  const v1 = svc('web', { replicas: 3 });
  const v2 = svc('web', { replicas: 3, generation: 2, image: 'web:2' });

  it('updates one replica at a time, in place, once the updated ones run', () => {
    let w: ScheduleInput = allRunning(world({ nodes, services: [v2], assignments: { web: record('web', on('a', 'b', 'c'), [v1]) } }));
    const gens = () => w.assignments.web!.slots.map((s) => s.generation);
    for (const expected of [[2, 1, 1], [2, 2, 1], [2, 2, 2]]) {
      let r = run(w);
      assert.deepEqual(r.plan.events, [], 'a generation bump is no event');
      w = r.w;
      assert.deepEqual(gens(), expected);
      assert.deepEqual(where(w, 'web'), ['a', 'b', 'c']);
      r = run(w); // statuses lag: the updated replica does not run yet
      assert.deepEqual(r.plan.writes, []);
      w = allRunning(w);
    }
    assert.deepEqual(Object.keys(w.assignments.web!.specs), ['2']);
    assert.equal(w.assignments.web!.specs['2']!.image, 'web:2');
    assert.equal(slot(w, 'web', 2).since, NOW + 500);
  });

  it('a broken old replica goes first', () => {
    const statuses = [status('web', 0, 'n-a', 1), status('web', 1, 'n-b', 1, 'exited'), status('web', 2, 'n-c', 1)];
    const r = run(world({ nodes, services: [v2], assignments: { web: record('web', on('a', 'b', 'c'), [v1]) }, statuses }));
    assert.deepEqual(r.w.assignments.web!.slots.map((s) => s.generation), [1, 2, 1]);
  });

  it('moved and new replicas take the current generation at once, and hold the update until they run', () => {
    const statuses = [status('web', 0, 'n-a', 1), status('web', 1, 'n-b', 1)];
    const assignments = { web: record('web', [...on('a', 'b'), { nodeId: 'n-dead' }], [v1]) };
    let r = run(world({ nodes, services: [{ ...v2, replicas: 4 }], assignments, statuses }));
    assert.deepEqual(r.w.assignments.web!.slots.map((s) => s.generation), [1, 1, 2, 2]);
    assert.deepEqual(where(r.w, 'web'), ['a', 'b', 'c', 'a']);
    assert.deepEqual(Object.keys(r.w.assignments.web!.specs), ['1', '2']);
    r = run(allRunning(r.w));
    assert.deepEqual(r.w.assignments.web!.slots.map((s) => s.generation), [2, 1, 2, 2]);
  });
});

// ------------------------------------------------------------------ determinism

describe('planSchedule: determinism', () => {
  it('writes nothing for a settled cluster, and sorts slots it does write', () => {
    const nodes = [node('a'), node('b')];
    const { w } = run(world({ nodes, services: [svc('web', { replicas: 2 })] }));
    const reordered = { ...w.assignments.web!, slots: [...w.assignments.web!.slots].reverse() };
    const shuffled = Object.fromEntries(Object.entries(w.assignments.web!).reverse()) as unknown as AssignmentRecord;
    assert.deepEqual(planSchedule({ ...w, assignments: { web: shuffled } }).writes, [], 'key order does not matter');
    assert.deepEqual(planSchedule({ ...w, assignments: { web: reordered } }).writes, [{ service: 'web', record: w.assignments.web! }]);
    assert.deepEqual(planSchedule(w), planSchedule(structuredClone(w)));
  });
});
