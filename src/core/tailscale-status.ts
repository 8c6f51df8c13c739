/**
 * Types and pure, defensive parsing of tailscaled's LocalAPI answers:
 * `GET /localapi/v0/status` (ipnstate.Status) and `GET /localapi/v0/whois?addr=IP:PORT`
 * (apitype.WhoIsResponse). Only the fields Warren uses are kept. Nothing here throws on odd input:
 * the parsers return `{ ok: false, error }` instead.
 */
import { isIP } from 'node:net';

/** tailscaled's ipn.State names; anything else it may add later is kept as a plain string. */
export type BackendState =
  | 'NoState'
  | 'NeedsLogin'
  | 'NeedsMachineAuth'
  | 'Stopped'
  | 'Starting'
  | 'Running'
  | (string & {});

/** One device of the tailnet (`Self` or an entry of `Peer`), reduced to what Warren uses. */
export interface TailscaleNodeStatus {
  /** Node key, e.g. `nodekey:2c4e…`; '' when missing. */
  PublicKey: string;
  HostName: string;
  /** MagicDNS name with a trailing dot, e.g. `host.tail1234.ts.net.`; '' when missing. */
  DNSName: string;
  /** Only the entries that are IP addresses; [] when missing or null. */
  TailscaleIPs: string[];
  /** "Connected to the coordination server", not "reachable from here". */
  Online: boolean;
  OS: string;
  Tags?: string[];
}

export interface TailscaleTailnet {
  Name: string;
  MagicDNSSuffix: string;
  MagicDNSEnabled?: boolean;
}

export interface TailscaleStatus {
  BackendState: BackendState;
  /** null while tailscaled has no node yet (e.g. NoState). */
  Self: TailscaleNodeStatus | null;
  /** Keyed by node key (`nodekey:<hex>`); {} when missing or null. */
  Peer: Record<string, TailscaleNodeStatus>;
  /** null when not logged in. */
  CurrentTailnet: TailscaleTailnet | null;
  Version?: string;
  AuthURL?: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** A peer worth probing: online according to the coordination server, with at least one address. */
export interface DiscoverablePeer {
  hostName: string;
  /** MagicDNS name without the trailing dot ('' when unknown). */
  dnsName: string;
  /** IPv4 first, then IPv6. Never empty. */
  addresses: string[];
  nodeKey: string;
}

/** `GET /localapi/v0/whois` answer (apitype.WhoIsResponse), reduced. */
export interface TailscaleWhoisNode {
  ID: number;
  StableID: string;
  /** MagicDNS name with a trailing dot. */
  Name: string;
  /** CIDR prefixes, e.g. `100.101.102.103/32`, `fd7a:115c:a1e0::1/128`. */
  Addresses: string[];
  Key?: string;
  Tags?: string[];
  ComputedName?: string;
  /** Hostinfo.Hostname / Hostinfo.OS when present. */
  HostName?: string;
  OS?: string;
}

export interface TailscaleUserProfile {
  ID?: number;
  LoginName: string;
  DisplayName: string;
}

export interface TailscaleWhois {
  Node: TailscaleWhoisNode;
  UserProfile: TailscaleUserProfile;
  CapMap?: Record<string, unknown[]>;
}

// ---------------------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function strList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function ipList(v: unknown): string[] {
  return strList(v).filter((ip) => isIP(ip) !== 0);
}

