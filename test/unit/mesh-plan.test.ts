import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardKey, planForwards, type MeshInput, type MeshReplica, type MeshService } from '../../src/core/mesh/forward-plan.ts';
import { allocateNameAddrs, ipv4ToInt, nameTable, topAddresses } from '../../src/core/mesh/name-addrs.ts';
import { hostNetworkPorts } from '../../src/runtime/mesh-container.ts';
import { prng } from '../helpers/prng.ts';

const A = { id: 'node-a', addr: '10.0.0.1' };
const B_ADDR = '10.0.0.2';

const web: MeshService = { name: 'shop-web', stack: 'shop', ports: [{ container: 80, protocol: 'tcp', published: 8080 }] };
const dns: MeshService = { name: 'shop-dns', stack: 'shop', ports: [{ container: 53, protocol: 'udp', published: 53 }] };

test('a published port is forwarded on this node to a replica on another node, at its host port there (its guard), connecting from this node\'s address (node)', () => {
  const plan = planForwards({ self: A, services: [web], replicas: [{ service: 'shop-web', nodeId: 'node-b', addr: B_ADDR, ports: [{ container: 80, protocol: 'tcp', hostPort: 32768 }] }], nameAddrs: new Map() });
  assert.deepEqual(plan.forwards, [{ protocol: 'tcp', ip: A.addr, port: 8080, service: 'shop-web', kind: 'published', targets: [{ host: B_ADDR, port: 32768, nodeId: 'node-b', node: true }] }]);
  assert.deepEqual(plan.problems, []);
});

test('a local replica is reached at its container IP and container port, before remote ones', () => {
  const replicas: MeshReplica[] = [
    { service: 'shop-web', nodeId: 'node-b', addr: B_ADDR, ports: [{ container: 80, protocol: 'tcp', hostPort: 40000 }] },
    { service: 'shop-web', nodeId: A.id, addr: A.addr, containerIp: '172.18.0.5', ports: [{ container: 80, protocol: 'tcp', hostPort: 40001 }] },
  ];
  const [f] = planForwards({ self: A, services: [web], replicas, nameAddrs: new Map() }).forwards;
  assert.deepEqual(f!.targets, [
    { host: '172.18.0.5', port: 80, nodeId: A.id },
    { host: B_ADDR, port: 40000, nodeId: 'node-b', node: true },
  ]);
});

test('a local replica without a known container IP is reached at its host port', () => {
  const [f] = planForwards({ self: A, services: [web], replicas: [{ service: 'shop-web', nodeId: A.id, addr: A.addr, ports: [{ container: 80, protocol: 'tcp', hostPort: 40001 }] }], nameAddrs: new Map() }).forwards;
  assert.deepEqual(f!.targets, [{ host: A.addr, port: 40001, nodeId: A.id, node: true }]);
});

test('UDP ports are forwarded as UDP; a port of the wrong protocol is not a target', () => {
  const plan = planForwards({ self: A, services: [dns], replicas: [{ service: 'shop-dns', nodeId: 'node-b', addr: B_ADDR, ports: [{ container: 53, protocol: 'tcp', hostPort: 1 }, { container: 53, protocol: 'udp', hostPort: 2 }] }], nameAddrs: new Map() });
  assert.equal(plan.forwards.length, 1);
  assert.equal(plan.forwards[0]!.protocol, 'udp');
  assert.deepEqual(plan.forwards[0]!.targets, [{ host: B_ADDR, port: 2, nodeId: 'node-b', node: true }]);
});

test('a published port with no live replica is still listened on (held, with no target)', () => {
  const plan = planForwards({ self: A, services: [web], replicas: [], nameAddrs: new Map() });
  assert.equal(plan.forwards.length, 1);
  assert.deepEqual(plan.forwards[0]!.targets, []);
});

test('ports with a host IP or without a published port are not meshed', () => {
  const s: MeshService = { name: 'x', ports: [{ container: 80, protocol: 'tcp', published: 8080, hostIp: '127.0.0.1' }, { container: 81, protocol: 'tcp' }] };
  assert.deepEqual(planForwards({ self: A, services: [s], replicas: [], nameAddrs: new Map() }).forwards, []);
});

