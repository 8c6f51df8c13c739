import { test } from 'node:test';
import assert from 'node:assert/strict';
import { project, refused } from '../helpers/compose.ts';

const base = `
services:
  web:
    image: nginx:1.27
    command: ["echo", "base"]
    environment:
      A: "1"
      B: "2"
    ports:
      - "8080:80"
      - "8443:443"
    volumes:
      - data:/data
      - logs:/logs
    cap_add: [NET_ADMIN]
    labels: [a=1]
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
volumes:
  data:
  logs:
  other:
`;

const svc = (r: ReturnType<typeof project>, name = 'web') => r.model.services.find((s) => s.name === name)!;

test('mappings merge key by key, the later file wins', () => {
  const r = project({ 'compose.yaml': base, 'override.yaml': 'services:\n  web:\n    image: nginx:1.28\n    environment:\n      - B=20\n      - C=3\n' });
  const web = svc(r);
  assert.equal(web.image, 'nginx:1.28');
  assert.deepEqual(web.environment, { A: '1', B: '20', C: '3' });
});

test('command, entrypoint and healthcheck.test are replaced, not appended', () => {
  const r = project({ 'compose.yaml': base, 'o.yaml': 'services:\n  web:\n    command: ["echo", "over"]\n    healthcheck:\n      test: ["CMD", "false"]\n' });
  assert.deepEqual(svc(r).command, ['echo', 'over']);
  assert.deepEqual(svc(r).healthcheck, { test: ['CMD', 'false'], intervalMs: 10_000 });
});

test('other sequences append', () => {
  const r = project({ 'compose.yaml': base, 'o.yaml': 'services:\n  web:\n    cap_add: [SYS_TIME]\n' });
  assert.deepEqual(svc(r).capAdd, ['NET_ADMIN', 'SYS_TIME']);
});

test('ports merge by (ip, target, published, protocol); volumes by target', () => {
  const r = project({ 'compose.yaml': base, 'o.yaml': 'services:\n  web:\n    ports: ["8080:80", "9000:90"]\n    volumes: ["other:/data", "/srv/x:/x"]\n' });
  assert.deepEqual(svc(r).ports.map((p) => `${p.published}:${p.target}`), ['8080:80', '8443:443', '9000:90']);
  assert.deepEqual(
    svc(r).mounts.map((m) => `${'source' in m ? m.source : ''}:${m.target}`),
    ['other:/data', 'logs:/logs', '/srv/x:/x'],
  );
});

test('!reset removes a value and !override replaces it without merging', () => {
  const r = project({ 'compose.yaml': base, 'o.yaml': 'services:\n  web:\n    ports: !override ["1234:80"]\n    cap_add: !reset []\n    environment:\n      A: !reset null\n' });
  assert.deepEqual(svc(r).ports.map((p) => p.published), [1234]);
  assert.equal(svc(r).capAdd, undefined);
  assert.deepEqual(svc(r).environment, { B: '2' });
});

test('list and mapping forms of environment, labels and depends_on merge with each other', () => {
  const r = project({
    'compose.yaml': 'services:\n  db:\n    image: postgres\n  web:\n    image: nginx\n    labels: {a: "1"}\n    depends_on: [db]\n',
    'o.yaml': 'services:\n  web:\n    labels: ["b=2"]\n    depends_on:\n      db:\n        condition: service_healthy\n',
  });
  assert.deepEqual(svc(r).labels, { a: '1', b: '2' });
  assert.deepEqual(svc(r).dependsOn, [{ service: 'db', condition: 'service_healthy', required: true, restart: false }]);
});

test('a later file may add a service and top-level volumes', () => {
  const r = project({ 'compose.yaml': base, 'o.yaml': 'services:\n  cache:\n    image: redis:7\n    volumes: [cache:/data]\nvolumes:\n  cache:\n' });
  assert.deepEqual(r.model.services.map((s) => s.name), ['web', 'cache']);
  assert.deepEqual(r.model.volumes.map((v) => v.name), ['data', 'logs', 'other', 'cache']);
});

