/**
 * The fixtures under test/fixtures/compose/<app>/ are written in the shape of each app's published
 * compose file (with its .env where the app ships one). Every one must be accepted, with exactly
 * the warnings listed here, and normalised as the app needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, join } from 'node:path';
import { configOf } from '../../src/stacks/read-project.ts';
import type { StackConfigResult, StackService } from '../../src/core/compose/model.ts';
import { warrenPorts } from '../../src/core/compose/validate.ts';
import { UserError } from '../../src/core/errors.ts';
import { stackServices } from '../../src/core/compose/to-services.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'compose');
const load = (app: string, env: Record<string, string> = {}) => configOf({ files: [] }, env, join(FIXTURES, app));
/** "line path" of each warning (the file is the fixture's own). */
const warned = (r: StackConfigResult) => r.warnings.map((w) => `${basename(w.at!.file)}:${w.at!.line} ${w.path}`);
const svc = (r: StackConfigResult, name: string): StackService => {
  const s = r.model.services.find((x) => x.name === name);
  assert.ok(s, `service ${name}`);
  return s;
};
const BIND = 'services.%s.volumes';

test('immich: four services, .env interpolation, depends_on, the stack name from name:', () => {
  const r = load('immich');
  assert.equal(r.model.name, 'immich');
  assert.deepEqual(r.model.services.map((s) => s.warrenName), ['immich-immich-server', 'immich-immich-machine-learning', 'immich-redis', 'immich-database']);
  assert.equal(svc(r, 'immich-server').image, 'ghcr.io/immich-app/immich-server:release');
  assert.deepEqual(svc(r, 'immich-server').aliases, ['immich-server', 'immich_server']);
  assert.deepEqual(svc(r, 'immich-server').dependsOn.map((d) => `${d.service}:${d.condition}`), ['redis:service_started', 'database:service_started']);
  assert.deepEqual(svc(r, 'redis').healthcheck, { test: ['CMD-SHELL', 'redis-cli ping || exit 1'] });
  assert.equal(svc(r, 'database').shmSizeBytes, 128 * 1024 * 1024);
  assert.equal(svc(r, 'database').environment.POSTGRES_PASSWORD, 'postgres');
  assert.equal(svc(r, 'immich-server').environment.DB_DATABASE_NAME, 'immich'); // env_file: .env
  assert.deepEqual(svc(r, 'immich-server').mounts[0], { type: 'bind', source: join(FIXTURES, 'immich', 'library'), target: '/usr/src/app/upload', readOnly: false });
  assert.deepEqual(warned(r), ['docker-compose.yml:19 services.immich-server.volumes', 'docker-compose.yml:67 services.database.volumes']);
});

test('nextcloud: required variables from .env, list environment, links ignored with a warning', () => {
  const r = load('nextcloud');
  assert.equal(r.model.name, 'nextcloud'); // the directory's name
  assert.equal(svc(r, 'db').environment.MYSQL_PASSWORD, 'nc secret');
  assert.deepEqual(svc(r, 'db').command, ['--transaction-isolation=READ-COMMITTED', '--log-bin=binlog', '--binlog-format=ROW']);
  assert.deepEqual(svc(r, 'cron').entrypoint, ['/cron.sh']);
  assert.deepEqual(svc(r, 'cron').mounts, [{ type: 'volume', source: 'nextcloud', target: '/var/www/html', readOnly: false }]);
  assert.deepEqual(warned(r), ['compose.yaml:27 services.app.links']);
  assert.match(r.warnings[0]!.message, /^ignored: /);
});

test('paperless: env_file as a string, bind mounts pin the web server', () => {
  const r = load('paperless');
  const web = svc(r, 'webserver');
  assert.equal(web.environment.PAPERLESS_SECRET_KEY, 'change-me $not-interpolated');
  assert.equal(web.environment.PAPERLESS_OCR_LANGUAGE, 'deu');
  assert.equal(web.environment.PAPERLESS_DBHOST, 'db');
  assert.equal(web.restart, 'always'); // unless-stopped
  assert.equal(web.pinnedByBindMount, true);
  assert.equal(svc(r, 'db').pinnedByBindMount, undefined);
  assert.deepEqual(warned(r), ['docker-compose.yml:38 services.webserver.volumes']);
});

