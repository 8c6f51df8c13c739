/** Bad compose input: refused with one line per problem, naming the file, the line and the key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { project, refused, warningLines } from '../helpers/compose.ts';
import { warrenPorts } from '../../src/core/compose/validate.ts';

const F = '/home/me/app/compose.yaml';
const one = (text: string, more = {}) => refused({ 'compose.yaml': text }, more);

test('YAML syntax errors name the line', () => {
  const lines = one('services:\n  web:\n    image: nginx\n    ports: [80\n  db:\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, new RegExp(`^${F}:\\d+: YAML syntax error: `));
  const dup = one('services:\n  web:\n    image: nginx\n    image: httpd\n');
  assert.match(dup[0]!, new RegExp(`^${F}:4: YAML syntax error: .*unique`));
  const tab = one('services:\n\tweb:\n');
  assert.match(tab[0]!, new RegExp(`^${F}:2: YAML syntax error`));
});

test('unknown keys at every level, with a suggestion', () => {
  assert.deepEqual(one('servies:\n  web:\n    image: nginx\n'), [`${F}:1: unknown top-level key "servies" (did you mean "services"?)`]);
  assert.deepEqual(one('services:\n  web:\n    image: nginx\n    enviroment: {A: 1}\n'), [`${F}:4: services.web.enviroment: unknown key "enviroment" (did you mean "environment"?)`]);
  assert.deepEqual(one('services:\n  web:\n    image: nginx\n    healthcheck:\n      test: ["CMD", "true"]\n      intervall: 5s\n'), [
    `${F}:6: services.web.healthcheck.intervall: unknown key "intervall" (did you mean "interval"?)`,
  ]);
  assert.deepEqual(one('services:\n  web:\n    image: nginx\n    ports:\n      - target: 80\n        publised: 8080\n'), [
    `${F}:6: services.web.ports[0].publised: unknown key "publised" (did you mean "published"?)`,
  ]);
  assert.deepEqual(one('services:\n  web:\n    image: nginx\n    deploy:\n      resources:\n        limits:\n          memroy: 1g\n'), [
    `${F}:7: services.web.deploy.resources.limits.memroy: unknown key "memroy" (did you mean "memory"?)`,
  ]);
  assert.deepEqual(one('services:\n  web:\n    image: nginx\n    frobnicate: true\n'), [`${F}:4: services.web.frobnicate: unknown key "frobnicate"`]);
});

test('x- extensions are allowed at the top level and in services', () => {
  const r = project({ 'compose.yaml': 'x-common: &c {restart: always}\nservices:\n  web:\n    image: nginx\n    x-note: anything\n' });
  assert.equal(r.model.services[0]!.name, 'web');
  assert.deepEqual(r.warnings, []);
});

test('build: without image is refused with how to build and load the image; with image it is ignored with a warning', () => {
  const lines = one('services:\n  web:\n    build: .\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, new RegExp(`^${F}:3: services.web.build: not supported: Warren runs images and does not build them: build the image yourself \\(docker build -t NAME \\.\\), then load it on each node \\(docker save NAME \\| ssh node docker load\\) or push it to a registry`));
  const r = project({ 'compose.yaml': 'services:\n  web:\n    image: me/web:1\n    build: .\n' });
  assert.deepEqual(warningLines(r), [`${F}:4: services.web.build: ignored: Warren runs the image given by image: and does not build it`]);
});

test('a missing required variable names the variable, the message and the line', () => {
  assert.deepEqual(one('services:\n  db:\n    image: postgres\n    environment:\n      PASSWORD: ${DB_PASS:?set DB_PASS in .env}\n'), [
    `${F}:5: services.db.environment.PASSWORD: required variable DB_PASS is missing: set DB_PASS in .env`,
  ]);
  assert.deepEqual(one('services:\n  db:\n    image: postgres\n    command: ["x", "${A?}"]\n'), [`${F}:4: services.db.command[1]: required variable A is missing`]);
  // set but empty: only the :? form refuses it
  assert.deepEqual(one('services:\n  db:\n    image: postgres:${TAG:?}\n', { environment: { TAG: '' } }), [`${F}:3: services.db.image: required variable TAG is empty`]);
});

test('an unset variable without default is a warning and becomes ""', () => {
  const r = project({ 'compose.yaml': 'services:\n  web:\n    image: nginx\n    environment:\n      A: "${NOPE}"\n      B: "x${NOPE}"\n' });
  assert.deepEqual(r.model.services[0]!.environment, { A: '', B: 'x' });
  assert.deepEqual(warningLines(r), [`${F}:5: services.web.environment.A: variable NOPE is not set; using "" (set it in the environment, in .env or with --env-file)`]);
});

test('port conflicts inside the stack and with Warren\'s own ports', () => {
  const text = 'services:\n  a:\n    image: nginx\n    ports: ["8080:80", "53:53/udp"]\n  b:\n    image: nginx\n    ports:\n      - "8080:8080"\n      - "53:53/tcp"\n      - "127.0.0.1:9000:80"\n  c:\n    image: nginx\n    ports: ["127.0.0.2:9000:80", "9000:90"]\n';
  assert.deepEqual(one(text), [
    `${F}:8: services.b.ports[0]: host port 8080/tcp is published twice (also by service a: 8080:80/tcp)`,
    `${F}:13: services.c.ports[1]: host port 9000/tcp is published twice (also by service b: 127.0.0.1:9000:80/tcp)`,
  ]);
  assert.deepEqual(one('services:\n  a:\n    image: nginx\n    ports: ["7370:80"]\n'), [
    `${F}:4: services.a.ports[0]: host port 7370/tcp is Warren's HTTP API port: publish another host port (e.g. "17370:80") or start the agents with another --http-port`,
  ]);
});

test('Warren\'s HTTPS port and another node\'s ports are refused too, naming the node and its flag', () => {
  assert.deepEqual(one('services:\n  a:\n    image: nginx\n    ports: ["7443:443"]\n'), [
    `${F}:4: services.a.ports[0]: host port 7443/tcp is Warren's HTTPS port: publish another host port (e.g. "17443:443") or start the agents with another --https-port`,
  ]);
  const reservedPorts = [...warrenPorts(), { port: 7390, protocol: 'tcp' as const, what: "Warren's HTTP proxy", flag: '--proxy-port', node: 'n2' }];
  assert.deepEqual(one('services:\n  a:\n    image: nginx\n    ports: ["7390:80"]\n  h:\n    image: ha\n    network_mode: host\n    expose: ["7390"]\n', { reservedPorts }), [
    `${F}:4: services.a.ports[0]: host port 7390/tcp is Warren's HTTP proxy port on node n2: publish another host port (e.g. "17390:80") or start the agent on n2 with another --proxy-port`,
    `${F}:8: services.h.expose[0]: port 7390/tcp is Warren's HTTP proxy port on node n2, and this service (network_mode: host) listens on the node's own ports: start the agent on n2 with another --proxy-port, or run the service on the stack network and publish another host port`,
  ]);
});

test('a host-network service cannot listen on Warren\'s ports or on a port the stack publishes', () => {
  const text = 'services:\n  pihole:\n    image: pihole\n    network_mode: host\n    ports: ["7353:7353/udp", "8081:80"]\n    expose: ["8080"]\n  web:\n    image: nginx\n    ports: ["8080:80"]\n';
  assert.deepEqual(one(text), [
    `${F}:5: services.pihole.ports[0]: port 7353/udp is Warren's DNS port on every node, and this service (network_mode: host) listens on the node's own ports: start the agents with another --dns-port, or run the service on the stack network and publish another host port`,
    `${F}:6: services.pihole.expose[0]: port 8080/tcp is published by service web on every node (8080:80/tcp), and this service (network_mode: host) listens on the node's own ports: publish another host port there`,
  ]);
  // its own ports are what it listens on (80 here, not 8081): told so, and nothing is refused
  const ok = project({ 'compose.yaml': 'services:\n  ha:\n    image: ha\n    network_mode: host\n    ports: ["8123:8123"]\n' });
  assert.ok(warningLines(ok).some((l) => l.startsWith(`${F}:5: services.ha.ports: with network_mode: host nothing is published`)), warningLines(ok).join('\n'));
});

test('a stack whose name would name none of several web services is told how to choose', () => {
  const two = (extra = '') => `services:\n  a:\n    image: x\n    ports: ["81:80"]\n${extra}  b:\n    image: x\n    ports: ["82:80"]\n`;
  assert.deepEqual(warningLines(project({ 'compose.yaml': two() })), [`services: several services publish TCP ports (a, b): the stack's own name names none of them; label its web service warren.web: "true"`]);
  assert.deepEqual(warningLines(project({ 'compose.yaml': two('    labels: {warren.web: "true"}\n') })), []);
});

test('depends_on: an unknown service, cycles, a dependency only in a disabled profile', () => {
  assert.deepEqual(one('services:\n  web:\n    image: nginx\n    depends_on: [dbb]\n  db:\n    image: postgres\n'), [
    `${F}:4: services.web.depends_on.dbb: depends on "dbb", which is not a service of this file (did you mean "db"?)`,
  ]);
  assert.deepEqual(one('services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on:\n      c: {condition: service_healthy}\n  c:\n    image: x\n    depends_on: [a]\n'), [
    `${F}:4: services.a.depends_on: dependency cycle: a -> b -> c -> a`,
  ]);
  assert.deepEqual(one('services:\n  a:\n    image: x\n    depends_on: [a]\n'), [`${F}:4: services.a.depends_on: dependency cycle: a -> a`]);
  assert.deepEqual(one('services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: service_ready}\n  b:\n    image: x\n'), [
    `${F}:5: services.a.depends_on.b: condition "service_ready" is not one of service_started, service_healthy, service_completed_successfully`,
  ]);
  assert.deepEqual(one('services:\n  a:\n    image: x\n    depends_on: [dbg]\n  dbg:\n    image: x\n    profiles: [debug]\n'), [
    `${F}:4: services.a.depends_on: depends on "dbg", which is only in profile(s) debug: enable one with --profile`,
  ]);
  // required: false lets it be missing
  const r = project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    depends_on:\n      gone: {condition: service_started, required: false}\n' });
  assert.deepEqual(r.model.services[0]!.dependsOn, []);
});

test('two services with one container_name', () => {
  assert.deepEqual(one('services:\n  a:\n    image: x\n    container_name: db\n  b:\n    image: x\n    container_name: db\n'), [
    `${F}:7: services.b.container_name: "db" is also the container_name of service a`,
  ]);
});

test('profiles: services of a profile run only when it is enabled', () => {
  const text = 'services:\n  a:\n    image: x\n  dbg:\n    image: x\n    profiles: [debug]\n';
  assert.deepEqual(project({ 'compose.yaml': text }).model.services.map((s) => s.name), ['a']);
  assert.deepEqual(project({ 'compose.yaml': text }, { profiles: ['debug'] }).model.services.map((s) => s.name), ['a', 'dbg']);
  assert.deepEqual(project({ 'compose.yaml': text }, { environment: { COMPOSE_PROFILES: 'other,debug' } }).model.services.map((s) => s.name), ['a', 'dbg']);
});

test('refused keys say why, one line each', () => {
  const lines = one('services:\n  a:\n    image: x\n    volumes_from: [b]\n    network_mode: "service:b"\n    secrets: [pw]\n  b:\n    image: x\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /compose.yaml:4: services.a.volumes_from: not supported: .*different machines/);
  assert.match(lines[1]!, /compose.yaml:6: services.a.secrets: not supported: /);
  assert.match(lines[2]!, /compose.yaml:5: services.a.network_mode: "service:b" is not supported \(host or bridge\): the two services may run on different machines/);
  assert.deepEqual(one('include: [other.yaml]\nservices:\n  a:\n    image: x\n'), [`${F}:1: include: not supported: not supported yet: pass the included files with -f`]);
});

test('ignored keys are warned about with the reason', () => {
  const r = project({ 'compose.yaml': 'version: "3.8"\nservices:\n  a:\n    image: x\n    tty: true\n    dns: [1.1.1.1]\n    ipc: private\n' });
  assert.deepEqual(warningLines(r), [
    `${F}:1: version: ignored: obsolete in the compose specification`,
    `${F}:5: services.a.tty: ignored: no terminal is attached under Warren`,
    `${F}:6: services.a.dns: ignored: containers use Docker's resolver on the stack network, which knows the stack's names`,
  ]);
});

test('bad values name the key and line', () => {
  assert.deepEqual(one('services:\n  a:\n    image: x\n    restart: sometimes\n'), [`${F}:4: services.a.restart: "sometimes" is not a restart policy (no, always, on-failure, unless-stopped)`]);
  assert.deepEqual(one('services:\n  a:\n    image: x\n    stop_grace_period: soon\n'), [`${F}:4: services.a.stop_grace_period: must be a duration such as 30s, 1m30s or 500ms, got "soon"`]);
  assert.deepEqual(one('services:\n  a:\n    image: x\n    volumes: [data:/data]\n'), [`${F}:4: services.a.volumes[0]: "data" is not declared in the top-level volumes: (add "volumes: { data: {} }")`]);
  assert.deepEqual(one('services:\n  a:\n    image: x\n    ports:\n      - "80:80/sctp"\n'), [`${F}:5: services.a.ports[0]: "80:80/sctp": protocol "sctp" is not supported (tcp or udp; SCTP is not)`]);
  assert.deepEqual(one('services:\n  a:\n    image: bad image\n'), [`${F}:3: services.a.image: "bad image" is not a valid image reference (no spaces): expected e.g. nginx, nginx:1.27, ghcr.io/owner/app:tag or app@sha256:<digest>`]);
  assert.deepEqual(one('services:\n  a:\n    environment: {A: 1}\n'), [`${F}:2: services.a: image is required (the Docker image to run, e.g. nginx:1.27)`]);
  assert.deepEqual(one('services:\n  a:\n    image: x\n    deploy:\n      placement:\n        constraints: [node.role==manager]\n'), [
    `${F}:6: services.a.deploy.placement.constraints: "node.role==manager": only node.hostname==NAME and node.labels.KEY==VALUE are supported`,
  ]);
  assert.deepEqual(one('services:\n  a:\n    image: x\n    command: "echo \'open"\n'), [`${F}:4: services.a.command: has a quote that is never closed`]);
});

test('names: the stack name, clashing Warren names, too long', () => {
  assert.deepEqual(one('services:\n  a:\n    image: x\n', { projectName: 'My App' }), ['-p: "My App" is not a stack name: lowercase letters, digits, "-" and "_", starting with a letter or digit']);
  assert.deepEqual(one('name: shop\nservices:\n  my_db:\n    image: x\n  my-db:\n    image: x\n'), [`${F}:5: services.my-db: "my-db" and "my_db" both become the Warren service "shop-my-db": rename one`]);
  const long = 'x'.repeat(60);
  assert.match(one(`services:\n  ${long}:\n    image: x\n`)[0]!, /is longer than 63 characters/);
  const r = project({ 'compose.yaml': 'name: my_stack\nservices:\n  Web.Front:\n    image: x\n' });
  assert.equal(r.model.services[0]!.warrenName, 'my-stack-web-front');
  assert.equal(project({ 'compose.yaml': 'services:\n  a:\n    image: x\n' }, { projectName: 'p1' }).model.name, 'p1');
  assert.equal(project({ 'compose.yaml': 'services:\n  a:\n    image: x\n' }).model.name, 'app'); // the directory
});

test('an alias bomb is refused instead of filling memory', () => {
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 8; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
  const text = `x-bomb:\n${levels.map((l) => '  ' + l).join('\n')}\nservices:\n  web:\n    image: x\n`;
  const lines = one(text);
  assert.match(lines[0]!, /more than 200000 YAML nodes \(too many aliases\)/);
});

test('an empty file and a file without services', () => {
  assert.deepEqual(one(''), [`${F}:1: the file is empty (a compose file needs at least a "services:" mapping)`]);
  assert.deepEqual(one('volumes:\n  a:\n'), [`${F}:1: services: a stack needs at least one service`]);
  assert.deepEqual(one('- a\n'), [`${F}:1: a compose file must be a mapping (services:, volumes:, ...)`]);
});

test('an alias inside the value it names is refused with its line (it used to overflow the stack)', () => {
  assert.deepEqual(one('x-a: &a\n  b: 1\n  c: *a\nservices:\n  web:\n    image: nginx\n'), [`${F}:3: YAML alias *a is inside the value it names (a cycle)`]);
  // the frigate file with its "services:" line lost: the service (and its `logging: *default-logging`) lands inside x-logging
  assert.match(one('x-l: &l\n  driver: json-file\n  web:\n    image: nginx\n    logging: *l\n')[0]!, /:5: YAML alias \*l is inside the value it names/);
  assert.match(one(`services: ${'{a: '.repeat(3000)}1${'}'.repeat(3000)}\n`)[0]!, new RegExp(`^${F}:1: `));
});

test('a replicated volume shared by services placed by different rules is warned about at the second one; same rules, local volumes and pins alike are not', () => {
  const warnsOf = (text: string) => warningLines(project({ 'compose.yaml': text })).filter((l) => l.includes('is also mounted by'));
  const two = (a: string, b: string, vol = '{}') => `services:\n  app:\n    image: x\n    volumes: [data:/d]\n${a}  cron:\n    image: x\n    volumes: [data:/d]\n${b}volumes:\n  data: ${vol}\n`;
  const lines = warnsOf(two('', '    deploy: {placement: {constraints: ["node.labels.ssd==true"]}}\n'));
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, new RegExp(`^${F}:7: services\\.cron\\.volumes: volume "data" is also mounted by service app, .*lands on another machine waits for it`));
  // a bind mount pins a service to the deploying node: a sibling under other constraints may land elsewhere
  const bind = (t: string) => t.replace('volumes: [data:/d]\n  cron', 'volumes: [data:/d, ./conf:/conf]\n  cron');
  assert.equal(warnsOf(bind(two('', '    deploy: {placement: {constraints: ["node.labels.ssd==true"]}}\n'))).length, 1);
  // ... and one under the same constraints goes with it, and is told so
  const along = project({ 'compose.yaml': bind(two('', '')) });
  assert.deepEqual(warningLines(along).filter((l) => l.includes('is also mounted by')), []);
  assert.ok(warningLines(along).some((l) => l.startsWith(`${F}:7: services.cron.volumes: shares volume "data" with service app, which a bind mount pins`)), warningLines(along).join('\n'));
  assert.deepEqual(warnsOf(two('', '')), []);
  const label = '    deploy: {placement: {constraints: ["node.labels.ssd==true"]}}\n';
  assert.deepEqual(warnsOf(two(label, label)), []);
  assert.deepEqual(warnsOf(two('', label, '{x-warren: {local: true}}')), []);
  assert.deepEqual(warnsOf(two('', label, '{external: true}')), []);
  // devices place a service on the nodes that have them: a sibling without them may land elsewhere
  const dev = '    devices: [/dev/ttyUSB0]\n';
  assert.equal(warnsOf(two(dev, '')).length, 1);
  assert.deepEqual(warnsOf(two(dev, dev)), []);
  // a device alone pins nothing to the deploying node
  assert.deepEqual(warningLines(project({ 'compose.yaml': two(dev, dev) })).filter((l) => l.includes('pins')), []);
});
