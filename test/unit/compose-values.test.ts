import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatStackPort, parseLongPort, parseShortPort, PortError } from '../../src/core/compose/ports.ts';
import { MountError, parseLongMount, parseShortMount } from '../../src/core/compose/mounts.ts';
import { parseBytes, parseDuration } from '../../src/core/compose/units.ts';
import { shellSplit } from '../../src/core/compose/fields.ts';
import { warrenServiceName } from '../../src/core/compose/names.ts';

const short = (s: string | number) => parseShortPort(s).map(formatStackPort);

test('short port syntax: every form of the specification', () => {
  assert.deepEqual(short('3000'), ['3000/tcp']);
  assert.deepEqual(short(3000), ['3000/tcp']);
  assert.deepEqual(short('3000-3002'), ['3000/tcp', '3001/tcp', '3002/tcp']);
  assert.deepEqual(short('8000:8000'), ['8000:8000/tcp']);
  assert.deepEqual(short('9090-9091:8080-8081'), ['9090:8080/tcp', '9091:8081/tcp']);
  assert.deepEqual(short('49100:22'), ['49100:22/tcp']);
  assert.deepEqual(short('8000-9000:80'), ['8000-9000:80/tcp']);
  assert.deepEqual(short('127.0.0.1:8001:8001'), ['127.0.0.1:8001:8001/tcp']);
  assert.deepEqual(short('127.0.0.1:5000-5001:5000-5001'), ['127.0.0.1:5000:5000/tcp', '127.0.0.1:5001:5001/tcp']);
  assert.deepEqual(short('6060:6060/udp'), ['6060:6060/udp']);
  assert.deepEqual(short('[::1]:6001:6001'), ['[::1]:6001:6001/tcp']);
  assert.deepEqual(short('::1:6000:6000'), ['[::1]:6000:6000/tcp']);
  assert.deepEqual(short('0.0.0.0:80:80'), ['80:80/tcp']); // every address: the default
  assert.deepEqual(short('127.0.0.1::80'), ['127.0.0.1:80/tcp']); // host port left to Docker
  assert.deepEqual(short('53:53/UDP'), ['53:53/udp']);
});

test('bad short ports', () => {
  for (const bad of ['0', '70000', '80:80/sctp', '8080-8081:80-82', 'a:80', '1.2.3:80:80', '10-5', '1-2000', '[::1:80:80', '1.2.3.4:80:80:80']) {
    assert.throws(() => parseShortPort(bad), PortError, bad);
  }
});

test('long port syntax', () => {
  assert.deepEqual(parseLongPort({ target: 80, published: '8080', protocol: 'udp', host_ip: '127.0.0.1', mode: 'host' }), [{ target: 80, protocol: 'udp', published: 8080, hostIp: '127.0.0.1' }]);
  assert.deepEqual(parseLongPort({ target: 80, published: '8080-8081' }), [{ target: 80, protocol: 'tcp', publishedRange: [8080, 8081] }]);
  assert.deepEqual(parseLongPort({ target: 80 }), [{ target: 80, protocol: 'tcp' }]);
  assert.throws(() => parseLongPort({ published: 80 }), /target/);
  assert.throws(() => parseLongPort({ target: '80-81' }), /one port/);
});

test('volumes: short and long syntax', () => {
  const dir = '/home/me/app';
  assert.deepEqual(parseShortMount('data:/var/lib/x', dir), { type: 'volume', source: 'data', target: '/var/lib/x', readOnly: false });
  assert.deepEqual(parseShortMount('data:/x:ro', dir), { type: 'volume', source: 'data', target: '/x', readOnly: true });
  assert.deepEqual(parseShortMount('./cfg:/config:ro,z', dir), { type: 'bind', source: '/home/me/app/cfg', target: '/config', readOnly: true });
  assert.deepEqual(parseShortMount('../up/x/:/data/', dir), { type: 'bind', source: '/home/me/up/x', target: '/data', readOnly: false });
  assert.deepEqual(parseShortMount('~/m:/m', dir, '/home/me'), { type: 'bind', source: '/home/me/m', target: '/m', readOnly: false });
  assert.deepEqual(parseShortMount('/cache', dir), { type: 'volume', target: '/cache', readOnly: false });
  assert.throws(() => parseShortMount('data:relative', dir), MountError);
  assert.throws(() => parseShortMount('data:/x:bogus', dir), /unknown mode "bogus"/);
  assert.throws(() => parseShortMount('~/m:/m', dir), /HOME/);
  assert.deepEqual(parseLongMount({ type: 'bind', source: './m', target: '/m', read_only: true }, dir), { type: 'bind', source: '/home/me/app/m', target: '/m', readOnly: true });
  assert.deepEqual(parseLongMount({ type: 'tmpfs', target: '/t', tmpfs: { size: '64m' } }, dir), { type: 'tmpfs', target: '/t', sizeBytes: 64 * 1024 * 1024 });
  assert.throws(() => parseLongMount({ type: 'npipe', source: 'x', target: '/x' }, dir), /not supported/);
  assert.throws(() => parseLongMount({ type: 'bind', target: '/x' }, dir), /needs source/);
});

test('durations and sizes', () => {
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('10'), undefined);
  assert.equal(parseDuration(10), 10_000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('5 s'), undefined);
  assert.equal(parseDuration('s'), undefined);
  assert.equal(parseBytes('128mb'), 128 * 1024 ** 2);
  assert.equal(parseBytes('1g'), 1024 ** 3);
  assert.equal(parseBytes('1gib'), 1024 ** 3);
  assert.equal(parseBytes('512k'), 512 * 1024);
  assert.equal(parseBytes(1000), 1000);
  assert.equal(parseBytes('12x'), undefined);
});

test('string commands split as a shell splits words', () => {
  assert.deepEqual(shellSplit('echo "a b" \'c d\' e\\ f'), ['echo', 'a b', 'c d', 'e f']);
  assert.deepEqual(shellSplit('sh -c "echo \\"$HOME\\""'), ['sh', '-c', 'echo "$HOME"']);
  assert.deepEqual(shellSplit('  '), []);
  assert.deepEqual(shellSplit('""'), ['']);
  assert.equal(shellSplit('"open'), undefined);
});

test('Warren service names are one DNS label', () => {
  assert.equal(warrenServiceName('immich', 'immich-server'), 'immich-immich-server');
  assert.equal(warrenServiceName('my_stack', 'db_1'), 'my-stack-db-1');
  assert.equal(warrenServiceName('a', 'Web..Front_'), 'a-web-front');
});