/** Accepts parsed JSON or JSON text. */
function asJson(json: unknown): ParseResult<unknown> {
  if (typeof json !== 'string') return { ok: true, value: json };
  try {
    return { ok: true, value: JSON.parse(json) as unknown };
  } catch (err) {
    return { ok: false, error: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

function parseNode(v: unknown): TailscaleNodeStatus | null {
  if (!isObj(v)) return null;
  const node: TailscaleNodeStatus = {
    PublicKey: str(v.PublicKey),
    HostName: str(v.HostName),
    DNSName: str(v.DNSName),
    TailscaleIPs: ipList(v.TailscaleIPs),
    Online: v.Online === true,
    OS: str(v.OS),
  };
  if (Array.isArray(v.Tags)) node.Tags = strList(v.Tags);
  return node;
}

/**
 * Validates a `/localapi/v0/status` answer (parsed JSON or its text). Fails only when it is not an
 * object or has no string `BackendState`; malformed parts (a non-object peer, a non-IP entry in
 * `TailscaleIPs`, a missing `Self`) are dropped or defaulted.
 */
export function parseTailscaleStatus(json: unknown): ParseResult<TailscaleStatus> {
  const parsed = asJson(json);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  if (!isObj(v)) return { ok: false, error: `status is ${describe(v)}, expected an object` };
  if (typeof v.BackendState !== 'string' || v.BackendState === '') {
    return { ok: false, error: 'status has no BackendState' };
  }
  const peers: Record<string, TailscaleNodeStatus> = {};
  if (isObj(v.Peer)) {
    for (const [key, raw] of Object.entries(v.Peer)) {
      const node = parseNode(raw);
      if (!node) continue;
      if (node.PublicKey === '') node.PublicKey = key;
      peers[key] = node;
    }
  }
  let tailnet: TailscaleTailnet | null = null;
  if (isObj(v.CurrentTailnet)) {
    tailnet = { Name: str(v.CurrentTailnet.Name), MagicDNSSuffix: str(v.CurrentTailnet.MagicDNSSuffix) };
    if (typeof v.CurrentTailnet.MagicDNSEnabled === 'boolean') tailnet.MagicDNSEnabled = v.CurrentTailnet.MagicDNSEnabled;
  }
  const status: TailscaleStatus = {
    BackendState: v.BackendState,
    Self: parseNode(v.Self),
    Peer: peers,
    CurrentTailnet: tailnet,
  };
  if (typeof v.Version === 'string') status.Version = v.Version;
  if (typeof v.AuthURL === 'string') status.AuthURL = v.AuthURL;
  return { ok: true, value: status };
}

/** Tailscale is usable: logged in and running, and this device has a tailnet address. */
export function tailnetReady(status: TailscaleStatus): boolean {
  return status.BackendState === 'Running' && (status.Self?.TailscaleIPs.length ?? 0) > 0;
}

const CGNAT = /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./; // 100.64.0.0/10

/** IPv4 before IPv6, and among IPv4 the tailnet range (100.64.0.0/10) first; stable otherwise. */
export function orderAddresses(ips: readonly string[]): string[] {
  const rank = (ip: string): number => (isIP(ip) === 4 ? (CGNAT.test(ip) ? 0 : 1) : 2);
  return ips
    .map((ip, i) => ({ ip, i }))
    .sort((a, b) => rank(a.ip) - rank(b.ip) || a.i - b.i)
    .map((x) => x.ip);
}

/** This device's tailnet address (IPv4 100.x preferred), or undefined when it has none. */
export function selfTailnetAddress(status: TailscaleStatus): string | undefined {
  return orderAddresses(status.Self?.TailscaleIPs ?? [])[0];
}

/**
 * The peers worth probing: `Online === true`, with at least one address, never this device
 * itself (same node key or a shared address). Sorted by host name, then node key.
 */
export function discoverablePeers(status: TailscaleStatus): DiscoverablePeer[] {
  const self = status.Self;
  const selfIps = new Set(self?.TailscaleIPs ?? []);
  const out: DiscoverablePeer[] = [];
  for (const [key, node] of Object.entries(status.Peer)) {
    if (node.Online !== true) continue;
    if (self && self.PublicKey !== '' && (key === self.PublicKey || node.PublicKey === self.PublicKey)) continue;
    const addresses = orderAddresses(node.TailscaleIPs.filter((ip) => !selfIps.has(ip)));
    if (addresses.length === 0) continue;
    out.push({ hostName: node.HostName, dnsName: node.DNSName.replace(/\.$/, ''), addresses, nodeKey: key });
  }
  return out.sort((a, b) => a.hostName.localeCompare(b.hostName) || a.nodeKey.localeCompare(b.nodeKey));
}

/**
 * Validates a `/localapi/v0/whois` answer (parsed JSON or its text). Needs `Node` (object) and
 * `UserProfile` (object); defaults missing scalar fields.
 */
export function parseWhois(json: unknown): ParseResult<TailscaleWhois> {
  const parsed = asJson(json);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  if (!isObj(v)) return { ok: false, error: `whois answer is ${describe(v)}, expected an object` };
  if (!isObj(v.Node)) return { ok: false, error: 'whois answer has no Node' };
  if (!isObj(v.UserProfile)) return { ok: false, error: 'whois answer has no UserProfile' };
  const n = v.Node;
  const node: TailscaleWhoisNode = {
    ID: typeof n.ID === 'number' && Number.isFinite(n.ID) ? n.ID : 0,
    StableID: str(n.StableID),
    Name: str(n.Name),
    Addresses: strList(n.Addresses).filter((a) => isIP(a.split('/')[0] ?? '') !== 0),
  };
  if (typeof n.Key === 'string') node.Key = n.Key;
  if (Array.isArray(n.Tags)) node.Tags = strList(n.Tags);
  if (typeof n.ComputedName === 'string') node.ComputedName = n.ComputedName;
  if (isObj(n.Hostinfo)) {
    if (typeof n.Hostinfo.Hostname === 'string') node.HostName = n.Hostinfo.Hostname;
    if (typeof n.Hostinfo.OS === 'string') node.OS = n.Hostinfo.OS;
  }
  const u = v.UserProfile;
  const user: TailscaleUserProfile = { LoginName: str(u.LoginName), DisplayName: str(u.DisplayName) };
  if (typeof u.ID === 'number' && Number.isFinite(u.ID)) user.ID = u.ID;
  const whois: TailscaleWhois = { Node: node, UserProfile: user };
  if (isObj(v.CapMap)) {
    const capMap: Record<string, unknown[]> = {};
    for (const [cap, vals] of Object.entries(v.CapMap)) capMap[cap] = Array.isArray(vals) ? vals : [];
    whois.CapMap = capMap;
  }
  return { ok: true, value: whois };
}

/** The node's addresses from a whois answer without their prefix length (`100.1.2.3/32` -> `100.1.2.3`). */
export function whoisNodeIps(whois: TailscaleWhois): string[] {
  return whois.Node.Addresses.map((a) => a.split('/')[0] ?? a).filter((ip) => isIP(ip) !== 0);
}
