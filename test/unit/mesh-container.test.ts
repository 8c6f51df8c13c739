import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { dockerPorts, resolvConfServers } from '../../src/runtime/mesh-container.ts';
import { answerMeshQuery } from '../../src/routing/mesh-dns.ts';
import type { ContainerSpec } from '../../src/core/service-types.ts';

const base: ContainerSpec = { image: 'img', command: [], env: {}, ports: [], volumes: [] } as unknown as ContainerSpec;

test('dockerPorts: a stack container publishes only what compose would (ports: ["80"] for anyone, a host IP\'s binding); its other ports are exposed only', () => {
  const spec = {
    ...base,
    ports: [
      { container: 80, protocol: 'tcp', published: 8080 },
      { container: 53, protocol: 'udp', published: 53, hostIp: '127.0.0.1' },
      { container: 9000, protocol: 'tcp', anyHostPort: true },
      { container: 5432, protocol: 'tcp' },
    ],
    options: { network: { stack: 's', aliases: [] } },
  } as ContainerSpec;
  assert.deepEqual(dockerPorts(spec, '10.0.0.1'), [
    { key: '80/tcp' },
    { key: '53/udp', bind: { hostIp: '127.0.0.1', hostPort: '53' } },
    { key: '9000/tcp', bind: { hostIp: '10.0.0.1', hostPort: '' } },
    { key: '5432/tcp' },
  ]);
});

test('dockerPorts: a plain service publishes its ports on the node\'s address (the proxy reaches them); nothing for the host network', () => {
  assert.deepEqual(dockerPorts({ ...base, ports: [{ container: 80, protocol: 'tcp' }] } as ContainerSpec, 'a'), [{ key: '80/tcp', bind: { hostIp: 'a', hostPort: '' } }]);
  assert.deepEqual(dockerPorts({ ...base, ports: [{ container: 80, protocol: 'tcp', published: 80 }], options: { hostNetwork: true } } as ContainerSpec, 'a'), []);
});

test('resolvConfServers: the nameservers, zone ids dropped; Docker\'s defaults when there are none', () => {
  assert.deepEqual(resolvConfServers('# x\nsearch lan\nnameserver 192.168.1.1\n nameserver fe80::1%eth0\n'), ['192.168.1.1', 'fe80::1']);
  assert.deepEqual(resolvConfServers(''), ['8.8.8.8', '8.8.4.4']);
});

const decode = (b: Buffer) => dnsPacket.decode(b) as unknown as { id: number; rcode: string; flag_aa: boolean; answers: { type: string; data: unknown }[] };
const query = (name: string, type: 'A' | 'AAAA' | 'MX', id = 7) => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });

test('the stack DNS answers its names (A; AAAA without data), case-insensitively, and refuses the rest', () => {
  const table = new Map([['db', '172.18.255.254']]);
  const a = decode(answerMeshQuery(query('DB.', 'A'), table)!);
  assert.equal(a.id, 7);
  assert.equal(a.rcode, 'NOERROR');
  assert.deepEqual(a.answers.map((x) => [x.type, x.data]), [['A', '172.18.255.254']]);
  assert.ok(a.flag_aa);
  const aaaa = decode(answerMeshQuery(query('db', 'AAAA'), table)!);
  assert.equal(aaaa.rcode, 'NOERROR');
  assert.deepEqual(aaaa.answers, []);
  const other = decode(answerMeshQuery(query('example.com', 'A'), table)!);
  assert.equal(other.rcode, 'REFUSED');
  assert.equal(answerMeshQuery(Buffer.from('junk'), table), undefined);
  assert.equal(answerMeshQuery(dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'db', class: 'IN' }] }), table), undefined);
});
