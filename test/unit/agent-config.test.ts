import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveAgentConfig, nodeNameFrom, DEFAULT_PORTS, DEFAULT_DETECTOR_FLAGS } from '../../src/core/agent-config.ts';
import { DEFAULT_DETECTOR_CONFIG } from '../../src/core/membership.ts';
import { parseHostPort, parsePort, urlHost, httpUrl } from '../../src/core/addresses.ts';
import { UserError } from '../../src/core/errors.ts';

/** a well-formed join token (format only) */
const TOKEN = `wrn1.${'A'.repeat(32)}.${'B'.repeat(42)}A`;
const defaults = { dataDir: '/var/lib/warren', name: 'box', bind: '192.168.1.5' };

function rejects(raw: Parameters<typeof resolveAgentConfig>[0], message: RegExp) {
  assert.throws(() => resolveAgentConfig(raw, defaults), (err: unknown) => err instanceof UserError && message.test(err.message));
}

test('defaults fill every option', () => {
  const c = resolveAgentConfig({}, defaults);
  assert.deepEqual(c, {
    dataDir: '/var/lib/warren',
    name: 'box',
    bind: '192.168.1.5',
    bindExplicit: false,
    ports: { ...DEFAULT_PORTS },
    join: [],
    open: false,
    mdns: true,
    tailscale: 'auto',
    tailnetAdmit: true,
    tailscaleCert: false,
    voters: 3,
    logLevel: 'info',
    detector: { heartbeatMs: 250, suspectAfterMs: 1000, deadAfterMs: 1850, probeTimeoutMs: 250 },
    labels: {},
    fenceAfterMs: 8000,
    snapshotIntervalMs: 2000,
    volumeReserveBytes: 2 ** 30,
    scrubIntervalMs: 86_400_000,
    proxyWorkers: 0,
    proxyWorkersOnDemand: true,
    domain: 'warren.internal',
    autoPorts: { proxy: true, dns: true, https: true },
    hookTimeoutMs: 30_000,
    restartGraceMs: 30_000,
  });
  assert.deepEqual(DEFAULT_PORTS, { http: 7370, p2p: 7371, etcdClient: 7372, etcdPeer: 7373, proxy: 7380, dns: 7353, https: 7443 });
});

test('every flag is parsed', () => {
  const c = resolveAgentConfig(
    {
      dataDir: '/d', name: 'n-1', bind: '::1', join: '10.0.0.1, [fe80::1]:9000,host.lan:7000', token: TOKEN, open: true, mdns: false,
      tailscale: 'off', tailnetAdmit: 'off', tailscaleCert: 'on', voters: '5', logLevel: 'debug', httpPort: '8000', p2pPort: '8001', etcdClientPort: '8002', etcdPeerPort: '8003', proxyPort: '8080', dnsPort: '5353', httpsPort: '8443',
    },
    defaults,
  );
  assert.equal(c.bind, '::1');
  assert.equal(c.bindExplicit, true);
  assert.deepEqual(c.join, [{ host: '10.0.0.1', port: 7370 }, { host: 'fe80::1', port: 9000 }, { host: 'host.lan', port: 7000 }]);
  assert.deepEqual(c.ports, { http: 8000, p2p: 8001, etcdClient: 8002, etcdPeer: 8003, proxy: 8080, dns: 5353, https: 8443 });
  assert.equal(c.token, TOKEN);
  assert.equal(c.voters, 5);
  assert.equal(c.tailnetAdmit, false);
  assert.equal(c.tailscaleCert, true);
  assert.equal(c.tailscale, 'off');
  assert.equal(c.mdns, false);
  assert.equal(c.open, true);
  assert.equal(c.logLevel, 'debug');
  assert.equal(resolveAgentConfig({ hookTimeoutMs: '1500' }, defaults).hookTimeoutMs, 1500);
  assert.equal(resolveAgentConfig({ restartGraceMs: '0' }, defaults).restartGraceMs, 0, 'a stop fails over at once');
  assert.equal(resolveAgentConfig({ restartGraceMs: ' 600000 ' }, defaults).restartGraceMs, 600_000);
});