test('a host port published by two services: the first by name keeps it and the other is reported', () => {
  const other: MeshService = { name: 'zz-web', ports: [{ container: 8000, protocol: 'tcp', published: 8080 }] };
  const plan = planForwards({ self: A, services: [other, web], replicas: [], nameAddrs: new Map() });
  assert.equal(plan.forwards.length, 1);
  assert.equal(plan.forwards[0]!.service, 'shop-web');
  assert.equal(plan.problems.length, 1);
  assert.match(plan.problems[0]!, /zz-web: host port 8080\/tcp is already published by shop-web/);
});

test('a service with a name address here gets a forward for each declared port and each port Docker published (EXPOSE)', () => {
  const db: MeshService = { name: 'shop-db', stack: 'shop', ports: [] };
  const replicas: MeshReplica[] = [{ service: 'shop-db', nodeId: 'node-b', addr: B_ADDR, ports: [{ container: 5432, protocol: 'tcp', hostPort: 33000 }] }];
  const plan = planForwards({ self: A, services: [db, web], replicas, nameAddrs: new Map([['shop-db', '172.18.255.254'], ['shop-web', '172.18.255.253']]) });
  const keys = plan.forwards.map(forwardKey);
  assert.deepEqual(keys, ['tcp/10.0.0.1:8080', 'tcp/172.18.255.253:80', 'tcp/172.18.255.254:5432']);
  const dbf = plan.forwards.find((f) => f.service === 'shop-db')!;
  assert.equal(dbf.kind, 'name');
  assert.deepEqual(dbf.targets, [{ host: B_ADDR, port: 33000, nodeId: 'node-b', node: true }]);
});

test('a host-network service: its name address here forwards each port it holds to its node\'s address at that port, this node\'s replica first', () => {
  const ha: MeshService = { name: 'home-ha', stack: 'home', ports: [] };
  const spec = { options: { hostNetwork: true, hostPorts: ['8123/tcp', '5353/udp'] } };
  const held = hostNetworkPorts(spec)!;
  assert.deepEqual(held, [{ container: 8123, protocol: 'tcp', hostPort: 8123 }, { container: 5353, protocol: 'udp', hostPort: 5353 }]);
  assert.equal(hostNetworkPorts({}), undefined, 'any other container: what Docker lists');
  // no container IP on the host's network: a local replica is reached at its node's address too
  const replicas: MeshReplica[] = [
    { service: 'home-ha', nodeId: 'node-b', addr: B_ADDR, ports: held },
    { service: 'home-ha', nodeId: A.id, addr: A.addr, ports: held },
  ];
  const plan = planForwards({ self: A, services: [ha], replicas, nameAddrs: new Map([['home-ha', '172.18.255.254']]) });
  assert.deepEqual(plan.forwards.map((f) => [forwardKey(f), f.kind, f.targets]), [
    ['tcp/172.18.255.254:8123', 'name', [{ host: A.addr, port: 8123, nodeId: A.id, node: true }, { host: B_ADDR, port: 8123, nodeId: 'node-b', node: true }]],
    ['udp/172.18.255.254:5353', 'name', [{ host: A.addr, port: 5353, nodeId: A.id, node: true }, { host: B_ADDR, port: 5353, nodeId: 'node-b', node: true }]],
  ]);
  // nothing is published on every node: the ports are its node's own, as under compose
  assert.ok(plan.forwards.every((f) => f.kind === 'name'));
});

