/**
 * The proxy's choice of address per replica: a replica on this node at its container's own
 * address (container IP : container port), only while that address is known to be current;
 * everything else at node address : published port.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { AssignmentRecord, ReplicaStatus } from '../../src/core/service-types.ts';
import type { MemberView } from '../../src/core/views.ts';
import type { Catalog } from '../../src/runtime/catalog.ts';
import { ContainerAddresses, directAddress, type ListedContainer } from '../../src/runtime/container-addresses.ts';
import { backendFor, type LocalContainers } from '../../src/routing/backend-choice.ts';
import { RouteTable } from '../../src/routing/route-table.ts';

const SELF = 'node-self';
const OTHER = 'node-other';

function status(over: Partial<ReplicaStatus> = {}): ReplicaStatus {
  return {
    service: 'web',
    slot: 0,
    nodeId: SELF,
    generation: 1,
    state: 'running',
    addr: '192.168.1.10',
    ports: [{ container: 8080, protocol: 'tcp', hostPort: 32768 }],
    containerId: 'c1',
    restarts: 0,
    updatedAt: 0,
    ...over,
  };
}

const localWith = (addrs: Record<string, string>): LocalContainers => ({
  nodeId: SELF,
  address: (id) => (addrs[id] ? { ip: addrs[id]!, epoch: 7 } : undefined),
});

/** ContainerAddresses following a stand-in Docker event stream. */
function following(): { addresses: ContainerAddresses; events: PassThrough; send: (action: string, id: string) => void } {
  const addresses = new ContainerAddresses();
  const events = new PassThrough();
  addresses.follow(events);
  const send = (action: string, id: string) => void events.write(JSON.stringify({ status: action, id, Type: 'container', Action: action, Actor: { ID: id } }) + '\n');
  return { addresses, events, send };
}

const running = (id: string, ip?: string): ListedContainer => ({ id, state: 'running', ...(ip ? { ip } : {}) });
const tick = () => new Promise((r) => setImmediate(r));

describe('backendFor: local container address or published port', () => {
  it('a replica on this node with a known container address: container IP and the container port', () => {
    const b = backendFor(status(), localWith({ c1: '172.17.0.5' }));
    assert.deepEqual(b, { host: '172.17.0.5', port: 8080, nodeId: SELF, slot: 0, container: { id: 'c1', epoch: 7 } });
  });

  it('a replica on this node whose container address is unknown: the published port', () => {
    assert.deepEqual(backendFor(status(), localWith({})), { host: '192.168.1.10', port: 32768, nodeId: SELF, slot: 0 });
    // the address known is another container's (the status names the replica's container)
    assert.equal(backendFor(status({ containerId: 'c2' }), localWith({ c1: '172.17.0.5' }))!.port, 32768);
    // no container id in the report
    assert.equal(backendFor(status({ containerId: undefined }), localWith({ c1: '172.17.0.5' }))!.host, '192.168.1.10');
  });

  it('a replica on another node: its node address and published port, whatever this node knows', () => {
    const b = backendFor(status({ nodeId: OTHER, addr: '192.168.1.11' }), localWith({ c1: '172.17.0.5' }));
    assert.deepEqual(b, { host: '192.168.1.11', port: 32768, nodeId: OTHER, slot: 0 });
  });

  it('without local knowledge (no fast path), always the published port', () => {
    assert.equal(backendFor(status(), undefined)!.port, 32768);
  });

  it('the first published TCP port is the HTTP port; none: no backend', () => {
    const ports: ReplicaStatus['ports'] = [
      { container: 53, protocol: 'udp', hostPort: 40000 },
      { container: 80, protocol: 'tcp', hostPort: 40001 },
      { container: 443, protocol: 'tcp', hostPort: 40002 },
    ];
    assert.equal(backendFor(status({ ports }), localWith({ c1: '172.17.0.5' }))!.port, 80);
    assert.equal(backendFor(status({ ports }), localWith({}))!.port, 40001);
    assert.equal(backendFor(status({ ports: [{ container: 53, protocol: 'udp', hostPort: 40000 }] }), localWith({ c1: '172.17.0.5' })), undefined);
  });

  it("the service's declared HTTP port wins over a port the container publishes besides (its image's EXPOSE)", () => {
    const ports: ReplicaStatus['ports'] = [
      { container: 443, protocol: 'tcp', hostPort: 40002 },
      { container: 8080, protocol: 'tcp', hostPort: 40003 },
    ];
    assert.equal(backendFor(status({ ports }), localWith({ c1: '172.17.0.5' }), 8080)!.port, 8080);
    assert.equal(backendFor(status({ ports }), localWith({}), 8080)!.port, 40003);
    assert.equal(backendFor(status({ ports }), localWith({}), 9999)!.port, 40002, 'a declared port not published: the first TCP one');
  });
});

