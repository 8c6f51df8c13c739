import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterPorts, portsOfHealth } from '../../src/stacks/cluster-ports.ts';
import { warrenPorts } from '../../src/core/compose/validate.ts';
import type { MemberView } from '../../src/core/views.ts';

test('portsOfHealth: the ports a member reports, tagged with its name; junk dropped', () => {
  const h = { ports: [{ port: 7390, protocol: 'tcp', what: "Warren's HTTP proxy", flag: '--proxy-port' }, { port: 0, protocol: 'tcp', what: 'x', flag: 'y' }, { port: 53, protocol: 'sctp', what: 'x', flag: 'y' }, { port: 80, protocol: 'tcp', what: '', flag: 'y' }, null] } as never;
  assert.deepEqual(portsOfHealth(h, 'http://10.0.0.2:7370', 'n2'), [{ port: 7390, protocol: 'tcp', what: "Warren's HTTP proxy", flag: '--proxy-port', node: 'n2' }]);
});

test('portsOfHealth: an older agent without `ports`: its API, proxy, HTTPS and DNS ports from what its health says', () => {
  const h = { proxy: { port: 80 }, https: { port: 443 }, dns: { domain: 'warren.internal', port: 53 } };
  assert.deepEqual(portsOfHealth(h, 'http://10.0.0.2:7370', 'old').map((p) => `${p.port}/${p.protocol} ${p.flag} ${p.node}`), [
    '7370/tcp --http-port old', '80/tcp --proxy-port old', '443/tcp --https-port old', '53/tcp --dns-port old', '53/udp --dns-port old',
  ]);
  assert.deepEqual(portsOfHealth({}, 'not a url', 'old'), []);
});

const member = (name: string, over: Partial<MemberView> = {}): MemberView => ({ id: `id-${name}`, name, addr: '10.0.0.1', state: 'alive', role: 'voter', lastHeardMs: 0, self: false, api: `http://${name}:7370`, ...over });

test('clusterPorts: this agent\'s ports, then each live member\'s; a member that does not answer is a warning', async () => {
  const own = warrenPorts();
  const asked: string[] = [];
  const ask = async (api: string) => {
    asked.push(api);
    if (api.includes('n3')) throw Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });
    return { ports: [{ port: 8053, protocol: 'udp' as const, what: "Warren's DNS", flag: '--dns-port' }] };
  };
  const members = [member('me', { self: true }), member('n2'), member('n3', { state: 'suspect' }), member('gone', { state: 'dead' }), member('bye', { state: 'left' }), member('noapi', { api: undefined })];
  const r = await clusterPorts(own, members, ask);
  assert.deepEqual(asked.sort(), ['http://n2:7370', 'http://n3:7370'], 'only other live members are asked');
  assert.deepEqual(r.ports.slice(0, own.length), own);
  assert.deepEqual(r.ports.slice(own.length), [{ port: 8053, protocol: 'udp', what: "Warren's DNS", flag: '--dns-port', node: 'n2' }]);
  assert.deepEqual(r.warnings, [
    'could not ask node n3 which ports its agent holds (no answer): a published port that collides with them is not refused',
    'could not ask node noapi which ports its agent holds (no API address known): a published port that collides with them is not refused',
  ]);
});
