import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { UserError } from '../../src/core/errors.ts';
import {
  discoverablePeers,
  orderAddresses,
  parseTailscaleStatus,
  parseWhois,
  selfTailnetAddress,
  tailnetReady,
  whoisNodeIps,
  type TailscaleStatus,
} from '../../src/core/tailscale-status.ts';
import {
  TailscaleDiscovery,
  httpHealthProbe,
  type TailscaleDiscoveredPeer,
} from '../../src/gossip/tailscale-discovery.ts';
import { TailscaleLocalApi } from '../../src/gossip/tailscale-localapi.ts';
import {
  TailscaleStandin,
  makeStatus,
  makeWhois,
  nodeKeyOf,
  type StandinNodeSpec,
} from '../helpers/tailscale-standin.ts';

const silent = pino({ level: 'silent' });

/** Polls `cond` every 20 ms until it holds; fails after timeoutMs. */
async function waitFor(what: string, cond: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function parsed(json: unknown): TailscaleStatus {
  const r = parseTailscaleStatus(json);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

const SELF: StandinNodeSpec = { hostName: 'nas', ips: ['fd7a:115c:a1e0::a01', '100.101.102.103'], os: 'linux' };
const PEER_A: StandinNodeSpec = { hostName: 'pi', ips: ['100.64.0.7', 'fd7a:115c:a1e0::7'], os: 'linux', tags: ['tag:server'] };
const PEER_B: StandinNodeSpec = { hostName: 'Laptop', ips: ['fd7a:115c:a1e0::8', '100.64.0.8'], os: 'macOS', userId: 2002 };
const PEER_OFF: StandinNodeSpec = { hostName: 'old-box', ips: ['100.64.0.9', 'fd7a:115c:a1e0::9'], online: false };

// ---------------------------------------------------------------------------------------------
describe('tailscale status parsing (pure)', () => {
  test('parses a real-shaped Running status', () => {
    const json = makeStatus({ self: SELF, peers: [PEER_A, PEER_B, PEER_OFF] });
    // Through JSON text, as it comes off the socket.
    const st = parsed(JSON.stringify(json));
    assert.equal(st.BackendState, 'Running');
    assert.equal(st.Version, json.Version);
    assert.equal(st.Self?.HostName, 'nas');
    assert.equal(st.Self?.DNSName, 'nas.tail1234.ts.net.');
    assert.deepEqual(st.Self?.TailscaleIPs, SELF.ips);
    assert.equal(st.Self?.Online, true);
    assert.equal(st.Self?.PublicKey, nodeKeyOf(SELF));
    assert.deepEqual(st.CurrentTailnet, { Name: 'alice@example.com', MagicDNSSuffix: 'tail1234.ts.net', MagicDNSEnabled: true });
    assert.deepEqual(Object.keys(st.Peer).sort(), [PEER_A, PEER_B, PEER_OFF].map(nodeKeyOf).sort());
    const a = st.Peer[nodeKeyOf(PEER_A)]!;
    assert.deepEqual(a.Tags, ['tag:server']);
    assert.equal(a.OS, 'linux');
    assert.equal(st.Peer[nodeKeyOf(PEER_B)]!.Tags, undefined);
    assert.equal(st.Peer[nodeKeyOf(PEER_OFF)]!.Online, false);
    assert.equal(tailnetReady(st), true);
  });

  test('tailnetReady needs Running and a tailnet address', () => {
    assert.equal(tailnetReady(parsed(makeStatus({ self: SELF, backendState: 'Starting' }))), false);
    assert.equal(tailnetReady(parsed(makeStatus({ self: SELF, backendState: 'NeedsLogin' }))), false);
    assert.equal(tailnetReady(parsed(makeStatus({ self: SELF, backendState: 'Stopped' }))), false);
    assert.equal(tailnetReady(parsed(makeStatus({ self: { hostName: 'x', ips: [] } }))), false);
    assert.equal(tailnetReady(parsed({ BackendState: 'Running' })), false); // no Self
    assert.equal(tailnetReady(parsed(makeStatus({ self: SELF }))), true);
  });

  test('a NeedsLogin status (null IPs, peers, tailnet) parses', () => {
    const st = parsed(makeStatus({ self: SELF, peers: [PEER_A], backendState: 'NeedsLogin' }));
    assert.equal(st.BackendState, 'NeedsLogin');
    assert.deepEqual(st.Self?.TailscaleIPs, []);
    assert.deepEqual(st.Peer, {});
    assert.equal(st.CurrentTailnet, null);
    assert.match(st.AuthURL ?? '', /^https:\/\/login\.tailscale\.com\//);
    assert.equal(selfTailnetAddress(st), undefined);
    assert.deepEqual(discoverablePeers(st), []);
  });

  test('selfTailnetAddress prefers IPv4 100.x', () => {
    assert.equal(selfTailnetAddress(parsed(makeStatus({ self: SELF }))), '100.101.102.103');
    assert.equal(selfTailnetAddress(parsed(makeStatus({ self: { hostName: 'v6', ips: ['fd7a:115c:a1e0::1'] } }))), 'fd7a:115c:a1e0::1');
    assert.deepEqual(orderAddresses(['fd7a::1', '10.0.0.1', '100.64.0.1', '::1']), ['100.64.0.1', '10.0.0.1', 'fd7a::1', '::1']);
  });

  test('discoverablePeers: online peers only, IPv4 first, never self', () => {
    const selfAsPeer: StandinNodeSpec = { ...SELF }; // tailscaled never does this; be safe anyway
    const json = makeStatus({ self: SELF, peers: [PEER_A, PEER_B, PEER_OFF, selfAsPeer] });
    const peers = discoverablePeers(parsed(json));
    assert.deepEqual(peers, [
      { hostName: 'Laptop', dnsName: 'laptop.tail1234.ts.net', addresses: ['100.64.0.8', 'fd7a:115c:a1e0::8'], nodeKey: nodeKeyOf(PEER_B) },
      { hostName: 'pi', dnsName: 'pi.tail1234.ts.net', addresses: ['100.64.0.7', 'fd7a:115c:a1e0::7'], nodeKey: nodeKeyOf(PEER_A) },
    ]);
  });

  test('odd and garbage input never throws', () => {
    const bad: unknown[] = [
      undefined,
      null,
      42,
      true,
      'not json {',
      '"just a string"',
      '[]',
      [],
      {},
      { BackendState: 5 },
      { BackendState: '' },
      { BackendState: null, Self: {} },
    ];
    for (const input of bad) {
      const r = parseTailscaleStatus(input);
      assert.equal(r.ok, false, `expected failure for ${JSON.stringify(input)}`);
      if (!r.ok) assert.equal(typeof r.error, 'string');
    }
    // Tolerated: malformed parts are dropped or defaulted.
    const odd = parsed({
      BackendState: 'Running',
      Self: { HostName: 7, TailscaleIPs: ['100.64.0.1', 'garbage', 12, null], Online: 'yes', Tags: [1, 'tag:a'] },
      Peer: {
        'nodekey:1': 'not an object',
        'nodekey:2': null,
        'nodekey:3': { HostName: 'ok', TailscaleIPs: ['100.64.0.3'], Online: true },
        'nodekey:4': { HostName: 'noips', TailscaleIPs: 'nope', Online: true },
        'nodekey:5': { HostName: 'truthy', TailscaleIPs: ['100.64.0.5'], Online: 1 },
      },
      CurrentTailnet: 'weird',
    });
    assert.deepEqual(odd.Self, { PublicKey: '', HostName: '', DNSName: '', TailscaleIPs: ['100.64.0.1'], Online: false, OS: '', Tags: ['tag:a'] });
    assert.deepEqual(Object.keys(odd.Peer), ['nodekey:3', 'nodekey:4', 'nodekey:5']);
    assert.equal(odd.CurrentTailnet, null);
    assert.deepEqual(discoverablePeers(odd).map((p) => p.nodeKey), ['nodekey:3']);
    assert.deepEqual(parsed({ BackendState: 'Running', Peer: [1, 2] }).Peer, {});
  });

  test('parseWhois: real shape, garbage, addresses', () => {
    const r = parseWhois(JSON.stringify(makeWhois(PEER_A)));
    assert.ok(r.ok);
    const w = r.value;
    assert.equal(w.Node.Name, 'pi.tail1234.ts.net.');
    assert.match(w.Node.StableID, /^n[0-9A-F]{10}CNTRL$/);
    assert.equal(typeof w.Node.ID, 'number');
    assert.deepEqual(w.Node.Addresses, ['100.64.0.7/32', 'fd7a:115c:a1e0::7/128']);
    assert.deepEqual(w.Node.Tags, ['tag:server']);
    assert.equal(w.Node.HostName, 'pi');
    assert.equal(w.Node.Key, nodeKeyOf(PEER_A));
    assert.deepEqual(w.UserProfile, { ID: 1001, LoginName: 'alice@example.com', DisplayName: 'Alice' });
    assert.deepEqual(w.CapMap, {});
    assert.deepEqual(whoisNodeIps(w), ['100.64.0.7', 'fd7a:115c:a1e0::7']);

    for (const input of [null, 'x{', [], {}, { Node: {} }, { UserProfile: {} }, { Node: 1, UserProfile: {} }]) {
      const bad = parseWhois(input);
      assert.equal(bad.ok, false, `expected failure for ${JSON.stringify(input)}`);
    }
    const odd = parseWhois({ Node: { ID: 'x', Addresses: ['junk', '100.64.0.1/32', 3] }, UserProfile: { LoginName: 9 }, CapMap: { c: 'x' } });
    assert.ok(odd.ok);
    assert.deepEqual(odd.value.Node, { ID: 0, StableID: '', Name: '', Addresses: ['100.64.0.1/32'] });
    assert.deepEqual(odd.value.UserProfile, { LoginName: '', DisplayName: '' });
    assert.deepEqual(odd.value.CapMap, { c: [] });
  });
});

// ---------------------------------------------------------------------------------------------
describe('TailscaleLocalApi against the stand-in', () => {
  let standin: TailscaleStandin;
  before(async () => {
    standin = await TailscaleStandin.start(makeStatus({ self: SELF, peers: [PEER_A, PEER_OFF] }));
  });
  after(async () => {
    await standin?.close();
  });

  test('status() over the unix socket with the LocalAPI Host header', async () => {
    const api = new TailscaleLocalApi(standin.socketPath);
    assert.equal(await api.socketExists(), true);
    const st = await api.status();
    assert.equal(st.BackendState, 'Running');
    assert.equal(selfTailnetAddress(st), '100.101.102.103');
    assert.deepEqual(discoverablePeers(st).map((p) => p.hostName), ['pi']);
    const last = standin.requests.at(-1)!;
    assert.deepEqual(last, { method: 'GET', url: '/localapi/v0/status', host: 'local-tailscaled.sock' });
  });

  test('whois(): known address, unknown address (null)', async () => {
    const api = new TailscaleLocalApi(standin.socketPath);
    standin.setWhois('100.64.0.7', makeWhois(PEER_A));
    const w = await api.whois('100.64.0.7:51234');
    assert.equal(w?.Node.Name, 'pi.tail1234.ts.net.');
    assert.equal(w?.UserProfile.LoginName, 'alice@example.com');
    assert.equal(standin.requests.at(-1)!.url, '/localapi/v0/whois?addr=100.64.0.7%3A51234');
    assert.equal(await api.whois('100.64.0.99:1'), null);
  });

  test('clear errors: garbage, HTTP error, timeout, missing socket', async () => {
    const api = new TailscaleLocalApi(standin.socketPath, 200);
    try {
      standin.setRawStatus(200, '<html>nope</html>');
      await assert.rejects(api.status(), (e: unknown) => e instanceof UserError && e.code === 'tailscale_bad_response' && /not JSON/.test(e.message));
      standin.setRawStatus(500, 'internal error\n');
      await assert.rejects(api.status(), (e: unknown) => e instanceof UserError && e.code === 'tailscale_bad_response' && /500.*internal error/.test(e.message));
      standin.hangStatus();
      await assert.rejects(api.status(), (e: unknown) => e instanceof UserError && e.code === 'tailscale_timeout');
    } finally {
      standin.setStatus(makeStatus({ self: SELF }));
    }
    const missing = new TailscaleLocalApi(join(standin.dir, 'nope.sock'));
    assert.equal(await missing.socketExists(), false);
    await assert.rejects(missing.status(), (e: unknown) => e instanceof UserError && e.code === 'tailscale_unreachable' && /no such socket/.test(e.message));
  });
});

// ---------------------------------------------------------------------------------------------
/** Tiny HTTP servers standing for peers' discovery ports; they record /v1/health hits. */
class FakePeers {
  readonly servers = new Map<string, Server>();
  readonly hits = new Map<string, number>();
  port = 0;

  async up(host: string, code = 200): Promise<void> {
    const server = createServer((req, res) => {
      if (req.url === '/v1/health') this.hits.set(host, (this.hits.get(host) ?? 0) + 1);
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ ok: code === 200 }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, host, () => resolve());
    });
    if (this.port === 0) this.port = (server.address() as AddressInfo).port;
    this.servers.set(host, server);
  }

  async down(host: string): Promise<void> {
    const server = this.servers.get(host);
    if (!server) return;
    this.servers.delete(host);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.servers.keys()].map((h) => this.down(h)));
  }
}