test('each file is interpolated before the merge, with the shell over .env', () => {
  const r = project(
    { 'compose.yaml': 'services:\n  web:\n    image: nginx:${TAG}\n    environment: {X: "${X}", Y: "${Y:-dy}"}\n' },
    { envFile: { path: '/home/me/app/.env', text: 'TAG=1.27\nX=from-dotenv\nY=\n' }, environment: { X: 'from-shell' } },
  );
  assert.equal(svc(r).image, 'nginx:1.27');
  assert.deepEqual(svc(r).environment, { X: 'from-shell', Y: 'dy' });
});

test('YAML anchors and merge keys: the mapping\'s own keys win, earlier merged maps over later ones', () => {
  const r = project({
    'compose.yaml': `
x-a: &a
  image: a:1
  restart: always
  environment: {FROM: a}
x-b: &b
  image: b:1
  user: "1000"
services:
  web:
    <<: [*a, *b]
    restart: "no"
`,
  });
  const web = svc(r);
  assert.equal(web.image, 'a:1');
  assert.equal(web.user, '1000');
  assert.equal(web.restart, 'no');
  assert.deepEqual(web.environment, { FROM: 'a' });
});

test('an error in an override file names that file and line', () => {
  const lines = refused({ 'compose.yaml': base, 'o.yaml': 'services:\n  web:\n    imagee: x\n' });
  assert.deepEqual(lines, ['/home/me/app/o.yaml:3: services.web.imagee: unknown key "imagee" (did you mean "image"?)']);
});

test('extends: a service of the same file, merged by the -f rules; chains', () => {
  const r = project({
    'compose.yaml': `
services:
  base:
    image: app:1
    environment: {A: "1", B: "2"}
    ports: ["80"]
    command: ["run", "base"]
  mid:
    extends: base
    environment: {B: "mid"}
  web:
    extends: {service: mid}
    command: ["run", "web"]
    ports: ["90"]
`,
  });
  const web = svc(r, 'web');
  assert.equal(web.image, 'app:1');
  assert.deepEqual(web.environment, { A: '1', B: 'mid' });
  assert.deepEqual(web.command, ['run', 'web']);
  assert.deepEqual(web.ports.map((p) => p.target), [80, 90]);
  assert.deepEqual(svc(r, 'base').environment, { A: '1', B: '2' }, 'the base itself is unchanged');
});

test('extends: a service of another file (read by the caller), interpolated too', () => {
  const r = project(
    { 'compose.yaml': 'services:\n  web:\n    extends:\n      file: common.yml\n      service: webapp\n    environment: {LOCAL: "1"}\n' },
    { extraFiles: { '/home/me/app/common.yml': 'services:\n  webapp:\n    image: "app:${TAG:-2}"\n    environment: {COMMON: "1"}\n' } },
  );
  assert.equal(svc(r).image, 'app:2');
  assert.deepEqual(svc(r).environment, { COMMON: '1', LOCAL: '1' });
  assert.deepEqual(r.model.services.map((s) => s.name), ['web'], 'the other file\'s services are not part of the stack');
});

test('extends: a cycle, a missing service or file, a bad form', () => {
  assert.deepEqual(refused({ 'compose.yaml': 'services:\n  a:\n    extends: b\n  b:\n    extends: a\n' }), [
    '/home/me/app/compose.yaml:5: services.b.extends: extends cycle: a -> b -> a',
    '/home/me/app/compose.yaml:3: services.a.extends: extends cycle: b -> a -> b',
  ]);
  assert.deepEqual(refused({ 'compose.yaml': 'services:\n  a:\n    extends: nope\n' }), ['/home/me/app/compose.yaml:3: services.a.extends: there is no service "nope" to extend']);
  assert.deepEqual(refused({ 'compose.yaml': 'services:\n  a:\n    extends: {file: x.yml, service: b}\n' }), ['/home/me/app/compose.yaml:3: services.a.extends: /home/me/app/x.yml: no such file']);
  assert.deepEqual(refused({ 'compose.yaml': 'services:\n  a:\n    extends: {servce: b}\n' }), ['/home/me/app/compose.yaml:3: services.a.extends: must be a service name or { service: NAME, file: PATH }']);
});