test('randomized: every target is a live replica of the forward\'s service on the right protocol, and every reachable replica is a target', () => {
  const rnd = prng(1414);
  for (let round = 0; round < 500; round++) {
    const nodes = ['node-a', 'node-b', 'node-c'];
    const services: MeshService[] = [];
    const replicas: MeshReplica[] = [];
    const nameAddrs = new Map<string, string>();
    const nSvc = 1 + Math.floor(rnd() * 4);
    for (let i = 0; i < nSvc; i++) {
      const name = `s${i}`;
      const ports = Array.from({ length: Math.floor(rnd() * 3) }, () => ({ container: 1 + Math.floor(rnd() * 4), protocol: (rnd() < 0.5 ? 'tcp' : 'udp') as 'tcp' | 'udp', ...(rnd() < 0.6 ? { published: 9000 + Math.floor(rnd() * 6) } : {}) }));
      services.push({ name, ports });
      if (rnd() < 0.5) nameAddrs.set(name, `172.18.255.${250 - i}`);
      for (let r = 0; r < Math.floor(rnd() * 3); r++) {
        const nodeId = nodes[Math.floor(rnd() * 3)]!;
        const local = nodeId === 'node-a';
        replicas.push({ service: name, nodeId, addr: local ? A.addr : `10.0.1.${r}`, ...(local && rnd() < 0.5 ? { containerIp: `172.18.0.${r + 2}` } : {}), ports: ports.filter(() => rnd() < 0.8).map((p, k) => ({ container: p.container, protocol: p.protocol, hostPort: 30000 + k })) });
      }
    }
    const input: MeshInput = { self: A, services, replicas, nameAddrs };
    const plan = planForwards(input);
    const keys = plan.forwards.map(forwardKey);
    assert.equal(new Set(keys).size, keys.length, 'one forward per address and port');
    assert.deepEqual([...keys].sort(), keys, 'sorted by key');
    for (const f of plan.forwards) {
      const svc = services.find((s) => s.name === f.service)!;
      if (f.kind === 'published') {
        assert.equal(f.ip, A.addr);
        assert.ok(svc.ports.some((p) => p.published === f.port && p.protocol === f.protocol));
      } else assert.equal(f.ip, nameAddrs.get(f.service));
      const container = f.kind === 'name' ? f.port : svc.ports.find((p) => p.published === f.port && p.protocol === f.protocol)!.container;
      const expected = replicas
        .filter((r) => r.service === f.service)
        .filter((r) => (r.nodeId === A.id && r.containerIp) || r.ports.some((p) => p.container === container && p.protocol === f.protocol));
      assert.equal(f.targets.length, expected.length, `round ${round}: every reachable replica is a target`);
      const localCount = f.targets.filter((t) => t.nodeId === A.id).length;
      assert.ok(f.targets.slice(0, localCount).every((t) => t.nodeId === A.id), 'local targets first');
    }
    // every meshed port of every service is listened on by someone
    for (const s of services) for (const p of s.ports) if (p.published !== undefined) assert.ok(keys.includes(`${p.protocol}/${A.addr}:${p.published}`));
  }
});

test('topAddresses: from the top of the subnet, never the broadcast address or the lower half', () => {
  assert.deepEqual(topAddresses('172.18.0.0/16', 3), ['172.18.255.254', '172.18.255.253', '172.18.255.252']);
  assert.deepEqual(topAddresses('192.168.16.0/20', 2), ['192.168.31.254', '192.168.31.253']);
  assert.deepEqual(topAddresses('10.1.2.0/28', 100), ['10.1.2.14', '10.1.2.13', '10.1.2.12', '10.1.2.11', '10.1.2.10', '10.1.2.9', '10.1.2.8']);
  assert.deepEqual(topAddresses('172.18.3.4/16', 1), ['172.18.255.254'], 'a host part in the subnet is ignored');
  assert.deepEqual(topAddresses('fd00::/64', 3), []);
  assert.deepEqual(topAddresses('10.0.0.0/30', 3), []);
  assert.deepEqual(topAddresses('nonsense', 3), []);
  assert.equal(ipv4ToInt('1.2.3.256'), undefined);
});

test('allocateNameAddrs keeps a service\'s address while it exists and gives new ones the highest free address', () => {
  const pool = topAddresses('172.18.0.0/16', 4);
  const first = allocateNameAddrs(new Map(), ['b', 'a'], pool);
  assert.deepEqual([...first], [['a', '172.18.255.254'], ['b', '172.18.255.253']]);
  const second = allocateNameAddrs(first, ['b', 'c', '0'], pool);
  assert.deepEqual(second.get('b'), '172.18.255.253', 'b keeps its address');
  assert.equal(second.get('0'), '172.18.255.254', 'a freed address is reused');
  assert.equal(second.get('c'), '172.18.255.252');
  const full = allocateNameAddrs(second, ['b', 'c', '0', 'd', 'e'], pool);
  assert.equal(full.size, 4, 'beyond the pool: no address');
  assert.equal(new Set(full.values()).size, 4);
  const shrunk = allocateNameAddrs(new Map([['a', '10.0.0.9']]), ['a'], pool);
  assert.equal(shrunk.get('a'), '172.18.255.254', 'an address outside the pool is replaced');
});

