import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/core/errors.ts';
import { parseConstraintEntry, parseLabel } from '../../src/core/service-constraints.ts';
import { parseEnvEntry, parseMemory } from '../../src/core/service-fields.ts';
import { serviceInputFromFlags, servicePatchFromFlags } from '../../src/core/service-flags.ts';
import { parsePortEntry, parseVolumeEntry } from '../../src/core/service-ports-volumes.ts';
import {
  applyPatch,
  newServiceSpec,
  parseServiceInput,
  parseServicePatch,
  sameContainerSpec,
  serviceInputBody,
  servicePatchBody,
} from '../../src/core/service-spec.ts';
import type { ServiceSpec } from '../../src/core/service-types.ts';

function rejects(fn: () => unknown, message: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.equal(err.code, 'invalid_service');
    assert.equal(err.status, 400);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

const bad = (body: Record<string, unknown>, message: RegExp) => rejects(() => parseServiceInput({ name: 'web', image: 'nginx', ...body }), message);

test('defaults fill every optional field', () => {
  assert.deepEqual(parseServiceInput({ name: 'web', image: 'nginx' }), {
    name: 'web',
    image: 'nginx',
    command: [],
    env: {},
    ports: [],
    volumes: [],
    restart: 'always',
    replicas: 1,
    constraints: [],
  });
});

test('every field is parsed, in each of its forms', () => {
  const parsed = parseServiceInput({
    name: 'vault-1',
    image: 'ghcr.io/owner/app:1.2.3',
    command: ['sh', '-c', 'echo hi'],
    env: ['TZ=Europe/Paris', 'EMPTY=', 'EQ=a=b'],
    ports: [80, '8443', '53/udp', { container: 9000, protocol: 'tcp' }, '53/TCP'],
    volumes: ['data:/data', { name: 'conf', path: '/etc/app/' }],
    replicas: 3,
    restart: 'on-failure',
    constraints: ['node=nas', 'label=disk=ssd', { kind: 'label', key: 'zone', value: '' }],
    cpus: '0.5',
    memory: '512m',
  });
  assert.deepEqual(parsed, {
    name: 'vault-1',
    image: 'ghcr.io/owner/app:1.2.3',
    command: ['sh', '-c', 'echo hi'],
    env: { TZ: 'Europe/Paris', EMPTY: '', EQ: 'a=b' },
    ports: [
      { container: 80, protocol: 'tcp' },
      { container: 8443, protocol: 'tcp' },
      { container: 53, protocol: 'udp' },
      { container: 9000, protocol: 'tcp' },
      { container: 53, protocol: 'tcp' },
    ],
    volumes: [
      { name: 'data', path: '/data' },
      { name: 'conf', path: '/etc/app' },
    ],
    replicas: 3,
    restart: 'on-failure',
    constraints: [
      { kind: 'node', value: 'nas' },
      { kind: 'label', key: 'disk', value: 'ssd' },
      { kind: 'label', key: 'zone', value: '' },
    ],
    cpus: 0.5,
    memoryBytes: 512 * 1024 ** 2,
  });
  assert.deepEqual(parseServiceInput({ name: 'a', image: 'nginx', env: { N: 1, B: true, S: 's' } }).env, { N: '1', B: 'true', S: 's' });
  assert.equal(parseServiceInput({ name: 'a', image: 'nginx', replicas: 0 }).replicas, 0);
});

test('image references: accepted and refused', () => {
  for (const image of ['nginx', 'nginx:1.27', 'library/nginx:latest', 'localhost:5000/app', 'registry.lan:5000/team/app:v1-rc.2', `app@sha256:${'a'.repeat(64)}`, 'ghcr.io/o/a:t@sha256:' + 'b'.repeat(64)]) {
    assert.equal(parseServiceInput({ name: 'a', image }).image, image);
  }
  bad({ image: undefined }, /^image is required/);
  bad({ image: '' }, /^image is required/);
  bad({ image: 5 }, /^image must be a string/);
  bad({ image: 'Nginx' }, /^image "Nginx" is not a valid image reference \(repository names are lowercase\)/);
  bad({ image: 'nginx latest' }, /image "nginx latest" is not a valid image reference \(no spaces\)/);
  bad({ image: 'nginx:' }, /is not a valid image reference: expected e\.g\. nginx/);
  bad({ image: 'a//b' }, /not a valid image reference/);
  bad({ image: 'app@sha256:xyz' }, /not a valid image reference/);
});

test('service names: DNS labels that do not clash with DNS routing', () => {
  rejects(() => parseServiceInput({ image: 'nginx' }), /^name is required/);
  bad({ name: 'Web' }, /^name "Web" must be a DNS label: 1-63 lowercase letters, digits and "-"/);
  bad({ name: '-web' }, /name "-web" must be a DNS label/);
  bad({ name: 'web-' }, /name "web-" must be a DNS label/);
  bad({ name: 'we_b' }, /name "we_b" must be a DNS label/);
  bad({ name: 'a'.repeat(64) }, /must be a DNS label/);
  bad({ name: 'node' }, /^name "node" is reserved for Warren's own DNS names/);
  bad({ name: 'warren' }, /reserved/);
  bad({ name: '1234' }, /name "1234" must contain a letter/);
  bad({ name: 'xn--abc' }, /xn--/);
  bad({ name: 'ns-nas' }, /^name "ns-nas" must not start with "ns-"/);
  bad({ name: 7 }, /^name is required/);
  assert.equal(parseServiceInput({ name: 'a'.repeat(63), image: 'nginx' }).name.length, 63);
});

test('ports: container ports only, 1-65535, tcp or udp, no duplicates', () => {
  bad({ ports: [0] }, /^ports 0 must be a container port from 1 to 65535/);
  bad({ ports: ['65536'] }, /ports "65536" must be a container port from 1 to 65535/);
  bad({ ports: ['http'] }, /ports "http" must be a container port/);
  bad({ ports: ['80/sctp'] }, /^ports "80\/sctp": the protocol must be tcp or udp/);
  bad({ ports: ['8080:80'] }, /^ports "8080:80": give only the container port \(e\.g\. "80"\); Warren chooses the host port/);
  bad({ ports: [80, '80/tcp'] }, /^ports lists 80\/tcp twice/);
  bad({ ports: 80 }, /^ports must be a list of container ports/);
  bad({ ports: [1.5] }, /ports 1\.5 must be a container port/);
  bad({ ports: [{ container: 80, proto: 'tcp' }] }, /unknown field "proto"/);
  bad({ ports: [true] }, /ports entries must be container ports/);
});

test('env: KEY=VALUE with sane keys', () => {
  bad({ env: ['NOVALUE'] }, /^env "NOVALUE" must be KEY=VALUE/);
  bad({ env: ['=x'] }, /env "=x" must be KEY=VALUE/);
  bad({ env: ['1A=x'] }, /^env "1A=x": the variable name "1A" must start with a letter or "_"/);
  bad({ env: ['A B=x'] }, /the variable name "A B"/);
  bad({ env: { 'BAD KEY': 'x' } }, /^env: the variable name "BAD KEY"/);
  bad({ env: { A: null } }, /^env: the value of A must be a string, got null/);
  bad({ env: { A: { b: 1 } } }, /the value of A must be a string/);
  bad({ env: ['A=1', 'A=2'] }, /^env sets A twice/);
  bad({ env: 'A=1' }, /^env must be an object such as \{"TZ": "Europe\/Paris"\} or a list of "KEY=VALUE" strings/);
  bad({ env: [5] }, /env entries must be "KEY=VALUE" strings, got 5/);
});

test('volumes: named, absolute paths, one per path', () => {
  bad({ volumes: ['/srv/data:/data'] }, /^volumes "\/srv\/data:\/data": host paths are not supported; use a named volume/);
  bad({ volumes: ['./data:/data'] }, /host paths are not supported/);
  bad({ volumes: ['data'] }, /^volumes "data" must be NAME:\/path/);
  bad({ volumes: ['Data:/data'] }, /^volumes "Data:\/data": the volume name "Data" must be a DNS label/);
  bad({ volumes: ['data:data'] }, /^volumes "data:data": the path in the container "data" must be absolute/);
  bad({ volumes: ['data:/'] }, /cannot be mounted at "\/"/);
  bad({ volumes: ['data:/a/../b'] }, /must not contain "\." or "\.\." segments/);
  bad({ volumes: ['data:/data:ro'] }, /mount options such as ":ro" are not supported/);
  bad({ volumes: ['a:/data', 'b:/data/'] }, /^volumes mounts two volumes at \/data/);
  bad({ volumes: 'data:/data' }, /^volumes must be a list of "NAME:\/path" strings/);
});

test('constraints: node=NAME or label=KEY=VALUE', () => {
  bad({ constraints: ['zone=eu'] }, /^constraints "zone=eu": unknown kind "zone" \(expected node=NAME or label=KEY=VALUE\)/);
  bad({ constraints: ['nas'] }, /^constraints "nas" must be node=NAME or label=KEY=VALUE/);
  bad({ constraints: ['node=NAS'] }, /constraints "node=NAS": "NAS" is not a node name/);
  bad({ constraints: ['label=gpu'] }, /^constraints "label=gpu" must be label=KEY=VALUE/);
  bad({ constraints: ['label==x'] }, /the label key "" must be/);
  bad({ constraints: ['label=a=b c'] }, /the label value "b c"/);
  bad({ constraints: ['node=a', 'node=a'] }, /^constraints lists node=a twice/);
  bad({ constraints: [{ kind: 'zone', value: 'x' }] }, /constraints entries must be "node=NAME" or "label=KEY=VALUE"/);
  assert.deepEqual(parseLabel('disk=ssd'), ['disk', 'ssd']);
  rejects(() => parseLabel('disk'), /^--label "disk" must be KEY=VALUE/);
});

test('replicas, restart, cpus and memory', () => {
  bad({ replicas: -1 }, /^replicas must be a whole number from 0 to 100, got -1/);
  bad({ replicas: 1.5 }, /replicas must be a whole number/);
  bad({ replicas: 101 }, /from 0 to 100, got 101/);
  bad({ replicas: 'two' }, /replicas must be a whole number from 0 to 100, got "two"/);
  bad({ restart: 'sometimes' }, /^restart must be always, on-failure or no, got "sometimes"/);
  bad({ restart: 'unless-stopped' }, /restart must be always, on-failure or no/);
  bad({ cpus: 0 }, /^cpus must be a number of CPU cores greater than 0 \(e\.g\. 0\.5 or 2\), got 0/);
  bad({ cpus: 'lots' }, /cpus must be a number of CPU cores/);
  bad({ cpus: -2 }, /cpus must be/);
  bad({ cpus: 0.001 }, /at least 0\.01/);
  bad({ memory: 'lots' }, /^memory must be a size such as 512m, 1g or 256Mi, or a number of bytes, got "lots"/);
  bad({ memory: '1k' }, /^memory "1k" is below the 6 MiB/);
  bad({ memory: -5 }, /memory must be a size/);
  bad({ memory: '1.5' }, /memory must be a size/);
  bad({ memory: '12x' }, /memory must be a size/);
  const MiB = 1024 ** 2;
  const cases: [string | number, number][] = [
    ['512m', 512 * MiB], ['512M', 512 * MiB], ['256Mi', 256 * MiB], ['256MiB', 256 * MiB], ['1g', 1024 * MiB], ['1.5G', 1536 * MiB],
    ['1gb', 1024 * MiB], [8 * MiB, 8 * MiB], [String(8 * MiB), 8 * MiB], [`${8 * MiB}b`, 8 * MiB], ['10240k', 10 * MiB], ['1t', 1024 ** 4],
  ];
  for (const [input, bytes] of cases) assert.equal(parseMemory(input), bytes, String(input));
});

test('unknown fields are named; the body must be an object', () => {
  bad({ foo: 1 }, /^unknown field "foo" in the service \(the fields are: name, image, command, env, ports, volumes, replicas, restart, constraints, cpus, memory, httpsRedirect\)/);
  bad({ foo: 1, memoryBytes: 5 }, /^unknown fields "foo", "memoryBytes"/);
  rejects(() => parseServiceInput([]), /^the service must be a JSON object/);
  rejects(() => parseServiceInput(null), /the service must be a JSON object/);
  bad({ command: 'nginx -g' }, /^command must be a list of strings/);
  bad({ command: ['a', 1] }, /command must be a list of strings/);
});

test('patches: subsets, same validation, name cannot change, null clears a limit', () => {
  assert.deepEqual(parseServicePatch({ replicas: 2 }), { replicas: 2 });
  assert.deepEqual(parseServicePatch({ image: 'nginx:1.28', env: ['A=1'], memory: '1g', cpus: null }), {
    image: 'nginx:1.28',
    env: { A: '1' },
    memoryBytes: 1024 ** 3,
    cpus: null,
  });
  assert.deepEqual(parseServicePatch({ name: 'web', replicas: 0 }, 'web'), { replicas: 0 });
  rejects(() => parseServicePatch({ name: 'other' }, 'web'), /^name cannot be changed \(the service is "web"\): create a service under the new name/);
  rejects(() => parseServicePatch({ name: 'other' }), /^name cannot be changed:/);
  rejects(() => parseServicePatch({}), /^the update changes nothing: give at least one of image, command/);
  rejects(() => parseServicePatch({ image: 'Bad' }), /image "Bad" is not a valid image reference/);
  rejects(() => parseServicePatch({ replicas: 1000 }), /replicas must be a whole number/);
  rejects(() => parseServicePatch({ generation: 3 }), /^unknown field "generation" in the update \(the fields are: image, command/);
  rejects(() => parseServicePatch('x'), /^the update must be a JSON object such as \{"image": "nginx:1\.27"\}/);
});

const base = (): ServiceSpec => newServiceSpec(parseServiceInput({ name: 'web', image: 'nginx:1.27', env: { A: '1', B: '2' }, ports: [80, '53/udp'], cpus: 1 }), 1000);

test('new specs start at generation 1', () => {
  const s = base();
  assert.equal(s.generation, 1);
  assert.equal(s.createdAt, 1000);
  assert.equal(s.updatedAt, 1000);
});

test('applyPatch bumps the generation only when the containers change', () => {
  const s = base();
  const scaled = applyPatch(s, { replicas: 3, constraints: [{ kind: 'node', value: 'nas' }] }, 2000);
  assert.equal(scaled.generation, 1);
  assert.equal(scaled.replicas, 3);
  assert.deepEqual(scaled.constraints, [{ kind: 'node', value: 'nas' }]);
  assert.equal(scaled.updatedAt, 2000);
  assert.equal(scaled.createdAt, 1000);

  assert.equal(applyPatch(s, { image: 'nginx:1.28' }, 2000).generation, 2);
  assert.equal(applyPatch(s, { env: { A: '1', B: '3' } }, 2000).generation, 2);
  assert.equal(applyPatch(s, { restart: 'no' }, 2000).generation, 2);
  assert.equal(applyPatch(s, { command: ['x'] }, 2000).generation, 2);
  assert.equal(applyPatch(s, { volumes: [{ name: 'd', path: '/d' }] }, 2000).generation, 2);
  const noLimit = applyPatch(s, { cpus: null }, 2000);
  assert.equal(noLimit.generation, 2);
  assert.equal('cpus' in noLimit, false);
  assert.equal(applyPatch(s, { memoryBytes: 64 * 1024 ** 2 }, 2000).generation, 2);

  // same values, other order: no new containers
  assert.equal(applyPatch(s, { image: 'nginx:1.27', env: { B: '2', A: '1' }, ports: [{ container: 53, protocol: 'udp' }, { container: 80, protocol: 'tcp' }], cpus: 1 }, 2000).generation, 1);
  assert.equal(applyPatch(s, { memoryBytes: null }, 2000).generation, 1);
  // the input is not changed
  assert.equal(s.updatedAt, 1000);
  assert.equal(sameContainerSpec(s, applyPatch(s, { replicas: 9 }, 3)), true);
});

test('CLI create flags: validated with the flag names, sent as a body the server parses back', () => {
  const input = serviceInputFromFlags(
    'web',
    { image: 'nginx', port: ['80', '53/udp'], env: ['A=1'], volume: ['data:/data'], replicas: '2', restart: 'no', constraint: ['node=nas', 'label=disk=ssd'], cpus: '1.5', memory: '1g' },
    ['nginx', '-g', 'daemon off;'],
  );
  assert.equal(input.replicas, 2);
  assert.deepEqual(input.command, ['nginx', '-g', 'daemon off;']);
  assert.deepEqual(parseServiceInput(serviceInputBody(input)), input);
  assert.deepEqual(serviceInputBody(input).ports, ['80/tcp', '53/udp']);
  assert.deepEqual(serviceInputBody(input).constraints, ['node=nas', 'label=disk=ssd']);

  rejects(() => serviceInputFromFlags('web', { image: 'nginx', port: ['8080:80'] }), /^-p "8080:80": give only the container port/);
  rejects(() => serviceInputFromFlags('web', { image: 'nginx', env: ['X'] }), /^-e "X" must be KEY=VALUE/);
  rejects(() => serviceInputFromFlags('web', { image: 'nginx', volume: ['/host:/data'] }), /^-v "\/host:\/data": host paths are not supported/);
  rejects(() => serviceInputFromFlags('web', { image: 'nginx', constraint: ['zone=x'] }), /^--constraint "zone=x": unknown kind "zone"/);
  rejects(() => serviceInputFromFlags('web', { image: 'nginx', replicas: 'many' }), /^--replicas must be a whole number/);
  rejects(() => serviceInputFromFlags('web', { image: 'nginx', restart: 'x' }), /^--restart must be always, on-failure or no/);
  rejects(() => serviceInputFromFlags('web', { image: 'nginx', memory: 'x' }), /^--memory must be a size/);
  rejects(() => serviceInputFromFlags('web', { image: 'nginx', cpus: 'x' }), /^--cpus must be a number/);
  rejects(() => serviceInputFromFlags('Web', { image: 'nginx' }), /^the service name "Web" must be a DNS label/);
  rejects(() => serviceInputFromFlags('web', { image: 'NGINX' }), /^--image "NGINX" is not a valid image reference/);
});

test('the per-format parsers take the field name they report', () => {
  assert.deepEqual(parseEnvEntry('A=b=c'), ['A', 'b=c']);
  assert.deepEqual(parsePortEntry('53/udp', '-p'), { container: 53, protocol: 'udp' });
  assert.deepEqual(parseVolumeEntry('data:/data'), { name: 'data', path: '/data' });
  assert.deepEqual(parseConstraintEntry('label=k=v'), { kind: 'label', key: 'k', value: 'v' });
  rejects(() => parsePortEntry('x', '--port-rm'), /^--port-rm "x"/);
});

test('CLI update flags merge into the current spec; only real changes are sent', () => {
  const cur = base();
  cur.volumes = [{ name: 'data', path: '/data' }];
  cur.constraints = [{ kind: 'node', value: 'nas' }];
  assert.deepEqual(servicePatchFromFlags(cur, {}), {});
  assert.deepEqual(servicePatchFromFlags(cur, { image: 'nginx:1.27', replicas: '1', env: ['A=1'] }), {});
  assert.deepEqual(servicePatchFromFlags(cur, { env: ['C=3', 'A=9'], envRm: ['B'] }), { env: { A: '9', C: '3' } });
  assert.deepEqual(servicePatchFromFlags(cur, { port: ['8080'], portRm: ['53/udp'] }), { ports: [{ container: 80, protocol: 'tcp' }, { container: 8080, protocol: 'tcp' }] });
  assert.deepEqual(servicePatchFromFlags(cur, { volume: ['other:/data', 'cfg:/cfg'] }), { volumes: [{ name: 'other', path: '/data' }, { name: 'cfg', path: '/cfg' }] });
  assert.deepEqual(servicePatchFromFlags(cur, { volumeRm: ['/data/'] }), { volumes: [] });
  assert.deepEqual(servicePatchFromFlags(cur, { constraint: ['label=a=b'], constraintRm: ['node=nas'] }), { constraints: [{ kind: 'label', key: 'a', value: 'b' }] });
  assert.deepEqual(servicePatchFromFlags(cur, { replicas: '3', restart: 'no', cpus: 'none', memory: '1g' }), { replicas: 3, restart: 'no', cpus: null, memoryBytes: 1024 ** 3 });
  assert.deepEqual(servicePatchFromFlags(cur, {}, ['sh', '-c', 'x']), { command: ['sh', '-c', 'x'] });
  assert.deepEqual(servicePatchFromFlags({ ...cur, command: ['x'] }, { defaultCommand: true }), { command: [] });
  assert.deepEqual(servicePatchFromFlags(cur, { memory: 'none' }), {}, 'already no memory limit');

  rejects(() => servicePatchFromFlags(cur, { envRm: ['NOPE'] }), /^--env-rm NOPE: the service has no variable NOPE/);
  rejects(() => servicePatchFromFlags(cur, { portRm: ['9999'] }), /^--port-rm 9999\/tcp: the service does not publish 9999\/tcp/);
  rejects(() => servicePatchFromFlags(cur, { volumeRm: ['/nope'] }), /^--volume-rm \/nope: no volume is mounted there/);
  rejects(() => servicePatchFromFlags(cur, { volumeRm: ['data'] }), /^--volume-rm "data" must be the path in the container/);
  rejects(() => servicePatchFromFlags(cur, { constraintRm: ['node=pi'] }), /^--constraint-rm node=pi: the service has no such constraint/);
  rejects(() => servicePatchFromFlags(cur, { env: ['bad'] }), /^-e "bad" must be KEY=VALUE/);
  rejects(() => servicePatchFromFlags(cur, { defaultCommand: true }, ['x']), /either --default-command or a command/);

  // what the CLI sends is what the server accepts
  const patch = servicePatchFromFlags(cur, { image: 'nginx:1.28', port: ['9000/udp'], constraint: ['label=a=b'], memory: '64m', cpus: 'none' });
  assert.deepEqual(parseServicePatch(servicePatchBody(patch)), patch);
});

// ---------------------------------------------------------------------------------------------
// CLI rendering and rollout watching (src/cli/service-commands.ts, src/cli/node-commands.ts)

import { rolloutVerdict, watchRollout, parseTimeout } from '../../src/cli/rollout-watch.ts';
import { describeReplica, describeReplicaChange, renderServiceDetail, renderServiceTable, summariseNodes } from '../../src/cli/service-render.ts';
import { drainProgress } from '../../src/cli/node-commands.ts';
import type { ReplicaView, ServiceView } from '../../src/core/service-types.ts';

const rep = (slot: number, over: Partial<ReplicaView> = {}): ReplicaView => ({
  slot,
  nodeId: 'id-nas',
  nodeName: 'nas',
  generation: 1,
  state: 'running',
  ports: [],
  restarts: 0,
  since: 0,
  ...over,
});

const viewOf = (spec: Partial<ServiceSpec>, replicas: ReplicaView[], pending?: string): ServiceView => {
  const s = { ...base(), ...spec };
  return { spec: s, desired: s.replicas, running: replicas.filter((r) => r.state === 'running').length, replicas, ...(pending ? { pending } : {}) };
};

test('one line per replica state', () => {
  const ports = [{ container: 80, protocol: 'tcp' as const, hostPort: 32768 }];
  assert.equal(describeReplica(rep(0, { state: 'pulling', progress: '12 MB / 40 MB' })), 'replica 0: pulling on nas (12 MB / 40 MB)');
  assert.equal(describeReplica(rep(0, { addr: '192.168.1.5', ports })), 'replica 0: running on nas at 192.168.1.5:32768 -> 80/tcp');
  assert.equal(describeReplica(rep(0, { addr: 'fd00::5', ports })), 'replica 0: running on nas at [fd00::5]:32768 -> 80/tcp');
  assert.equal(describeReplica(rep(1, { state: 'unassigned', nodeId: null, nodeName: undefined, reason: 'no node has label gpu=yes' })), 'replica 1: waiting for a node: no node has label gpu=yes');
  assert.equal(describeReplica(rep(0, { state: 'pending' })), 'replica 0: assigned to nas');
  assert.equal(describeReplica(rep(0, { state: 'starting', nodeName: undefined, nodeId: 'abcdefghijklmnopq' })), 'replica 0: starting on abcdefghijkl');
  assert.equal(describeReplica(rep(0, { state: 'failed', reason: 'image not found' })), 'replica 0: failed on nas: image not found');
  assert.equal(describeReplica(rep(0, { state: 'exited', reason: 'exit code 1', restarts: 2 })), 'replica 0: exited on nas: exit code 1 (2 restarts)');
});

test('a line only when a replica really changes', () => {
  const a = rep(0, { state: 'pulling', progress: '1 MB / 40 MB' });
  assert.equal(describeReplicaChange(undefined, a), 'replica 0: pulling on nas (1 MB / 40 MB)');
  assert.equal(describeReplicaChange(a, { ...a, progress: '2 MB / 40 MB' }), undefined);
  assert.equal(describeReplicaChange(a, { ...a, state: 'starting' }), 'replica 0: starting on nas');
  assert.equal(describeReplicaChange(a, { ...a, nodeId: 'id-pi', nodeName: 'pi' }), 'replica 0: pulling on pi (1 MB / 40 MB)');
  assert.equal(describeReplicaChange(a, undefined), 'replica 0: removed');
  const r = rep(0, { addr: '10.0.0.1', ports: [{ container: 80, protocol: 'tcp', hostPort: 1 }] });
  assert.equal(describeReplicaChange(r, { ...r, since: 5 }), undefined);
  assert.match(describeReplicaChange(r, { ...r, restarts: 1 })!, /running on nas/);
});

test('rollout verdicts', () => {
  assert.deepEqual(rolloutVerdict(viewOf({ replicas: 2 }, [rep(0), rep(1, { nodeName: 'pi' })]), 1), { kind: 'done' });
  assert.deepEqual(rolloutVerdict(viewOf({ replicas: 0 }, []), 1), { kind: 'done' });
  assert.deepEqual(rolloutVerdict(viewOf({ replicas: 2 }, [rep(0), rep(1, { state: 'pulling', progress: '1 MB / 2 MB' })]), 1), {
    kind: 'waiting',
    pending: ['replica 1 (pulling on nas, 1 MB / 2 MB)'],
  });
  assert.deepEqual(rolloutVerdict(viewOf({ replicas: 2 }, [rep(0)]), 1), { kind: 'waiting', pending: ['1 replica(s) not scheduled yet'] });
  // an update: old-generation replicas do not count
  assert.deepEqual(rolloutVerdict(viewOf({ replicas: 1, generation: 2 }, [rep(0)]), 2), { kind: 'waiting', pending: ['replica 0 (running on nas, still generation 1)'] });
  assert.deepEqual(rolloutVerdict(viewOf({ replicas: 1, generation: 2 }, [rep(0, { generation: 2 })]), 2), { kind: 'done' });
  assert.deepEqual(rolloutVerdict(viewOf({ replicas: 1 }, [rep(0, { state: 'failed', reason: 'pull access denied' })]), 1), { kind: 'failed', message: 'replica 0: failed on nas: pull access denied' });
  assert.equal(rolloutVerdict(viewOf({ replicas: 1, generation: 2 }, [rep(0, { state: 'failed' })]), 2).kind, 'waiting', 'an old replica failing is not the new one failing');
  assert.equal(rolloutVerdict(viewOf({ replicas: 1, restart: 'no' }, [rep(0, { state: 'exited' })]), 1).kind, 'failed');
  assert.equal(rolloutVerdict(viewOf({ replicas: 1 }, [rep(0, { state: 'exited' })]), 1).kind, 'waiting');
  assert.deepEqual(rolloutVerdict(viewOf({ replicas: 1 }, [rep(0, { state: 'unassigned', nodeId: null, reason: 'no node matches node=nas' })]), 1), {
    kind: 'unplaceable',
    message: 'replica 0 cannot be placed: no node matches node=nas',
  });
  assert.deepEqual(rolloutVerdict(viewOf({ replicas: 2 }, [rep(0)], 'only 1 node is active'), 1), { kind: 'unplaceable', message: 'cannot place every replica: only 1 node is active' });
});

test('service table and detail', () => {
  const web = viewOf({ name: 'web', replicas: 3 }, [rep(0, { nodeName: 'nas' }), rep(1), rep(2, { state: 'pulling', nodeName: 'pi', nodeId: 'id-pi' })]);
  const db = viewOf({ name: 'db', image: 'postgres:16', ports: [], replicas: 1 }, [rep(0, { state: 'unassigned', nodeId: null, reason: 'no node has label disk=ssd' })], 'no node has label disk=ssd');
  assert.equal(
    renderServiceTable([web, db]),
    [
      'NAME  IMAGE        REPLICAS  NODES                PORTS           PENDING',
      'db    postgres:16  0/1       -                    -               no node has label disk=ssd',
      'web   nginx:1.27   2/3       nas×2, pi (pulling)  80/tcp, 53/udp',
    ].join('\n'),
  );
  assert.equal(summariseNodes([rep(0), rep(1, { nodeName: 'pi', state: 'starting' }), rep(2, { nodeName: 'pi', state: 'starting' })]), 'nas, pi×2 (starting)');
  assert.match(renderServiceTable([]), /^no services yet/);

  const now = 1000 + 90_000;
  const detail = renderServiceDetail(
    viewOf({ name: 'web', replicas: 2, generation: 2, memoryBytes: 512 * 1024 ** 2, command: ['sh', '-c', 'echo hi'] }, [
      rep(0, { generation: 2, addr: '192.168.1.5', ports: [{ container: 80, protocol: 'tcp', hostPort: 32768 }], since: 1000, restarts: 1 }),
      rep(1, { state: 'pulling', progress: '12 MB / 40 MB', since: now - 5000 }),
    ]),
    now,
  );
  assert.match(detail, /^name +web$/m);
  assert.match(detail, /^command +sh -c "echo hi"$/m);
  assert.match(detail, /^replicas +1\/2 running$/m);
  assert.match(detail, /^memory +512MiB$/m);
  assert.match(detail, /^cpus +1$/m);
  assert.match(detail, /^env +A=1 B=2$/m);
  assert.match(detail, /^created +1970-01-01T00:00:01\.000Z \(1m30s ago\)$/m);
  assert.match(detail, /^SLOT  NODE  STATE\s+ADDRESS\s+RESTARTS  SINCE  REASON$/m);
  assert.match(detail, /^0 +nas +running +192\.168\.1\.5:32768->80\/tcp +1 +1m30s$/m);
  assert.match(detail, /^1 +nas +pulling \(gen 1\) +- +0 +5s +12 MB \/ 40 MB$/m);
});

test('watchRollout prints each change and ends when every replica runs', async () => {
  const seq: ServiceView[] = [
    viewOf({ replicas: 2 }, []),
    viewOf({ replicas: 2 }, [rep(0, { state: 'pending' }), rep(1, { state: 'unassigned', nodeId: null })]),
    viewOf({ replicas: 2 }, [rep(0, { state: 'pulling', progress: '1 MB / 4 MB' }), rep(1, { state: 'pending', nodeName: 'pi' })]),
    viewOf({ replicas: 2 }, [rep(0, { state: 'pulling', progress: '2 MB / 4 MB' }), rep(1, { state: 'pending', nodeName: 'pi' })]),
    viewOf({ replicas: 2 }, [rep(0, { addr: '10.0.0.1', ports: [{ container: 80, protocol: 'tcp', hostPort: 30000 }] }), rep(1, { nodeName: 'pi' })]),
  ];
  const lines: string[] = [];
  let i = 0;
  let t = 0;
  const result = await watchRollout({ fetchView: async () => seq[Math.min(i++, seq.length - 1)]!, generation: 1, timeoutMs: 60_000, intervalMs: 0, write: (l) => lines.push(l), now: () => (t += 100) });
  assert.equal(result.outcome, 'done');
  assert.deepEqual(lines, [
    'replica 0: assigned to nas',
    'replica 1: waiting for a node',
    'replica 0: pulling on nas (1 MB / 4 MB)',
    'replica 1: assigned to pi',
    'replica 0: running on nas at 10.0.0.1:30000 -> 80/tcp',
    'replica 1: running on pi',
  ]);
});

test('watchRollout gives up on a failure, on "no node can take it" that lasts, and at the timeout', async () => {
  const run = (views: ServiceView[], timeoutMs = 60_000) => {
    let i = 0;
    let t = 0;
    return watchRollout({ fetchView: async () => views[Math.min(i++, views.length - 1)]!, generation: 1, timeoutMs, intervalMs: 0, unplaceableGraceMs: 1000, write: () => undefined, now: () => (t += 250) });
  };
  await assert.rejects(run([viewOf({ replicas: 1 }, [rep(0, { state: 'failed', reason: 'manifest unknown' })])]), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.equal(err.code, 'service_failed');
    assert.equal(err.message, 'web did not start: replica 0: failed on nas: manifest unknown (see warren service inspect web)');
    return true;
  });
  await assert.rejects(run([viewOf({ replicas: 1 }, [rep(0, { state: 'unassigned', nodeId: null, reason: 'no node matches node=nas' })])]), /^UserError: web: replica 0 cannot be placed: no node matches node=nas/);
  await assert.rejects(run([viewOf({ replicas: 1 }, [rep(0, { state: 'pulling', progress: '1 MB / 9 MB' })])], 2000), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.equal(err.code, 'timeout');
    assert.match(err.message, /^timed out after 2s waiting for web; still pending: replica 0 \(pulling on nas, 1 MB \/ 9 MB\)/);
    return true;
  });
  // an interrupted watch returns quietly
  const controller = new AbortController();
  controller.abort();
  const r = await watchRollout({ fetchView: async () => viewOf({ replicas: 1 }, []), generation: 1, timeoutMs: 60_000, write: () => undefined, signal: controller.signal });
  assert.equal(r.outcome, 'interrupted');
});

test('drain progress: announce what must move, then where it went', () => {
  const node = { nodeId: 'id-nas', name: 'nas', draining: true };
  const before = [viewOf({ name: 'web', replicas: 2 }, [rep(0), rep(1, { nodeId: 'id-pi', nodeName: 'pi' })]), viewOf({ name: 'db', replicas: 1 }, [rep(0)])];
  const first = drainProgress(new Set(), before, node);
  assert.deepEqual(first, { lines: ['moving db/0 off nas...', 'moving web/0 off nas...'], remaining: ['db/0', 'web/0'] });
  const after = [
    viewOf({ name: 'web', replicas: 2 }, [rep(0, { nodeId: 'id-pi', nodeName: 'pi', state: 'pending' }), rep(1, { nodeId: 'id-pi', nodeName: 'pi' })]),
    viewOf({ name: 'db', replicas: 1 }, [rep(0, { nodeId: null, state: 'unassigned', reason: 'needs node=nas' })]),
  ];
  assert.deepEqual(drainProgress(new Set(first.remaining), after, node), {
    lines: ['db/0 cannot be placed on another node: needs node=nas', 'web/0 moved to pi (pending)'],
    remaining: [],
  });
  assert.deepEqual(drainProgress(new Set(['gone/0']), [], node).lines, ['gone/0 removed']);
});

test('--timeout is seconds', () => {
  assert.equal(parseTimeout(undefined), 120_000);
  assert.equal(parseTimeout('1.5'), 1500);
  assert.throws(() => parseTimeout('0'), /--timeout must be a number of seconds greater than 0, got "0"/);
  assert.throws(() => parseTimeout('soon'), /--timeout must be/);
});

test('httpsRedirect: optional boolean, not a container setting, sent only when set', () => {
  assert.equal(parseServiceInput({ name: 'web', image: 'nginx', httpsRedirect: true }).httpsRedirect, true);
  assert.equal('httpsRedirect' in parseServiceInput({ name: 'web', image: 'nginx', httpsRedirect: false }), false, 'false is the default: not stored');
  rejects(() => parseServiceInput({ name: 'web', image: 'nginx', httpsRedirect: 'yes' }), /^httpsRedirect must be true or false, got "yes"/);
  assert.deepEqual(parseServicePatch({ httpsRedirect: false }), { httpsRedirect: false });
  const s = base();
  const on = applyPatch(s, { httpsRedirect: true }, 2000);
  assert.equal(on.httpsRedirect, true);
  assert.equal(on.generation, s.generation, 'the containers stay');
  assert.equal('httpsRedirect' in applyPatch(on, { httpsRedirect: false }, 3000), false);
  // the CLI: --https-redirect on create; on update only a real change is sent
  const input = serviceInputFromFlags('web', { image: 'nginx', httpsRedirect: true });
  assert.equal(input.httpsRedirect, true);
  assert.deepEqual(parseServiceInput(serviceInputBody(input)), input);
  assert.equal('httpsRedirect' in serviceInputBody(serviceInputFromFlags('web', { image: 'nginx' })), false, 'an older agent would refuse the field');
  assert.deepEqual(servicePatchFromFlags(on, { httpsRedirect: true }), {});
  assert.deepEqual(servicePatchFromFlags(on, { httpsRedirect: false }), { httpsRedirect: false });
  assert.deepEqual(servicePatchBody({ httpsRedirect: false }), { httpsRedirect: false });
});
