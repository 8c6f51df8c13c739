/**
 * A stand-in for tailscaled's LocalAPI: an HTTP server on a unix socket in a temp dir that serves
 * `/localapi/v0/status` and `/localapi/v0/whois?addr=` with JSON of the real shape
 * (ipnstate.Status, apitype.WhoIsResponse). Like tailscaled it refuses a wrong Host header (403),
 * answers 400 for whois without addr and 404 for unknown addresses and paths. With enableCerts()
 * it serves `/localapi/v0/cert/<domain>?type=pair[&min_validity=Ns]` too: for the Self DNS name
 * only, a self-signed certificate in place of Let's Encrypt's, kept (as tailscaled keeps its
 * certificate) until min_validity asks for more than it has left.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { selfSignedCert } from './self-signed.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StandinNodeSpec {
  hostName: string;
  /** TailscaleIPs, e.g. ['100.101.102.103', 'fd7a:115c:a1e0::1']. */
  ips: string[];
  /** Default true. */
  online?: boolean;
  /** Default 'linux'. */
  os?: string;
  tags?: string[];
  /** Default derived from the host name: `nodekey:<64 hex>`. */
  nodeKey?: string;
  /** Default `<hostName>.<suffix>.` */
  dnsName?: string;
  /** Default 1001 (the tailnet owner). */
  userId?: number;
  active?: boolean;
  relay?: string;
}

export interface MakeStatusOptions {
  self: StandinNodeSpec;
  peers?: StandinNodeSpec[];
  /** Default 'Running'. */
  backendState?: string;
  tailnetName?: string;
  /** Default 'tail1234.ts.net'. */
  magicDnsSuffix?: string;
  version?: string;
}

export const STANDIN_SUFFIX = 'tail1234.ts.net';
const ZERO_TIME = '0001-01-01T00:00:00Z';
const CREATED = '2024-03-01T10:20:30.123456789Z';

function hex(seed: string, len: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, len);
}

export function nodeKeyOf(spec: StandinNodeSpec): string {
  return spec.nodeKey ?? `nodekey:${hex(`node:${spec.hostName}`, 64)}`;
}

function stableIdOf(spec: StandinNodeSpec): string {
  return `n${hex(`id:${spec.hostName}`, 10).toUpperCase()}CNTRL`;
}

function numericIdOf(spec: StandinNodeSpec): number {
  return Number.parseInt(hex(`num:${spec.hostName}`, 12), 16) % 9_000_000_000_000 + 1_000_000_000_000;
}

function dnsNameOf(spec: StandinNodeSpec, suffix: string): string {
  return spec.dnsName ?? `${spec.hostName.toLowerCase()}.${suffix}.`;
}

function prefixes(ips: string[]): string[] {
  return ips.map((ip) => (isIP(ip) === 6 ? `${ip}/128` : `${ip}/32`));
}

/** One ipnstate.PeerStatus, as tailscaled serialises it. */
function peerStatus(spec: StandinNodeSpec, suffix: string, isSelf: boolean, loggedIn: boolean): Record<string, unknown> {
  const online = spec.online ?? true;
  const ips = loggedIn ? spec.ips : null;
  const node: Record<string, unknown> = {
    ID: stableIdOf(spec),
    PublicKey: nodeKeyOf(spec),
    HostName: spec.hostName,
    DNSName: loggedIn ? dnsNameOf(spec, suffix) : '',
    OS: spec.os ?? 'linux',
    UserID: spec.userId ?? 1001,
    TailscaleIPs: ips,
    AllowedIPs: ips ? prefixes(ips) : null,
    Addrs: isSelf ? ['192.168.1.23:41641', '[2001:db8::23]:41641'] : null,
    CurAddr: isSelf || !online ? '' : '192.168.1.42:41641',
    Relay: spec.relay ?? 'fra',
    RxBytes: isSelf ? 0 : 123456,
    TxBytes: isSelf ? 0 : 654321,
    Created: CREATED,
    LastWrite: isSelf ? ZERO_TIME : '2024-05-06T07:08:09.5Z',
    LastSeen: online ? ZERO_TIME : '2024-05-01T12:00:00Z',
    LastHandshake: isSelf ? ZERO_TIME : '2024-05-06T07:08:00Z',
    Online: loggedIn && online,
    ExitNode: false,
    ExitNodeOption: false,
    Active: spec.active ?? false,
    PeerAPIURL: ips ? ips.map((ip) => `http://${isIP(ip) === 6 ? `[${ip}]` : ip}:41112`) : null,
    InNetworkMap: true,
    InMagicSock: !isSelf,
    InEngine: !isSelf,
    KeyExpiry: '2024-09-01T10:20:30Z',
  };
  if (isSelf) node.Capabilities = ['https://tailscale.com/cap/file-sharing', 'https://tailscale.com/cap/ssh'];
  if (spec.tags) node.Tags = spec.tags;
  return node;
}