test('randomized: allocations are unique, from the pool, and stable for surviving services', () => {
  const rnd = prng(77);
  const pool = topAddresses('172.20.0.0/24', 10);
  let prev = new Map<string, string>();
  for (let i = 0; i < 1000; i++) {
    const services = Array.from({ length: Math.floor(rnd() * 14) }, () => `s${Math.floor(rnd() * 16)}`);
    const next = allocateNameAddrs(prev, services, pool);
    assert.equal(new Set(next.values()).size, next.size);
    for (const [s, a] of next) {
      assert.ok(pool.includes(a));
      if (prev.has(s)) assert.equal(a, prev.get(s));
    }
    assert.equal(next.size, Math.min(new Set(services).size, pool.length));
    prev = next;
  }
});

test('nameTable: every name of a service, lowercased; a name claimed twice goes to the first service by name', () => {
  const t = nameTable(
    [
      { name: 'shop-web', names: ['web', 'Frontend', 'www.'] },
      { name: 'shop-api', names: ['api', 'frontend'] },
      { name: 'shop-none', names: ['none'] },
    ],
    new Map([['shop-web', '1.1.1.1'], ['shop-api', '2.2.2.2']]),
  );
  assert.deepEqual(Object.fromEntries(t), { 'shop-api': '2.2.2.2', api: '2.2.2.2', frontend: '2.2.2.2', 'shop-web': '1.1.1.1', web: '1.1.1.1', www: '1.1.1.1' });
});

test('serviceOfRelativeName: <service>.<stack> is the Warren service <stack>-<service>; one label is itself; anything else is none', async () => {
  const { serviceOfRelativeName } = await import('../../src/core/mesh/stack-host.ts');
  assert.equal(serviceOfRelativeName('web.shop'), 'shop-web');
  assert.equal(serviceOfRelativeName('db-1.my-stack'), 'my-stack-db-1');
  assert.equal(serviceOfRelativeName('web'), 'web');
  assert.equal(serviceOfRelativeName(''), null);
  assert.equal(serviceOfRelativeName('a.b.c'), null);
  assert.equal(serviceOfRelativeName('-a.b'), null);
  assert.equal(serviceOfRelativeName('a_b.c'), null);
});

test('stackWebServices: <stack> names the service labelled warren.web, else the only one publishing a TCP port; none when several could', async () => {
  const { stackWebChoice, stackWebServices } = await import('../../src/core/mesh/stack-host.ts');
  type C = Parameters<typeof stackWebChoice>[0][number];
  const s = (name: string, stack: string | undefined, ports: C['ports'], options?: C['options']): C => ({ name, stack, ports, ...(options ? { options } : {}) });
  const tcp = (published?: number) => ({ container: 80, protocol: 'tcp' as const, ...(published ? { published } : { anyHostPort: true as const }) });
  const services = [
    // immich-like: one service publishes, the database is reached by members only
    s('immich-server', 'immich', [tcp(2283)]),
    s('immich-db', 'immich', [{ container: 5432, protocol: 'tcp' }]),
    // two publish: the label decides
    s('media_box-web', 'media_box', [tcp(8096)], { labels: { 'warren.web': 'true' } }),
    s('media_box-dlna', 'media_box', [tcp()]),
    // two publish, no label: none
    s('two-a', 'two', [tcp(81)]),
    s('two-b', 'two', [tcp(82)]),
    // udp only: no web port; the host's network: its TCP port is the node's own
    s('dns-pihole', 'dns', [{ container: 53, protocol: 'udp', published: 53 }]),
    s('ha-core', 'ha', [], { hostNetwork: true, hostPorts: ['5353/udp', '8123/tcp'] }),
    s('mdns-relay', 'relay', [], { hostNetwork: true, hostPorts: ['5353/udp'] }),
    s('plain', undefined, [tcp(9000)]),
  ];
  assert.deepEqual(Object.fromEntries(stackWebServices(services)), { immich: 'immich-server', 'media-box': 'media_box-web', ha: 'ha-core' });
  assert.match(stackWebChoice(services.filter((x) => x.stack === 'two')).why!, /^several services publish TCP ports \(two-a, two-b\): .* label its web service warren\.web: "true"$/);
  const both = services.filter((x) => x.stack === 'two').map((x) => ({ ...x, options: { labels: { 'warren.web': 'true' } } }));
  assert.match(stackWebChoice(both).why!, /^several services are labelled warren\.web: "true" \(two-a, two-b\)/);
  assert.deepEqual(stackWebChoice(services.filter((x) => x.stack === 'dns')), {});
});