/** Peers whose "tailnet addresses" are loopback addresses with real servers behind them. */
const D_SELF: StandinNodeSpec = { hostName: 'self', ips: ['127.0.0.10'] };
const D_A: StandinNodeSpec = { hostName: 'peer-a', ips: ['127.0.0.20'] };
const D_B: StandinNodeSpec = { hostName: 'peer-b', ips: ['::1', '127.0.0.21'] }; // IPv4 probed first
const D_C: StandinNodeSpec = { hostName: 'peer-c', ips: ['127.0.0.22'], tags: ['tag:warren'] };
const D_OFF: StandinNodeSpec = { hostName: 'peer-off', ips: ['127.0.0.23'], online: false };
const D_LATER: StandinNodeSpec = { hostName: 'peer-later', ips: ['127.0.0.24'] };
const D_SLOW: StandinNodeSpec = { hostName: 'peer-slow', ips: ['127.0.0.25'] };

describe('TailscaleDiscovery against the stand-in', () => {
  const fake = new FakePeers();
  const cleanups: Array<() => Promise<void> | void> = [];

  before(async () => {
    // Every address, the offline peer's and our own included, has a live discovery port: what
    // discovery reports must come from the status, not from what happens to answer.
    await fake.up('127.0.0.20');
    for (const host of ['127.0.0.10', '127.0.0.21', '127.0.0.22', '127.0.0.23', '127.0.0.24']) await fake.up(host);
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await fake.closeAll();
  });

  async function setup(status: unknown, extra: Partial<ConstructorParameters<typeof TailscaleDiscovery>[0]> = {}) {
    const standin = await TailscaleStandin.start(status);
    cleanups.push(() => standin.close());
    const disc = new TailscaleDiscovery({
      socketPath: standin.socketPath,
      mode: 'on',
      port: fake.port,
      pollIntervalMs: 100,
      logger: silent,
      ...extra,
    });
    cleanups.push(() => disc.stop());
    const found: TailscaleDiscoveredPeer[] = [];
    disc.on('peer', (p) => found.push(p));
    return { standin, disc, found };
  }

  test('emits exactly the online peers, once each, not the offline one nor itself', async () => {
    const { standin, disc, found } = await setup(makeStatus({ self: D_SELF, peers: [D_A, D_B, D_C, D_OFF] }));
    try {
      assert.equal(await disc.start(), true);
      assert.equal(await disc.waitReady(5000), '127.0.0.10');
      assert.equal(disc.selfAddress(), '127.0.0.10');
      await waitFor('three peers', () => found.length >= 3);
      // A few more polls must not report anyone again (nor the offline peer).
      const polls = standin.statusRequests();
      await waitFor('three more polls', () => standin.statusRequests() >= polls + 3);
      const sorted = [...found].sort((x, y) => x.host.localeCompare(y.host));
      assert.deepEqual(sorted, [
        { host: '127.0.0.20', port: fake.port, hostName: 'peer-a' },
        { host: '127.0.0.21', port: fake.port, hostName: 'peer-b' },
        { host: '127.0.0.22', port: fake.port, hostName: 'peer-c' },
      ]);
      assert.equal(fake.hits.get('127.0.0.23'), undefined, 'the offline peer is never probed');
      assert.equal(fake.hits.get('127.0.0.10'), undefined, 'never probes itself');
      assert.ok(standin.requests.every((r) => r.host === 'local-tailscaled.sock'));
    } finally {
      disc.stop();
    }
  });

  test('a peer added to the status later is found on a later poll', async () => {
    const { standin, disc, found } = await setup(makeStatus({ self: D_SELF, peers: [D_A] }));
    try {
      await disc.start();
      await waitFor('peer-a', () => found.length >= 1);
      standin.setStatus(makeStatus({ self: D_SELF, peers: [D_A, D_LATER] }));
      await waitFor('peer-later', () => found.some((p) => p.hostName === 'peer-later'));
      assert.deepEqual(found.map((p) => p.hostName), ['peer-a', 'peer-later']);
    } finally {
      disc.stop();
    }
  });

  test('a peer whose discovery port comes up later is found; again after being down', async () => {
    const { standin, disc, found } = await setup(makeStatus({ self: D_SELF, peers: [D_A, D_SLOW] }));
    try {
      await disc.start();
      await waitFor('peer-a', () => found.length >= 1);
      const polls = standin.statusRequests();
      await waitFor('two more polls', () => standin.statusRequests() >= polls + 2);
      assert.deepEqual(found.map((p) => p.hostName), ['peer-a'], 'peer-slow has no server yet');

      await fake.up('127.0.0.25');
      await waitFor('peer-slow', () => found.some((p) => p.hostName === 'peer-slow'));
      assert.deepEqual(found.map((p) => p.host), ['127.0.0.20', '127.0.0.25']);

      // Down for a while (noticed by a poll), then up again: reported again, once.
      const hitsBefore = fake.hits.get('127.0.0.25') ?? 0;
      await fake.down('127.0.0.25');
      const pollsDown = standin.statusRequests();
      await waitFor('two polls while down', () => standin.statusRequests() >= pollsDown + 2);
      assert.equal(found.length, 2);
      await fake.up('127.0.0.25');
      await waitFor('peer-slow again', () => found.length >= 3);
      await waitFor('more probes', () => (fake.hits.get('127.0.0.25') ?? 0) >= hitsBefore + 3);
      assert.deepEqual(found.map((p) => p.hostName), ['peer-a', 'peer-slow', 'peer-slow']);
    } finally {
      disc.stop();
      await fake.down('127.0.0.25');
    }
  });

  test('an offline peer that comes online is found', async () => {
    const { standin, disc, found } = await setup(makeStatus({ self: D_SELF, peers: [D_A, D_OFF] }));
    try {
      await disc.start();
      await waitFor('peer-a', () => found.length >= 1);
      standin.setStatus(makeStatus({ self: D_SELF, peers: [D_A, { ...D_OFF, online: true }] }));
      await waitFor('peer-off online', () => found.length >= 2);
      assert.deepEqual(found.map((p) => p.hostName), ['peer-a', 'peer-off']);
    } finally {
      disc.stop();
    }
  });

  test('waits for BackendState Starting -> Running before probing', async () => {
    const { standin, disc, found } = await setup(makeStatus({ self: D_SELF, peers: [D_A], backendState: 'Starting' }), {
      readyPollIntervalMs: 50,
    });
    try {
      await disc.start();
      const ready = disc.waitReady(8000);
      await waitFor('a few polls while Starting', () => standin.statusRequests() >= 3);
      assert.equal(disc.selfAddress(), undefined);
      assert.equal(found.length, 0);
      standin.setStatus(makeStatus({ self: D_SELF, peers: [D_A], backendState: 'Running' }));
      assert.equal(await ready, '127.0.0.10');
      assert.equal(disc.selfAddress(), '127.0.0.10');
      await waitFor('peer-a', () => found.length >= 1);
    } finally {
      disc.stop();
    }
  });

  test('waitReady times out with a clear error while NeedsLogin; stop() rejects waiters', async () => {
    const { disc } = await setup(makeStatus({ self: D_SELF, backendState: 'NeedsLogin' }), { readyPollIntervalMs: 20 });
    try {
      await disc.start();
      await assert.rejects(
        disc.waitReady(300),
        (e: unknown) => e instanceof UserError && e.code === 'tailscale_not_ready' && /NeedsLogin/.test(e.message),
      );
      const pending = disc.waitReady(10_000);
      disc.stop();
      await assert.rejects(pending, (e: unknown) => e instanceof UserError && e.code === 'tailscale_stopped');
    } finally {
      disc.stop();
    }
  });

  test("mode 'auto' without a socket: nothing, no error", async () => {
    const standin = await TailscaleStandin.start();
    const missing = join(standin.dir, 'missing.sock');
    const disc = new TailscaleDiscovery({ socketPath: missing, mode: 'auto', port: fake.port, pollIntervalMs: 100, logger: silent });
    try {
      assert.equal(await disc.start(), false);
      assert.equal(disc.selfAddress(), undefined);
      await assert.rejects(disc.waitReady(1000), (e: unknown) => e instanceof UserError && e.code === 'tailscale_inactive');
    } finally {
      disc.stop();
      await standin.close();
    }
  });

  test("mode 'on' without a socket: UserError tailscale_missing", async () => {
    const standin = await TailscaleStandin.start();
    const missing = join(standin.dir, 'missing.sock');
    const disc = new TailscaleDiscovery({ socketPath: missing, mode: 'on', logger: silent });
    try {
      await assert.rejects(disc.start(), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.code, 'tailscale_missing');
        assert.ok(e.message.includes(missing));
        return true;
      });
    } finally {
      disc.stop();
      await standin.close();
    }
  });

  test("mode 'off': never talks to tailscaled", async () => {
    const { standin, disc } = await setup(makeStatus({ self: D_SELF, peers: [D_A] }), { mode: 'off' });
    try {
      assert.equal(await disc.start(), false);
      assert.equal(standin.requests.length, 0);
    } finally {
      disc.stop();
    }
  });

  test("mode 'auto' with tailscaled: discovers", async () => {
    const { disc, found } = await setup(makeStatus({ self: D_SELF, peers: [D_C] }), { mode: 'auto' });
    try {
      assert.equal(await disc.start(), true);
      await waitFor('peer-c', () => found.length >= 1);
      assert.equal(found[0]!.hostName, 'peer-c');
    } finally {
      disc.stop();
    }
  });

  test('survives tailscaled errors and recovers', async () => {
    const { standin, disc, found } = await setup(makeStatus({ self: D_SELF, peers: [D_A] }));
    standin.setRawStatus(500, 'boom');
    try {
      await disc.start();
      await waitFor('a few failed polls', () => standin.statusRequests() >= 3);
      assert.equal(found.length, 0);
      standin.setStatus(makeStatus({ self: D_SELF, peers: [D_A] }));
      await waitFor('peer-a', () => found.length >= 1);
    } finally {
      disc.stop();
    }
  });

  test('default probe: any HTTP answer counts; a closed port does not', async () => {
    const extra = new FakePeers();
    try {
      await extra.up('127.0.0.30', 503);
      assert.equal(await httpHealthProbe('127.0.0.30', extra.port), true);
      assert.equal(extra.hits.get('127.0.0.30'), 1);
      await extra.down('127.0.0.30');
      assert.equal(await httpHealthProbe('127.0.0.30', extra.port, 500), false);
    } finally {
      await extra.closeAll();
    }
  });

  test('the stand-in removes its socket on close', async () => {
    const standin = await TailscaleStandin.start();
    assert.ok(existsSync(standin.socketPath));
    await standin.close();
    assert.equal(existsSync(standin.socketPath), false);
    assert.equal(existsSync(standin.dir), false);
  });
});