/**
 * A `/localapi/v0/status` body of the real shape. Before login (NoState, NeedsLogin,
 * NeedsMachineAuth) Self has no addresses and there is no tailnet, peers or users, as in tailscaled.
 */
export function makeStatus(opts: MakeStatusOptions): Record<string, unknown> {
  const backendState = opts.backendState ?? 'Running';
  const suffix = opts.magicDnsSuffix ?? STANDIN_SUFFIX;
  const loggedIn = !['NoState', 'NeedsLogin', 'NeedsMachineAuth'].includes(backendState);
  const peers: Record<string, unknown> = {};
  for (const p of opts.peers ?? []) peers[nodeKeyOf(p)] = peerStatus(p, suffix, false, true);
  const userIds = new Set([opts.self, ...(opts.peers ?? [])].map((n) => n.userId ?? 1001));
  const users: Record<string, unknown> = {};
  for (const id of userIds) {
    users[String(id)] =
      id === 1001
        ? { ID: 1001, LoginName: 'alice@example.com', DisplayName: 'Alice', ProfilePicURL: '', Roles: [] }
        : { ID: id, LoginName: `user${id}@example.com`, DisplayName: `User ${id}`, ProfilePicURL: '', Roles: [] };
  }
  return {
    Version: opts.version ?? '1.66.4-t3b2a1c0e9-g0123456789a',
    TUN: true,
    BackendState: backendState,
    HaveNodeKey: true,
    AuthURL: backendState === 'NeedsLogin' ? 'https://login.tailscale.com/a/1a2b3c4d5e6f' : '',
    TailscaleIPs: loggedIn ? opts.self.ips : null,
    Self: peerStatus(opts.self, suffix, true, loggedIn),
    Health: loggedIn ? [] : ['not logged in, last login error=<nil>'],
    MagicDNSSuffix: loggedIn ? suffix : '',
    CurrentTailnet: loggedIn
      ? { Name: opts.tailnetName ?? 'alice@example.com', MagicDNSSuffix: suffix, MagicDNSEnabled: true }
      : null,
    CertDomains: loggedIn ? [dnsNameOf(opts.self, suffix).replace(/\.$/, '')] : null,
    Peer: loggedIn ? peers : null,
    User: loggedIn ? users : null,
    ClientVersion: null,
  };
}

/** A `/localapi/v0/whois` body (apitype.WhoIsResponse) for a node. */
export function makeWhois(
  spec: StandinNodeSpec,
  user: { id?: number; loginName?: string; displayName?: string } = {},
): Record<string, unknown> {
  const userId = user.id ?? spec.userId ?? 1001;
  const addresses = prefixes(spec.ips);
  return {
    Node: {
      ID: numericIdOf(spec),
      StableID: stableIdOf(spec),
      Name: dnsNameOf(spec, STANDIN_SUFFIX),
      User: userId,
      Key: nodeKeyOf(spec),
      KeyExpiry: '2024-09-01T10:20:30Z',
      Machine: `mkey:${hex(`machine:${spec.hostName}`, 64)}`,
      DiscoKey: `discokey:${hex(`disco:${spec.hostName}`, 64)}`,
      Addresses: addresses,
      AllowedIPs: addresses,
      Endpoints: ['192.168.1.42:41641'],
      Hostinfo: { OS: spec.os ?? 'linux', Hostname: spec.hostName, GoArch: 'amd64' },
      Created: CREATED,
      Cap: 95,
      ...(spec.tags ? { Tags: spec.tags } : {}),
      Online: spec.online ?? true,
      MachineAuthorized: true,
      ComputedName: spec.hostName.toLowerCase(),
      ComputedNameWithHost: spec.hostName.toLowerCase(),
    },
    UserProfile: {
      ID: userId,
      LoginName: user.loginName ?? (userId === 1001 ? 'alice@example.com' : `user${userId}@example.com`),
      DisplayName: user.displayName ?? (userId === 1001 ? 'Alice' : `User ${userId}`),
      ProfilePicURL: '',
      Roles: [],
    },
    CapMap: {},
  };
}

export interface StandinRequest {
  method: string;
  /** Path with query string. */
  url: string;
  host: string | undefined;
}

type Reply = { code: number; body: string } | 'hang';

/** The IP of an `addr` query value: `IP:PORT`, `[IPv6]:PORT` or a bare IP. */
function ipOfAddr(addr: string): string {
  if (isIP(addr)) return addr;
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(addr);
  if (bracketed) return bracketed[1]!;
  const m = /^([^:]+):\d+$/.exec(addr);
  return m ? m[1]! : addr;
}

export class TailscaleStandin {
  readonly requests: StandinRequest[] = [];
  private statusReply: Reply;
  private readonly whoisByIp = new Map<string, unknown>();
  private certLifetimeMs: number | undefined;
  /** the certificate currently held per domain, as tailscaled keeps one */
  readonly certs = new Map<string, { certPem: string; keyPem: string; notAfter: number; issuedAt: number }>();
  /** every certificate issued (first ones and renewals), in order */
  readonly certsIssued: string[] = [];

