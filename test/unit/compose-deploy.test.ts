/** A stack model → Warren services, the deploy plan, the deploy body, and Docker's create fields. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { UserError } from '../../src/core/errors.ts';
import { parseDeployBody } from '../../src/core/compose/deploy-body.ts';
import { planStack, portClashes, stackServices } from '../../src/core/compose/to-services.ts';
import { newServiceSpec, type ServiceInputParsed } from '../../src/core/service-spec.ts';
import { dockerParts, stackNetworkName } from '../../src/runtime/container-options.ts';
import { configOf } from '../../src/stacks/read-project.ts';
import { project } from '../helpers/compose.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'compose');
const byName = (list: ServiceInputParsed[], name: string) => list.find((s) => s.name === name)!;

test('a stack service becomes a Warren service with its container options', () => {
  const { model } = configOf({ files: [] }, {}, join(FIXTURES, 'frigate'));
  const [frigate, mqtt] = stackServices(model, { nodeName: 'nas' });
  assert.equal(frigate!.name, 'frigate-frigate');
  assert.equal(frigate!.stack, 'frigate');
  assert.deepEqual(frigate!.ports, [
    { container: 8971, protocol: 'tcp', published: 8971 },
    { container: 8554, protocol: 'tcp', published: 8554 },
    { container: 8555, protocol: 'tcp', published: 8555 },
    { container: 8555, protocol: 'udp', published: 8555 },
  ]);
  assert.deepEqual(frigate!.constraints, [{ kind: 'node', value: 'nas' }], 'bind mounts pin the service to the deploying node');
  assert.equal(frigate!.restart, 'always');
  const o = frigate!.options!;
  assert.equal(o.privileged, true);
  assert.equal(o.shmSizeBytes, 512 * 1024 ** 2);
  assert.equal(o.stopGracePeriodMs, 30_000);
  assert.deepEqual(o.tmpfs, { '/tmp/cache': 'size=1000000000' });
  assert.deepEqual(o.network, { stack: 'frigate', aliases: ['frigate', 'frigate-frigate'] });
  assert.equal(o.devices!.length, 4);
  assert.deepEqual(o.dependsOn, [{ service: 'frigate-mqtt', condition: 'service_started', required: true }], 'depends_on by Warren name');
  assert.equal(mqtt!.options!.dependsOn, undefined);
  assert.deepEqual(mqtt!.options!.ulimits, [{ name: 'nofile', soft: 20000, hard: 40000 }]);
  assert.deepEqual(mqtt!.options!.network!.aliases, ['mqtt', 'mosquitto', 'frigate-mqtt']);
  assert.deepEqual(mqtt!.command, ['mosquitto', '-c', '/mosquitto-no-auth.conf']);
  assert.deepEqual(mqtt!.constraints, [], 'nothing pins the broker');
});

test('named volumes are the stack\'s (shared by its services), external ones keep their name; host network drops ports', () => {
  const r = project({
    'compose.yaml': `name: shop
services:
  app:
    image: app
    volumes: [data:/data, ext:/ext:ro, /anon]
  cron:
    image: app
    volumes: [data:/data]
  hass:
    image: hass
    network_mode: host
    ports: ["8123:8123"]
volumes:
  data:
  ext:
    external: true
    name: existing-volume
`,
  });
  const s = stackServices(r.model, { nodeName: 'n1' });
  assert.deepEqual(byName(s, 'shop-app').options!.stackVolumes, [{ name: 'shop.data', target: '/data', readOnly: false }], 'a Warren volume');
  assert.deepEqual(byName(s, 'shop-app').options!.volumes, [{ name: 'existing-volume', target: '/ext', readOnly: true }]);
  assert.deepEqual(byName(s, 'shop-app').options!.anonymousVolumes, ['/anon']);
  assert.deepEqual(byName(s, 'shop-cron').options!.stackVolumes, [{ name: 'shop.data', target: '/data', readOnly: false }], 'the same one');
  assert.equal(byName(s, 'shop-cron').options!.volumes, undefined);
  assert.deepEqual(byName(s, 'shop-hass').ports, []);
  const vw = stackServices(configOf({ files: [] }, {}, join(FIXTURES, 'vaultwarden')).model, { nodeName: 'n' });
  assert.deepEqual(vw[0]!.ports, [{ container: 80, protocol: 'tcp', published: 11001, hostIp: '127.0.0.1' }], 'a host IP is kept: loopback only');
  assert.equal(byName(s, 'shop-hass').options!.hostNetwork, true);
  assert.equal(byName(s, 'shop-hass').options!.network, undefined);
});

test('the deploy plan: create, unchanged, update (replaced or not), remove; never another owner\'s service', () => {
  const text = (msg: string, replicas = 1) => `name: shop\nservices:\n  web:\n    image: nginx\n    environment: {MSG: ${msg}}\n    deploy: {replicas: ${replicas}}\n  db:\n    image: postgres\n`;
  const first = stackServices(project({ 'compose.yaml': text('a') }).model, { nodeName: 'n' });
  assert.deepEqual(planStack('shop', first, []), [{ service: 'shop-web', action: 'create' }, { service: 'shop-db', action: 'create' }]);
  const existing = first.map((s) => newServiceSpec(s, 1));
  assert.deepEqual(planStack('shop', first, existing), [{ service: 'shop-web', action: 'unchanged' }, { service: 'shop-db', action: 'unchanged' }]);
  const changed = stackServices(project({ 'compose.yaml': text('b') }).model, { nodeName: 'n' });
  assert.deepEqual(planStack('shop', changed, existing)[0], { service: 'shop-web', action: 'update', restarts: true });
  const scaled = stackServices(project({ 'compose.yaml': text('a', 3) }).model, { nodeName: 'n' });
  assert.deepEqual(planStack('shop', scaled, existing)[0], { service: 'shop-web', action: 'update', restarts: false });
  const fewer = stackServices(project({ 'compose.yaml': 'name: shop\nservices:\n  db:\n    image: postgres\n' }).model, { nodeName: 'n' });
  assert.deepEqual(planStack('shop', fewer, existing), [{ service: 'shop-db', action: 'unchanged' }, { service: 'shop-web', action: 'remove' }]);
  // a plain service of the same name, or another stack's, is never taken over
  const { stack: _s, ...plain } = existing[0]!;
  assert.throws(() => planStack('shop', first, [plain]), (e: unknown) => e instanceof UserError && e.status === 409 && /made by warren service create/.test(e.message));
  assert.throws(() => planStack('shop', first, [{ ...existing[0]!, stack: 'other' }]), /made by stack "other"/);
  // other stacks' services are not removed
  assert.deepEqual(planStack('shop', fewer, [...existing, { ...existing[0]!, name: 'x-web', stack: 'x' }]).map((s) => s.action), ['unchanged', 'remove']);
});

test('a host port published by a service outside the stack is refused, one line each', () => {
  const mine = stackServices(project({ 'compose.yaml': 'name: shop\nservices:\n  web:\n    image: nginx\n    ports: ["8080:80", "53:53/udp", "9000"]\n' }).model, { nodeName: 'n' });
  const other = newServiceSpec({ ...mine[0]!, name: 'blog-web', stack: 'blog', ports: [{ container: 80, protocol: 'tcp', published: 8080 }, { container: 53, protocol: 'tcp', published: 53 }] }, 1);
  assert.deepEqual(portClashes('shop', mine, [other]), ['shop-web: host port 8080/tcp is already published by service blog-web of stack blog: publish another host port, or remove that service first']);
  assert.deepEqual(portClashes('shop', mine, [other], (n) => (n === 'shop-web' ? 'web' : undefined)), ['services.web.ports: shop-web: host port 8080/tcp is already published by service blog-web of stack blog: publish another host port, or remove that service first']);
  // the stack's own services (a re-deploy) do not clash with themselves
  assert.deepEqual(portClashes('shop', mine, mine.map((s) => newServiceSpec(s, 1))), []);
});

test('a host-network service holds its container ports on its node; they clash with ports other stacks publish, both ways', () => {
  const [ha] = stackServices(project({ 'compose.yaml': 'name: home\nservices:\n  ha:\n    image: ha\n    network_mode: host\n    ports: ["8123:8123", "5353/udp"]\n    expose: ["8123", "21063"]\n' }).model, { nodeName: 'n' });
  assert.equal(ha!.options!.hostNetwork, true);
  // in the file's order (the proxy goes to the first TCP one), each once
  assert.deepEqual(ha!.options!.hostPorts, ['8123/tcp', '5353/udp', '21063/tcp']);
  assert.deepEqual(ha!.options!.meshNames, ['ha', 'home-ha'], 'the names the stack\'s other services reach it by');
  assert.deepEqual(ha!.ports, [], 'nothing is published');
  const [plain] = stackServices(project({ 'compose.yaml': 'name: p\nservices:\n  web:\n    image: x\n    network_mode: host\n' }).model, { nodeName: 'n' });
  assert.equal(plain!.options!.hostPorts, undefined);

  const web = newServiceSpec({ ...ha!, name: 'blog-web', stack: 'blog', options: {}, ports: [{ container: 80, protocol: 'tcp', published: 8123 }] }, 1);
  assert.deepEqual(portClashes('home', [ha!], [web]), ['home-ha: port 8123/tcp (network_mode: host) is already published on every node by service blog-web of stack blog: change one of them']);
  const mine = stackServices(project({ 'compose.yaml': 'name: blog\nservices:\n  web:\n    image: nginx\n    ports: ["8123:80", "21063:81"]\n' }).model, { nodeName: 'n' });
  assert.deepEqual(portClashes('blog', mine, [newServiceSpec(ha!, 1)]), [
    'blog-web: host port 8123/tcp is where service home-ha of stack home (network_mode: host) listens on its node: publish another host port',
    'blog-web: host port 21063/tcp is where service home-ha of stack home (network_mode: host) listens on its node: publish another host port',
  ]);
  assert.deepEqual(portClashes('home', [ha!], [newServiceSpec(ha!, 1)]), [], 'a re-deploy does not clash with itself');
});

test('the deploy body is checked by shape', () => {
  const ok = parseDeployBody({ files: [{ path: '/a/compose.yaml', text: 'services: {}' }], environment: { A: '1' }, dryRun: true, profiles: ['x'] });
  assert.equal(ok.dryRun, true);
  assert.deepEqual(ok.environment, { A: '1' });
  const bad: [unknown, RegExp][] = [
    [null, /JSON object/],
    [{}, /files must be a non-empty list/],
    [{ files: [{ path: 'rel.yaml', text: '' }] }, /must be absolute/],
    [{ files: [{ path: '/a', text: 1 }] }, /files\[0\] must be/],
    [{ files: [{ path: '/a', text: '' }], environment: { A: 1 } }, /environment must be an object of strings/],
    [{ files: [{ path: '/a', text: '' }], extra: 1 }, /unknown field "extra"/],
    [{ files: [{ path: '/a', text: '' }], dryRun: 'yes' }, /dryRun must be true or false/],
  ];
  for (const [body, re] of bad) assert.throws(() => parseDeployBody(body), (e: unknown) => e instanceof UserError && e.code === 'invalid_stack' && re.test(e.message), String(re));
});

test('container options as Docker create fields', () => {
  const base = { image: 'x', command: [], env: {}, ports: [], volumes: [], restart: 'always' as const };
  assert.deepEqual(dockerParts(base, undefined), { config: {}, hostConfig: {} });
  const parts = dockerParts(
    {
      ...base,
      options: {
        entrypoint: ['/init'],
        user: '1000:1000',
        healthcheck: { test: ['CMD', 'true'], intervalMs: 1500, retries: 3 },
        capAdd: ['NET_ADMIN'],
        devices: [{ host: '/dev/ttyUSB0', container: '/dev/ttyUSB0', permissions: 'rwm' }],
        ulimits: [{ name: 'nofile', soft: 1, hard: 2 }],
        binds: [{ source: '/srv/cfg', target: '/config', readOnly: true }],
        volumes: [{ name: 'warren-stack_s_data', target: '/data', readOnly: false }],
        stopGracePeriodMs: 1500,
        init: false,
        network: { stack: 's', aliases: ['db', 'postgres'] },
      },
    },
    'warren_net',
  );
  assert.deepEqual(parts.config, { Entrypoint: ['/init'], User: '1000:1000', StopTimeout: 2, Healthcheck: { Test: ['CMD', 'true'], Interval: 1_500_000_000, Retries: 3 } });
  assert.deepEqual(parts.hostConfig, {
    Init: false,
    CapAdd: ['NET_ADMIN'],
    Devices: [{ PathOnHost: '/dev/ttyUSB0', PathInContainer: '/dev/ttyUSB0', CgroupPermissions: 'rwm' }],
    Ulimits: [{ Name: 'nofile', Soft: 1, Hard: 2 }],
    Binds: ['/srv/cfg:/config:ro', 'warren-stack_s_data:/data'],
    NetworkMode: 'warren_net',
  });
  assert.deepEqual(parts.networkingConfig, { EndpointsConfig: { warren_net: { Aliases: ['db', 'postgres'] } } });
  assert.deepEqual(dockerParts({ ...base, options: { hostNetwork: true } }, undefined).hostConfig, { NetworkMode: 'host' });
  assert.equal(stackNetworkName('ABCDEFGHIJ', '12D3KooWxyzABCDEFGH', 'shop'), 'warren_ABCDEFGH_abcdefgh_shop');
});

test('expose: container ports are for the stack only (members reach them through the mesh\'s guards); ports: ["80"] is published for anyone as compose does; a host port in expose is refused', async () => {
  const { refused } = await import('../helpers/compose.ts');
  const { model } = project({ 'compose.yaml': 'name: s\nservices:\n  db:\n    image: postgres\n    expose: ["5432", "53/udp", "9000-9001", 5433]\n    ports: ["5432"]\n' });
  assert.deepEqual(stackServices(model, { nodeName: 'n' })[0]!.ports, [
    { container: 5432, protocol: 'tcp', anyHostPort: true },
    { container: 53, protocol: 'udp' },
    { container: 9000, protocol: 'tcp' },
    { container: 9001, protocol: 'tcp' },
    { container: 5433, protocol: 'tcp' },
  ]);
  const lines = refused({ 'compose.yaml': 'services:\n  db:\n    image: postgres\n    expose: ["5432:5432"]\n' });
  assert.match(lines.join('\n'), /compose\.yaml:4: services\.db\.expose\[0\]: "5432:5432": expose lists container ports only/);
});