test('bad values are refused with a line that names the flag', () => {
  rejects({ name: 'Bad_Name' }, /--name "Bad_Name" must be a DNS label/);
  rejects({ name: '-x' }, /--name/);
  rejects({ name: 'a'.repeat(64) }, /--name/);
  rejects({ bind: 'localhost' }, /--bind "localhost" must be an IPv4 or IPv6 address/);
  rejects({ httpPort: '0' }, /--http-port must be from 1 to 65535, got 0/);
  rejects({ p2pPort: 'abc' }, /--p2p-port must be a number/);
  rejects({ etcdPeerPort: '65536' }, /--etcd-peer-port/);
  rejects({ httpPort: '7371' }, /--p2p-port and --http-port are both 7371/);
  rejects({ tailscale: 'maybe' }, /--tailscale must be auto, on or off/);
  rejects({ tailnetAdmit: 'maybe' }, /--tailnet-admit must be on or off/);
  rejects({ tailscaleCert: 'yes' }, /--tailscale-cert must be on or off/);
  rejects({ token: 'hello' }, /--token: /);
  rejects({ voters: '2' }, /--voters must be 3 or 5, got "2"/);
  rejects({ voters: '4' }, /--voters/);
  rejects({ hookTimeoutMs: '0' }, /--hook-timeout-ms must be from 1 to/);
  rejects({ hookTimeoutMs: '2s' }, /--hook-timeout-ms must be a whole number of milliseconds/);
  for (const v of ['600001', '-1', '30s', '']) rejects({ restartGraceMs: v }, /--restart-grace-ms must be a whole number of milliseconds from 0 to 600000/);
  rejects({ logLevel: 'loud' }, /--log-level must be one of/);
  rejects({ join: 'a:b' }, /port in "a:b" must be a number/);
  rejects({ join: 'host:1:2:3/x' }, /bad address/);
  rejects({ token: '  ' }, /--token must not be empty/);
  rejects({ dataDir: ' ' }, /--data-dir must not be empty/);
});

test('failure-detector flags: parsed, defaults match the detector, bad values refused', () => {
  assert.deepEqual(DEFAULT_DETECTOR_FLAGS, {
    heartbeatMs: DEFAULT_DETECTOR_CONFIG.heartbeatIntervalMs,
    suspectAfterMs: DEFAULT_DETECTOR_CONFIG.suspectAfterMs,
    deadAfterMs: DEFAULT_DETECTOR_CONFIG.deadAfterMs,
    probeTimeoutMs: DEFAULT_DETECTOR_CONFIG.probeTimeoutMs,
  });
  const c = resolveAgentConfig({ heartbeatMs: '100', suspectAfterMs: '500', deadAfterMs: '900', probeTimeoutMs: '120' }, defaults);
  assert.deepEqual(c.detector, { heartbeatMs: 100, suspectAfterMs: 500, deadAfterMs: 900, probeTimeoutMs: 120 });
  // one flag alone keeps the other defaults
  assert.deepEqual(resolveAgentConfig({ deadAfterMs: '5000' }, defaults).detector, { heartbeatMs: 250, suspectAfterMs: 1000, deadAfterMs: 5000, probeTimeoutMs: 250 });
  // commander hands the defaults over as strings: they resolve to the same figures
  assert.deepEqual(resolveAgentConfig({ heartbeatMs: '250', suspectAfterMs: '1000', deadAfterMs: '1850', probeTimeoutMs: '250' }, defaults).detector, DEFAULT_DETECTOR_FLAGS);

  rejects({ heartbeatMs: '0' }, /^--heartbeat-ms must be from 1 to 3600000 ms, got 0$/);
  rejects({ heartbeatMs: '-5' }, /^--heartbeat-ms must be a whole number of milliseconds, got "-5"$/);
  rejects({ suspectAfterMs: '1.5' }, /^--suspect-after-ms must be a whole number of milliseconds/);
  rejects({ deadAfterMs: 'soon' }, /^--dead-after-ms must be a whole number of milliseconds, got "soon"$/);
  rejects({ probeTimeoutMs: '' }, /^--probe-timeout-ms must be a whole number/);
  rejects({ probeTimeoutMs: '99999999' }, /^--probe-timeout-ms must be from 1 to 3600000 ms/);
  rejects({ deadAfterMs: '1000' }, /^--dead-after-ms \(1000\) must be greater than --suspect-after-ms \(1000\)/);
  rejects({ suspectAfterMs: '2000' }, /^--dead-after-ms \(1850\) must be greater than --suspect-after-ms \(2000\)/);
  rejects({ heartbeatMs: '1000' }, /^--suspect-after-ms \(1000\) must be greater than --heartbeat-ms \(1000\)/);
});