describe('directAddress: which Docker networks this host reaches directly', () => {
  const host = new Set(['127.0.0.1', '192.168.1.10', '172.17.0.1', '172.18.0.1']);

  it('the default bridge: its IPv4 address (its gateway is docker0 on this host)', () => {
    assert.equal(directAddress({ mode: 'default', networks: { bridge: { IPAddress: '172.17.0.5', Gateway: '172.17.0.1' } } }, host), '172.17.0.5');
  });

  it('network mode host, none, or another container\'s: none (published port as before)', () => {
    assert.equal(directAddress({ mode: 'host', networks: { host: { IPAddress: '', Gateway: '' } } }, host), undefined);
    assert.equal(directAddress({ mode: 'none', networks: { none: { IPAddress: '', Gateway: '' } } }, host), undefined);
    assert.equal(directAddress({ mode: 'container:abc', networks: {} }, host), undefined);
    assert.equal(directAddress({ mode: 'default' }, host), undefined);
  });

  it('IPv6-only (no IPv4 address): none', () => {
    assert.equal(directAddress({ networks: { v6: { IPAddress: '', Gateway: '' } } }, host), undefined);
  });

  it('a gateway that is not an address of this host (rootless Docker\'s namespace, a remote engine): none', () => {
    assert.equal(directAddress({ networks: { bridge: { IPAddress: '10.0.2.100', Gateway: '10.0.2.2' } } }, host), undefined);
  });

  it('several networks: the default bridge first, then by name; unreachable ones skipped', () => {
    const networks = {
      zeta: { IPAddress: '172.18.0.3', Gateway: '172.18.0.1' },
      bridge: { IPAddress: '172.17.0.9', Gateway: '172.17.0.1' },
      alpha: { IPAddress: '10.9.0.3', Gateway: '10.9.0.1' },
    };
    assert.equal(directAddress({ networks }, host), '172.17.0.9');
    const { bridge: _, ...others } = networks;
    assert.equal(directAddress({ networks: others }, host), '172.18.0.3', 'alpha\'s gateway is not on this host');
  });
});