test('pi-hole: 53/tcp and 53/udp, capabilities; refused when the agent serves DNS on 53', () => {
  const r = load('pihole');
  const p = svc(r, 'pihole');
  assert.deepEqual(p.ports.map((x) => `${x.published}:${x.target}/${x.protocol}`), ['53:53/tcp', '53:53/udp', '80:80/tcp', '443:443/tcp']);
  assert.deepEqual(p.capAdd, ['NET_ADMIN', 'SYS_TIME', 'SYS_NICE']);
  assert.deepEqual(warned(r), [`docker-compose.yml:24 ${BIND.replace('%s', 'pihole')}`]);
  assert.throws(
    () => configOf({ files: [], reservedPorts: warrenPorts({ dns: 53, proxy: 80 }) }, {}, join(FIXTURES, 'pihole')),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      const lines = e.message.split('\n');
      assert.equal(lines.length, 3);
      assert.match(lines[0]!, /docker-compose\.yml:8: services\.pihole\.ports\[0\]: host port 53\/tcp is Warren's DNS port: .*--dns-port/);
      assert.match(lines[1]!, /docker-compose\.yml:9: services\.pihole\.ports\[1\]: host port 53\/udp is Warren's DNS port/);
      assert.match(lines[2]!, /docker-compose\.yml:11: services\.pihole\.ports\[2\]: host port 80\/tcp is Warren's HTTP proxy port: .*--proxy-port/);
      return true;
    },
  );
});

test('home assistant: host network, privileged, devices', () => {
  const r = load('homeassistant', { TZ: 'Europe/Paris' });
  const h = svc(r, 'homeassistant');
  assert.equal(h.networkMode, 'host');
  assert.equal(h.privileged, true);
  assert.deepEqual(h.devices, [{ host: '/dev/ttyUSB0', container: '/dev/ttyUSB0', permissions: 'rwm' }]);
  assert.equal(h.environment.TZ, 'Europe/Paris'); // the shell's TZ over the default
  assert.deepEqual(warned(r), ['compose.yaml:5 services.homeassistant.volumes']);
});

test('vaultwarden: a port published on the loopback only', () => {
  const r = load('vaultwarden');
  assert.deepEqual(svc(r, 'vaultwarden').ports, [{ target: 80, protocol: 'tcp', published: 11001, hostIp: '127.0.0.1' }]);
  assert.deepEqual(svc(r, 'vaultwarden').mounts, [{ type: 'bind', source: join(FIXTURES, 'vaultwarden', 'vw-data'), target: '/data', readOnly: false }]);
  assert.deepEqual(warned(r), ['compose.yaml:9 services.vaultwarden.volumes']);
});

test('jellyfin: user, long-syntax binds with read_only, devices, extra_hosts, a udp port', () => {
  const r = load('jellyfin');
  const j = svc(r, 'jellyfin');
  assert.equal(j.user, '1000:1000');
  assert.deepEqual(j.mounts.filter((m) => m.type === 'bind' && m.readOnly).map((m) => m.target), ['/media2', '/usr/local/share/fonts/custom']);
  assert.deepEqual(j.extraHosts, ['host.docker.internal:host-gateway']);
  assert.deepEqual(j.ports.map((p) => p.protocol), ['tcp', 'udp']);
  assert.deepEqual(warned(r), ['docker-compose.yml:10 services.jellyfin.volumes']);
});

test('gitea: service_healthy, network aliases, declared networks warned about', () => {
  const r = load('gitea');
  assert.deepEqual(svc(r, 'server').dependsOn, [{ service: 'db', condition: 'service_healthy', required: true, restart: false }]);
  assert.deepEqual(svc(r, 'db').aliases, ['db', 'postgres']);
  assert.deepEqual(svc(r, 'db').healthcheck, { test: ['CMD-SHELL', 'pg_isready -U gitea'], intervalMs: 10_000, timeoutMs: 5000, retries: 5 });
  assert.deepEqual(warned(r), ['docker-compose.yml:1 networks', 'docker-compose.yml:20 services.server.volumes']);
});

test('authentik: anchors and merge keys, $$ escapes, required variables, ports from .env', () => {
  const r = load('authentik');
  const server = svc(r, 'server');
  const worker = svc(r, 'worker');
  assert.equal(server.image, 'ghcr.io/goauthentik/server:2025.6.4');
  assert.deepEqual(server.command, ['server']);
  assert.deepEqual(worker.command, ['worker']);
  assert.equal(worker.user, 'root');
  assert.equal(server.environment.AUTHENTIK_POSTGRESQL__PASSWORD, 'fYqfEgmbgGRL9Qp9Zd3pxNBXzXnw');
  assert.deepEqual(server.ports.map((p) => p.published), [8000, 9443]);
  assert.deepEqual(svc(r, 'postgresql').healthcheck!.test, ['CMD-SHELL', 'pg_isready -d ${POSTGRES_DB} -U ${POSTGRES_USER}']);
  assert.deepEqual(server.dependsOn.map((d) => d.condition), ['service_healthy', 'service_healthy']);
  // the worker's docker.sock pins it to the deploying node; the server shares its media and
  // templates volumes, so it is pinned there with it (and told so) rather than wait elsewhere
  assert.deepEqual(warned(r), ['docker-compose.yml:77 volumes.database', 'docker-compose.yml:79 volumes.redis', 'docker-compose.yml:70 services.worker.volumes', 'docker-compose.yml:57 services.server.volumes']);
  assert.match(r.warnings.at(-1)!.message, /^shares volume "media" with service worker, which a bind mount pins/);
  const placed = Object.fromEntries(stackServices(r.model, { nodeName: 'nas' }).map((s) => [s.name, s.constraints]));
  assert.deepEqual(placed['authentik-worker'], [{ kind: 'node', value: 'nas' }]);
  assert.deepEqual(placed['authentik-server'], [{ kind: 'node', value: 'nas' }]);
  assert.deepEqual(placed['authentik-redis'], []);
});

test('authentik without its .env secret: refused naming the variable and the line', () => {
  assert.throws(
    () => configOf({ files: [], envFile: join(FIXTURES, 'nextcloud', '.env') }, {}, join(FIXTURES, 'authentik')),
    (e: unknown) => e instanceof UserError && /docker-compose\.yml:9: x-authentik-env\.AUTHENTIK_SECRET_KEY: required variable AUTHENTIK_SECRET_KEY is missing: secret key required/.test(e.message.split('\n')[0]!),
  );
});

test('frigate: shm_size, stop_grace_period, tmpfs mount, ulimits, logging anchor ignored, GPU reservation warned', () => {
  const r = load('frigate');
  const f = svc(r, 'frigate');
  assert.equal(f.shmSizeBytes, 512 * 1024 * 1024);
  assert.equal(f.stopGracePeriodMs, 30_000);
  assert.equal(f.devices!.length, 4);
  assert.deepEqual(f.mounts.find((m) => m.type === 'tmpfs'), { type: 'tmpfs', target: '/tmp/cache', sizeBytes: 1_000_000_000 });
  assert.deepEqual(f.ports.map((p) => `${p.published}/${p.protocol}`), ['8971/tcp', '8554/tcp', '8555/tcp', '8555/udp']);
  assert.deepEqual(svc(r, 'mqtt').ulimits, { nofile: { soft: 20000, hard: 40000 } });
  assert.deepEqual(svc(r, 'mqtt').healthcheck!.test, ['CMD', 'mosquitto_sub', '-t', '$SYS/#', '-C', '1', '-i', 'healthcheck', '-W', '3']);
  assert.deepEqual(warned(r), ['docker-compose.yml:16 services.frigate.logging', 'docker-compose.yml:44 services.frigate.deploy.resources.reservations', 'docker-compose.yml:22 services.frigate.volumes', 'docker-compose.yml:53 services.mqtt.logging']);
});