test('node names come from hostnames', () => {
  assert.equal(nodeNameFrom('My_Laptop.local'), 'my-laptop');
  assert.equal(nodeNameFrom('___'), 'node');
  assert.equal(nodeNameFrom('x'.repeat(80)).length, 63);
});

test('addresses', () => {
  assert.equal(urlHost('::1'), '[::1]');
  assert.equal(urlHost('10.1.2.3'), '10.1.2.3');
  assert.equal(httpUrl('::1', 80), 'http://[::1]:80');
  assert.deepEqual(parseHostPort('[::1]', 5), { host: '::1', port: 5 });
  assert.deepEqual(parseHostPort('::1', 5), { host: '::1', port: 5 });
  assert.deepEqual(parseHostPort(' a.b:9 ', 5), { host: 'a.b', port: 9 });
  assert.throws(() => parseHostPort('', 5), /empty address/);
  assert.equal(parsePort('65535', 'p'), 65535);
});

test('runtime and routing flags: labels, fence grace, domain; explicit proxy/DNS ports turn the 80/53 attempt off', () => {
  const c = resolveAgentConfig({ label: ['zone=attic', 'gpu=yes'], fenceAfterMs: '3000', domain: 'Home.Example.', proxyPort: '8080' }, defaults);
  assert.deepEqual(c.labels, { zone: 'attic', gpu: 'yes' });
  assert.equal(c.fenceAfterMs, 3000);
  assert.equal(c.domain, 'home.example');
  assert.deepEqual(c.autoPorts, { proxy: false, dns: true, https: true });
  assert.throws(() => resolveAgentConfig({ label: ['nokey'] }, defaults), /--label must be KEY=VALUE/);
  assert.throws(() => resolveAgentConfig({ fenceAfterMs: 'soon' }, defaults), /--fence-after-ms must be a whole number/);
  assert.equal(resolveAgentConfig({ snapshotIntervalMs: '500' }, defaults).snapshotIntervalMs, 500);
  assert.throws(() => resolveAgentConfig({ snapshotIntervalMs: '0' }, defaults), /--snapshot-interval-ms must be from 1/);
  assert.equal(resolveAgentConfig({ volumeReserve: '512MiB' }, defaults).volumeReserveBytes, 512 * 2 ** 20);
  assert.equal(resolveAgentConfig({ volumeReserve: '0' }, defaults).volumeReserveBytes, 0);
  assert.equal(resolveAgentConfig({ scrubInterval: '7d' }, defaults).scrubIntervalMs, 7 * 86_400_000);
  assert.equal(resolveAgentConfig({ scrubInterval: 'off' }, defaults).scrubIntervalMs, 0);
  for (const bad of ['sometimes', '30s', ''])
    assert.throws(() => resolveAgentConfig({ scrubInterval: bad }, defaults), (err: unknown) => err instanceof UserError && err.message === `--scrub-interval must be a duration of at least 1m such as 12h or 7d, or off, got "${bad}"`);
  for (const bad of ['lots', '-1', '1PB', ''])
    assert.throws(() => resolveAgentConfig({ volumeReserve: bad }, defaults), (err: unknown) => err instanceof UserError && err.message === `--volume-reserve must be a size such as 1GiB, 512MiB or a number of bytes, got "${bad}"`);
  assert.throws(() => resolveAgentConfig({ domain: 'bad domain' }, defaults), /--domain must be a DNS name/);
});

test('--proxy-workers: auto is one per core beyond the first, at most 3; a number is taken as is; anything else is refused', () => {
  const workers = (proxyWorkers: string | undefined, cpus?: number) => resolveAgentConfig({ ...(proxyWorkers !== undefined ? { proxyWorkers } : {}) }, { ...defaults, ...(cpus !== undefined ? { cpus } : {}) }).proxyWorkers;
  assert.deepEqual([1, 2, 3, 4, 8, 64].map((cpus) => workers(undefined, cpus)), [0, 1, 2, 3, 3, 3]);
  assert.deepEqual([1, 2, 4].map((cpus) => workers('auto', cpus)), [0, 1, 3]);
  assert.equal(workers(undefined), 0, 'no core count given: none');
  assert.equal(workers('0', 8), 0);
  assert.equal(workers('5', 2), 5);
  assert.equal(workers('64', 2), 64);
  for (const bad of ['-1', '65', '1.5', 'two', '', ' ', '0x2']) rejects({ proxyWorkers: bad }, /--proxy-workers must be auto or a whole number from 0 to 64/);
});