describe('ContainerAddresses: never a stale address', () => {
  it('nothing is handed out until Docker\'s event stream is followed', () => {
    const a = new ContainerAddresses();
    a.observe([running('c1', '172.17.0.5')], a.mark());
    assert.equal(a.get('c1'), undefined);
  });

  it('a listing adds running containers with an address; not running or no address: none', () => {
    const { addresses: a } = following();
    a.observe([running('c1', '172.17.0.5'), running('c2'), { id: 'c3', state: 'exited', ip: '172.17.0.7' }, { id: 'c4', state: 'paused', ip: '172.17.0.8' }], a.mark());
    assert.equal(a.get('c1')?.ip, '172.17.0.5');
    assert.equal(a.get('c2'), undefined);
    assert.equal(a.get('c3'), undefined);
    assert.equal(a.get('c4'), undefined);
  });

  it('a die event drops the address at once (before any listing), and says so', async () => {
    const { addresses: a, send } = following();
    a.observe([running('c1', '172.17.0.5')], a.mark());
    let changes = 0;
    a.on('change', () => changes++);
    send('die', 'c1');
    await tick();
    assert.equal(a.get('c1'), undefined);
    assert.equal(changes, 1);
    for (const action of ['stop', 'pause', 'destroy']) {
      send('start', 'c1');
      await tick();
      a.observe([running('c1', '172.17.0.5')], a.mark());
      assert.ok(a.get('c1'));
      send(action, 'c1');
      await tick();
      assert.equal(a.get('c1'), undefined, action);
    }
    // other events (start, kill with a harmless signal, exec...) drop nothing
    send('start', 'c1');
    await tick();
    a.observe([running('c1', '172.17.0.5')], a.mark());
    assert.equal(a.get('c1')?.ip, '172.17.0.5');
    send('start', 'c1');
    send('kill', 'c1');
    send('exec_start: sh', 'c1');
    await tick();
    assert.equal(a.get('c1')?.ip, '172.17.0.5');
  });

  it('a listing that started before a die event cannot bring the dead container back', async () => {
    const { addresses: a, send } = following();
    a.observe([running('c1', '172.17.0.5')], a.mark());
    const mark = a.mark(); // the reconciler starts listing...
    send('die', 'c1'); // ...the container dies meanwhile...
    await tick();
    a.observe([running('c1', '172.17.0.5')], mark); // ...and the listing still shows it running
    assert.equal(a.get('c1'), undefined);
  });

  it('Docker\'s list lagging its die event: not believed (and reported as lagging) until it shows the container stopped, or a listing started after its start event', async () => {
    const { addresses: a, send } = following();
    a.observe([running('c1', '172.17.0.5')], a.mark());
    send('die', 'c1');
    await tick();
    a.observe([running('c1', '172.17.0.5')], a.mark()); // started after the event, still "running"
    assert.equal(a.get('c1'), undefined);
    assert.equal(a.lagging, true, 'the reconciler lists again soon');
    a.observe([{ id: 'c1', state: 'exited', ip: '172.17.0.5' }], a.mark());
    assert.equal(a.lagging, false, 'caught up');
    a.observe([running('c1', '172.17.0.6')], a.mark()); // restarted, at another address
    assert.equal(a.get('c1')?.ip, '172.17.0.6');
    // or: restarted before any listing showed it stopped
    send('die', 'c1');
    await tick();
    const before = a.mark();
    send('start', 'c1');
    await tick();
    a.observe([running('c1', '172.17.0.7')], before);
    assert.equal(a.get('c1'), undefined, 'listing started before the start event');
    a.observe([running('c1', '172.17.0.7')], a.mark());
    assert.equal(a.get('c1')?.ip, '172.17.0.7');
    assert.equal(a.lagging, false);
    // a container gone from the listing altogether is forgotten
    send('destroy', 'c1');
    await tick();
    a.observe([], a.mark());
    assert.equal(a.lagging, false);
  });

  it('a restart at a new address, or a replacement container, gives a new epoch; a vanished container is dropped', () => {
    const { addresses: a } = following();
    a.observe([running('c1', '172.17.0.5')], a.mark());
    const e1 = a.get('c1')!.epoch;
    a.observe([running('c1', '172.17.0.5')], a.mark());
    assert.equal(a.get('c1')!.epoch, e1, 'unchanged');
    a.observe([running('c1', '172.17.0.6')], a.mark());
    assert.notEqual(a.get('c1')!.epoch, e1);
    a.observe([running('c2', '172.17.0.6')], a.mark());
    assert.equal(a.get('c1'), undefined);
    assert.equal(a.get('c2')?.ip, '172.17.0.6');
  });

  it('an unreachable address is passed over while the container runs at it; a restart or a new address lifts that; reports of an old epoch are ignored', async () => {
    const { addresses: a, send } = following();
    a.observe([running('c1', '172.17.0.5')], a.mark());
    const e1 = a.get('c1')!.epoch;
    a.unreachable('c1', e1 + 100);
    assert.ok(a.get('c1'), 'another epoch: ignored');
    a.unreachable('c1', e1);
    assert.equal(a.get('c1'), undefined);
    a.observe([running('c1', '172.17.0.5')], a.mark());
    assert.equal(a.get('c1'), undefined, 'still running at the address that failed');
    a.observe([running('c1', '172.17.0.9')], a.mark());
    assert.equal(a.get('c1')?.ip, '172.17.0.9', 'a new address is tried');
    a.unreachable('c1', a.get('c1')!.epoch);
    send('die', 'c1');
    send('start', 'c1');
    await tick();
    a.observe([running('c1', '172.17.0.9')], a.mark());
    assert.equal(a.get('c1')?.ip, '172.17.0.9', 'restarted: tried again');
  });

  it('the event stream ending drops everything, and listings are not trusted until it is followed again', () => {
    const { addresses: a, events } = following();
    a.observe([running('c1', '172.17.0.5')], a.mark());
    events.end();
    events.resume();
    return new Promise<void>((resolve) => events.on('end', () => {
      assert.equal(a.get('c1'), undefined);
      a.observe([running('c1', '172.17.0.5')], a.mark());
      assert.equal(a.get('c1'), undefined);
      a.follow(new PassThrough());
      a.observe([running('c1', '172.17.0.5')], a.mark());
      assert.equal(a.get('c1')?.ip, '172.17.0.5');
      resolve();
    }));
  });

  it('events split across chunks, several per chunk, and garbage lines are all handled', async () => {
    const { addresses: a, events } = following();
    a.observe([running('c1', '172.17.0.5'), running('c2', '172.17.0.6')], a.mark());
    const line = (id: string) => JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: id } }) + '\n';
    const both = line('c1') + 'not json\n' + line('c2');
    events.write(both.slice(0, 20));
    await tick();
    assert.ok(a.get('c1'), 'half an event does nothing');
    events.write(both.slice(20));
    await tick();
    assert.equal(a.get('c1'), undefined);
    assert.equal(a.get('c2'), undefined);
  });
});