  private constructor(
    readonly dir: string,
    readonly socketPath: string,
    private readonly server: Server,
    status: unknown,
  ) {
    this.statusReply = { code: 200, body: JSON.stringify(status) };
  }

  /** Starts a stand-in listening on `<tmp dir>/tailscaled.sock`. */
  static async start(status: unknown = makeStatus({ self: { hostName: 'self', ips: ['100.64.0.1'] } })): Promise<TailscaleStandin> {
    const dir = await mkdtemp(join(tmpdir(), 'warren-ts-'));
    const socketPath = join(dir, 'tailscaled.sock');
    let standin: TailscaleStandin | undefined;
    const server = createServer((req, res) => standin!.handle(req, res));
    standin = new TailscaleStandin(dir, socketPath, server, status);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return standin;
  }

  /** The status body served from now on (JSON-serialised). */
  setStatus(status: unknown): void {
    this.statusReply = { code: 200, body: JSON.stringify(status) };
  }

  /** Serve this exact status answer (for garbage and error tests). */
  setRawStatus(code: number, body: string): void {
    this.statusReply = { code, body };
  }

  /** Accept status requests but never answer them (for timeout tests). */
  hangStatus(): void {
    this.statusReply = 'hang';
  }

  /** The whois answer for an IP (any port); undefined removes it. */
  setWhois(ip: string, response: unknown): void {
    if (response === undefined) this.whoisByIp.delete(ip);
    else this.whoisByIp.set(ip, response);
  }

  /** Serve certificates for the Self DNS name, each valid `lifetimeMs`. */
  enableCerts(lifetimeMs: number): void {
    this.certLifetimeMs = lifetimeMs;
  }

  statusRequests(): number {
    return this.requests.filter((r) => r.url.startsWith('/localapi/v0/status')).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    this.requests.push({ method: req.method ?? '', url, host: req.headers.host });
    const send = (code: number, body: string, json = true): void => {
      res.writeHead(code, { 'Content-Type': json ? 'application/json' : 'text/plain; charset=utf-8' });
      res.end(body);
    };
    if (req.headers.host !== 'local-tailscaled.sock' && req.headers.host !== 'localhost') {
      send(403, 'invalid localapi Host header\n', false);
      return;
    }
    const parsed = new URL(url, 'http://local-tailscaled.sock');
    if (req.method === 'GET' && parsed.pathname === '/localapi/v0/status') {
      const reply = this.statusReply;
      if (reply === 'hang') return;
      send(reply.code, reply.body);
      return;
    }
    if (req.method === 'GET' && parsed.pathname === '/localapi/v0/whois') {
      const addr = parsed.searchParams.get('addr');
      if (!addr) {
        send(400, "missing 'addr' parameter\n", false);
        return;
      }
      const answer = this.whoisByIp.get(ipOfAddr(addr));
      if (answer === undefined) {
        send(404, `no match for IP:port ${addr}\n`, false);
        return;
      }
      send(200, JSON.stringify(answer));
      return;
    }
    if (req.method === 'GET' && parsed.pathname.startsWith('/localapi/v0/cert/') && this.certLifetimeMs !== undefined) {
      this.serveCert(decodeURIComponent(parsed.pathname.slice('/localapi/v0/cert/'.length)), parsed.searchParams, send).catch((err: Error) => send(500, `${err.message}\n`, false));
      return;
    }
    send(404, '404 page not found\n', false);
  }

  private async serveCert(domain: string, q: URLSearchParams, send: (code: number, body: string, json?: boolean) => void): Promise<void> {
    const self = (JSON.parse(this.statusReply === 'hang' ? '{}' : this.statusReply.body) as { Self?: { DNSName?: string } }).Self?.DNSName?.replace(/\.$/, '');
    if (q.get('type') !== 'pair') return send(400, 'invalid type; want "pair" (the stand-in serves only that)\n', false);
    if (!self || domain !== self) return send(400, `invalid domain ${JSON.stringify(domain)}; must be one of ${JSON.stringify([self])}\n`, false);
    const min = /^(\d+)s$/.exec(q.get('min_validity') ?? '0s');
    if (!min) return send(400, 'invalid min_validity\n', false);
    let held = this.certs.get(domain);
    if (!held || held.notAfter - Date.now() < Number(min[1]) * 1000) {
      const pair = await selfSignedCert(domain, this.certLifetimeMs!);
      held = { ...pair, notAfter: Date.now() + this.certLifetimeMs!, issuedAt: Date.now() };
      this.certs.set(domain, held);
      this.certsIssued.push(pair.certPem);
    }
    send(200, held.keyPem + held.certPem, false);
  }
}