describe('RouteTable: the choice follows the container addresses', () => {
  class FakeCatalog extends EventEmitter {
    statuses = new Map<string, ReplicaStatus>();
    record: AssignmentRecord = {
      service: 'web',
      specs: {},
      slots: [
        { index: 0, nodeId: SELF, generation: 1, since: 0 },
        { index: 1, nodeId: OTHER, generation: 1, since: 0 },
      ],
    };
    assignment(name: string) {
      return name === 'web' ? this.record : undefined;
    }
    status(service: string, slot: number) {
      return this.statuses.get(`${service}/${slot}`);
    }
    specs: { name: string; stack?: string; ports?: { container: number; protocol: 'tcp' | 'udp'; published?: number }[] }[] = [{ name: 'web' }];
    service(name: string) {
      return this.specs.find((s) => s.name === name);
    }
    services() {
      return this.specs.map((s) => ({ ports: [], ...s }));
    }
  }
  let otherState: MemberView['state'] = 'alive';
  const members = (): MemberView[] => [
    { id: SELF, name: 'a', addr: '192.168.1.10', state: 'alive', role: 'voter', lastHeardMs: 0, self: true },
    { id: OTHER, name: 'b', addr: '192.168.1.11', state: otherState, role: 'voter', lastHeardMs: 0, self: false },
  ];

  function table() {
    const catalog = new FakeCatalog();
    catalog.statuses.set('web/0', status());
    catalog.statuses.set('web/1', status({ slot: 1, nodeId: OTHER, addr: '192.168.1.11', containerId: 'c1', ports: [{ container: 8080, protocol: 'tcp', hostPort: 32999 }] }));
    const { addresses, send } = following();
    const routes = new RouteTable(catalog as unknown as Catalog, members, { nodeId: SELF, addresses });
    const where = () => routes.backends('web').map((b) => `${b.host}:${b.port}`);
    return { catalog, addresses, send, routes, where };
  }

  it('local replica: published port until its address is known, then the container address; the die event switches back at once', async () => {
    const { addresses, send, where } = table();
    assert.deepEqual(where(), ['192.168.1.10:32768', '192.168.1.11:32999']);
    addresses.observe([running('c1', '172.17.0.5')], addresses.mark());
    assert.deepEqual(where(), ['172.17.0.5:8080', '192.168.1.11:32999'], 'the other node\'s replica (same container id by chance) stays published');
    send('die', 'c1');
    await tick();
    assert.deepEqual(where(), ['192.168.1.10:32768', '192.168.1.11:32999']);
    addresses.observe([running('c1', '172.17.0.5')], addresses.mark());
    assert.deepEqual(where(), ['192.168.1.10:32768', '192.168.1.11:32999'], 'a listing lagging the die event changes nothing');
    send('start', 'c1');
    await tick();
    addresses.observe([running('c1', '172.17.0.8')], addresses.mark());
    assert.deepEqual(where(), ['172.17.0.8:8080', '192.168.1.11:32999'], 'restarted at a new address');
  });

  it("a stack's name routes to its web service (unless a service has that name), in the proxy, its 404 list and DNS", () => {
    const { catalog, routes, where } = table();
    catalog.specs = [{ name: 'web', stack: 'shop', ports: [{ container: 8080, protocol: 'tcp', published: 8080 }] }, { name: 'shop-db', stack: 'shop', ports: [{ container: 5432, protocol: 'tcp' }] }];
    catalog.emit('change');
    assert.deepEqual(routes.backends('shop').map((b) => `${b.host}:${b.port}`), where());
    assert.equal(routes.hasService('shop'), true);
    assert.deepEqual(routes.services(), ['web', 'shop-db', 'shop']);
    assert.deepEqual(routes.zone('warren.internal').serviceAddrs('shop'), ['192.168.1.10', '192.168.1.11']);
    assert.equal(routes.hasService('blog'), false);
    assert.equal(routes.zone('warren.internal').serviceAddrs('blog'), undefined);
    // a service of that very name wins (it has no replica here)
    catalog.specs = [...catalog.specs, { name: 'shop' }];
    catalog.emit('change');
    assert.deepEqual(routes.backends('shop'), []);
    assert.deepEqual(routes.services(), ['web', 'shop-db', 'shop']);
  });

  it('a replica that is not reported running is not routed, whatever its address', () => {
    const { catalog, addresses, where } = table();
    addresses.observe([running('c1', '172.17.0.5')], addresses.mark());
    catalog.statuses.set('web/0', status({ state: 'failed' }));
    catalog.emit('change');
    assert.deepEqual(where(), ['192.168.1.11:32999']);
  });

  it('a node that runs no replicas (restarting, dead, left) is not routed to, though its replica stays assigned and reported running', () => {
    for (const state of ['restarting', 'dead', 'left', 'suspect'] as const) {
      otherState = state;
      const { where } = table();
      assert.deepEqual(where(), state === 'suspect' ? ['192.168.1.10:32768', '192.168.1.11:32999'] : ['192.168.1.10:32768'], state);
    }
    otherState = 'alive';
  });

  it('the proxy reporting a container address unreachable: the published port from then on', () => {
    const { addresses, routes, where } = table();
    addresses.observe([running('c1', '172.17.0.5')], addresses.mark());
    const direct = routes.backends('web')[0]!;
    assert.ok(direct.container);
    routes.unreachable(direct);
    assert.deepEqual(where(), ['192.168.1.10:32768', '192.168.1.11:32999']);
    routes.unreachable(routes.backends('web')[1]!); // a published backend: nothing to do
    assert.deepEqual(where(), ['192.168.1.10:32768', '192.168.1.11:32999']);
  });
});
