import { DEFAULT_RESTART_GRACE_MS, MAX_RESTART_GRACE_MS } from './membership/restart-hold.ts';
import { isIP } from 'node:net';
import { UserError } from './errors.ts';
import { parseHostPort, parsePort, type HostPort } from './addresses.ts';
import { parseJoinToken } from './join-token.ts';
import { DEFAULT_DETECTOR_CONFIG } from './membership.ts';
import { labelProblem } from './service-constraints.ts';
import { DEFAULT_HOOK_LIMITS } from './hooks/hook-queue.ts';
import { parseBytes } from './compose/units.ts';
import { parseDurationText } from './volumes/volume-policy.ts';

export const DEFAULT_PORTS = {
  http: 7370,
  p2p: 7371,
  etcdClient: 7372,
  etcdPeer: 7373,
  proxy: 7380,
  dns: 7353,
  https: 7443,
} as const;

export type PortName = keyof typeof DEFAULT_PORTS;

/** The flag that sets each port, so errors can name it. */
export const PORT_FLAGS: Record<PortName, string> = {
  http: '--http-port',
  p2p: '--p2p-port',
  etcdClient: '--etcd-client-port',
  etcdPeer: '--etcd-peer-port',
  proxy: '--proxy-port',
  dns: '--dns-port',
  https: '--https-port',
};

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type TailscaleMode = 'auto' | 'on' | 'off';

/** Failure-detector timing (see src/core/membership.ts for why the defaults are what they are). */
export interface DetectorFlags {
  /** --heartbeat-ms: how often this node heartbeats */
  heartbeatMs: number;
  /** --suspect-after-ms: silence after which probing starts (a failed probe round makes it suspect) */
  suspectAfterMs: number;
  /** --dead-after-ms: silence after which a suspect is declared dead */
  deadAfterMs: number;
  /** --probe-timeout-ms: time allowed for each probe phase (direct, then indirect) */
  probeTimeoutMs: number;
}

export const DEFAULT_DETECTOR_FLAGS: Readonly<DetectorFlags> = Object.freeze({
  heartbeatMs: DEFAULT_DETECTOR_CONFIG.heartbeatIntervalMs,
  suspectAfterMs: DEFAULT_DETECTOR_CONFIG.suspectAfterMs,
  deadAfterMs: DEFAULT_DETECTOR_CONFIG.deadAfterMs,
  probeTimeoutMs: DEFAULT_DETECTOR_CONFIG.probeTimeoutMs,
});

/** The flag that sets each detector timing, so errors can name it. */
export const DETECTOR_FLAGS: Record<keyof DetectorFlags, string> = {
  heartbeatMs: '--heartbeat-ms',
  suspectAfterMs: '--suspect-after-ms',
  deadAfterMs: '--dead-after-ms',
  probeTimeoutMs: '--probe-timeout-ms',
};

/** Upper bound for every detector timing: one hour is already far beyond any sane setting. */
const MAX_DETECTOR_MS = 3_600_000;

export interface AgentConfig {
  dataDir: string;
  name: string;
  bind: string;
  /** true when --bind was given (discovery may pick a better address otherwise) */
  bindExplicit: boolean;
  ports: Record<PortName, number>;
  join: HostPort[];
  token?: string;
  open: boolean;
  mdns: boolean;
  tailscale: TailscaleMode;
  /** admit joiners from devices of the same tailnet without a token (Tailscale whois) */
  tailnetAdmit: boolean;
  /** serve Tailscale's certificate for this node's *.ts.net name over HTTPS (--tailscale-cert on) */
  tailscaleCert: boolean;
  voters: 3 | 5;
  logLevel: LogLevel;
  detector: DetectorFlags;
  /** --label K=V: placement constraints (label=K=V) match these */
  labels: Record<string, string>;
  /** --fence-after-ms: without the etcd quorum this long, the node stops its replicas */
  fenceAfterMs: number;
  /** --snapshot-interval-ms: how often the owner of a replicated volume snapshots and replicates it */
  snapshotIntervalMs: number;
  /** --volume-reserve: a peer refuses a snapshot that would leave less than this free on its disk */
  volumeReserveBytes: number;
  /** --scrub-interval: how often every stored chunk is re-hashed (0: never; `warren volume scrub` still runs one) */
  scrubIntervalMs: number;
  /** --proxy-workers: extra processes serving the reverse proxy on the same socket (see routing/proxy-workers.ts) */
  proxyWorkers: number;
  /** --proxy-workers auto: the workers start when the proxy is busy, not at boot (core/proxy-demand.ts) */
  proxyWorkersOnDemand: boolean;
  /** --domain: services are <name>.<domain> in the proxy and DNS */
  domain: string;
  /** the proxy, DNS and HTTPS ports were not given: try 80 / 53 / 443 first, then the 7380 / 7353 / 7443 defaults */
  autoPorts: { proxy: boolean; dns: boolean; https: boolean };
  /** --hook-timeout-ms: a hook run that takes longer is killed (see system/hooks.ts) */
  hookTimeoutMs: number;
  /** --restart-grace-ms: after a graceful stop, how long the others keep this node's replicas (0: they move at once) */
  restartGraceMs: number;
}

export const DEFAULT_FENCE_AFTER_MS = 8000;
/** a peer keeps this much of its disk free: it refuses a snapshot that would eat into it */
export const DEFAULT_VOLUME_RESERVE_BYTES = 2 ** 30;
/** every stored chunk re-hashed once a day: bit rot found long before a failover needs the chunk */
export const DEFAULT_SCRUB_INTERVAL_MS = 86_400_000;
export const MAX_PROXY_WORKERS = 64;

/**
 * --proxy-workers auto: one process per core besides the agent's own proxy (the proxy is
 * CPU-bound on its one event loop), at most 3 (each worker costs its RSS, ~40 MB).
 * 0 on a 1-core machine: a second process would only compete with the agent.
 */
export function defaultProxyWorkers(cpus: number): number {
  return Math.max(0, Math.min(Math.floor(cpus) - 1, 3));
}
export { DEFAULT_DOMAIN } from './default-domain.ts';
import { DEFAULT_DOMAIN } from './default-domain.ts';

/** Raw option values as the CLI parser hands them over (strings, booleans). */
export interface RawAgentOptions {
  dataDir?: string;
  name?: string;
  bind?: string;
  join?: string;
  token?: string;
  open?: boolean;
  mdns?: boolean;
  tailscale?: string;
  tailnetAdmit?: string;
  tailscaleCert?: string;
  voters?: string;
  logLevel?: string;
  httpPort?: string;
  p2pPort?: string;
  etcdClientPort?: string;
  etcdPeerPort?: string;
  proxyPort?: string;
  dnsPort?: string;
  httpsPort?: string;
  heartbeatMs?: string;
  suspectAfterMs?: string;
  deadAfterMs?: string;
  probeTimeoutMs?: string;
  label?: string[];
  fenceAfterMs?: string;
  snapshotIntervalMs?: string;
  volumeReserve?: string;
  scrubInterval?: string;
  proxyWorkers?: string;
  domain?: string;
  hookTimeoutMs?: string;
  restartGraceMs?: string;
}

export interface AgentDefaults {
  dataDir: string;
  name: string;
  bind: string;
  /** this machine's cores (for --proxy-workers auto; 1 when not given) */
  cpus?: number;
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Makes a hostname usable as a node name (a DNS label). */
export function nodeNameFrom(hostname: string): string {
  const label = hostname.split('.')[0]!.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '');
  return label.slice(0, 63) || 'node';
}

/** Validates and fills in the agent's options. Pure: every default comes in `defaults`. */
export function resolveAgentConfig(raw: RawAgentOptions, defaults: AgentDefaults): AgentConfig {
  const name = raw.name ?? defaults.name;
  if (!NAME_RE.test(name)) {
    throw new UserError('bad_name', `--name "${name}" must be a DNS label: lowercase letters, digits and "-", at most 63 characters`);
  }
  const bind = raw.bind ?? defaults.bind;
  if (isIP(bind) === 0) throw new UserError('bad_bind', `--bind "${bind}" must be an IPv4 or IPv6 address`);
  const dataDir = raw.dataDir ?? defaults.dataDir;
  if (dataDir.trim() === '') throw new UserError('bad_data_dir', '--data-dir must not be empty');

  const ports = { ...DEFAULT_PORTS } as Record<PortName, number>;
  const rawPorts: Record<PortName, string | undefined> = {
    http: raw.httpPort,
    p2p: raw.p2pPort,
    etcdClient: raw.etcdClientPort,
    etcdPeer: raw.etcdPeerPort,
    proxy: raw.proxyPort,
    dns: raw.dnsPort,
    https: raw.httpsPort,
  };
  for (const key of Object.keys(rawPorts) as PortName[]) {
    const value = rawPorts[key];
    if (value !== undefined) ports[key] = parsePort(value, PORT_FLAGS[key]);
  }
  const seen = new Map<number, PortName>();
  for (const key of ['http', 'p2p', 'etcdClient', 'etcdPeer'] as PortName[]) {
    const other = seen.get(ports[key]);
    if (other) throw new UserError('port_clash', `${PORT_FLAGS[key]} and ${PORT_FLAGS[other]} are both ${ports[key]}: each needs its own port`);
    seen.set(ports[key], key);
  }

  const join = (raw.join ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => parseHostPort(s, DEFAULT_PORTS.http));

  const tailscale = (raw.tailscale ?? 'auto') as TailscaleMode;
  if (!['auto', 'on', 'off'].includes(tailscale)) {
    throw new UserError('bad_flag', `--tailscale must be auto, on or off, got "${raw.tailscale}"`);
  }
  const tailnetAdmit = raw.tailnetAdmit ?? 'on';
  if (tailnetAdmit !== 'on' && tailnetAdmit !== 'off') throw new UserError('bad_flag', `--tailnet-admit must be on or off, got "${raw.tailnetAdmit}"`);
  const tailscaleCert = raw.tailscaleCert ?? 'off';
  if (tailscaleCert !== 'on' && tailscaleCert !== 'off') throw new UserError('bad_flag', `--tailscale-cert must be on or off, got "${raw.tailscaleCert}"`);
  const votersText = raw.voters ?? '3';
  if (votersText !== '3' && votersText !== '5') {
    throw new UserError('bad_flag', `--voters must be 3 or 5, got "${votersText}"`);
  }
  const logLevel = (raw.logLevel ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new UserError('bad_flag', `--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${raw.logLevel}"`);
  }
  if (raw.token !== undefined) {
    if (raw.token.trim() === '') throw new UserError('bad_flag', '--token must not be empty');
    try {
      parseJoinToken(raw.token);
    } catch (err) {
      throw new UserError('bad_token', `--token: ${(err as Error).message}`);
    }
  }
  const detector = resolveDetectorFlags(raw);
  const labels: Record<string, string> = {};
  for (const l of raw.label ?? []) {
    // the same rules as label=KEY=VALUE constraints, which must be able to match it
    const eq = l.indexOf('=');
    if (eq < 0 || labelProblem(l.slice(0, eq), l.slice(eq + 1))) {
      throw new UserError('bad_flag', `--label must be KEY=VALUE (KEY: letters, digits, ".", "_", "-"; VALUE without spaces), got "${l}"`);
    }
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const fenceAfterMs = raw.fenceAfterMs === undefined ? DEFAULT_FENCE_AFTER_MS : parseMs(raw.fenceAfterMs, '--fence-after-ms');
  const snapshotIntervalMs = raw.snapshotIntervalMs === undefined ? 2000 : parseMs(raw.snapshotIntervalMs, '--snapshot-interval-ms');
  const volumeReserveBytes = raw.volumeReserve === undefined ? DEFAULT_VOLUME_RESERVE_BYTES : parseBytes(raw.volumeReserve);
  if (volumeReserveBytes === undefined) throw new UserError('bad_flag', `--volume-reserve must be a size such as 1GiB, 512MiB or a number of bytes, got "${raw.volumeReserve}"`);
  const scrubIntervalMs = raw.scrubInterval === undefined ? DEFAULT_SCRUB_INTERVAL_MS : raw.scrubInterval.trim() === 'off' ? 0 : parseDurationText(raw.scrubInterval);
  if (scrubIntervalMs === undefined || (scrubIntervalMs > 0 && scrubIntervalMs < 60_000)) throw new UserError('bad_flag', `--scrub-interval must be a duration of at least 1m such as 12h or 7d, or off, got "${raw.scrubInterval}"`);
  const proxyWorkers = parseProxyWorkers(raw.proxyWorkers, defaults.cpus ?? 1);
  const domain = (raw.domain ?? DEFAULT_DOMAIN).toLowerCase().replace(/\.$/, '');
  if (!/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(domain) || domain.length > 200) {
    throw new UserError('bad_flag', `--domain must be a DNS name such as warren.internal or home.example.com, got "${raw.domain}"`);
  }

  return {
    dataDir,
    name,
    bind,
    bindExplicit: raw.bind !== undefined,
    ports,
    join,
    ...(raw.token !== undefined ? { token: raw.token } : {}),
    open: raw.open ?? false,
    mdns: raw.mdns ?? true,
    tailscale,
    tailnetAdmit: tailnetAdmit === 'on',
    tailscaleCert: tailscaleCert === 'on',
    voters: votersText === '5' ? 5 : 3,
    logLevel,
    detector,
    labels,
    fenceAfterMs,
    snapshotIntervalMs,
    volumeReserveBytes,
    scrubIntervalMs,
    proxyWorkers,
    proxyWorkersOnDemand: (raw.proxyWorkers ?? 'auto').trim() === 'auto',
    domain,
    autoPorts: { proxy: raw.proxyPort === undefined, dns: raw.dnsPort === undefined, https: raw.httpsPort === undefined },
    hookTimeoutMs: raw.hookTimeoutMs === undefined ? DEFAULT_HOOK_LIMITS.timeoutMs : parseMs(raw.hookTimeoutMs, '--hook-timeout-ms'),
    restartGraceMs: parseRestartGrace(raw.restartGraceMs),
  };
}

function parseProxyWorkers(text: string | undefined, cpus: number): number {
  const t = (text ?? 'auto').trim();
  if (t === 'auto') return defaultProxyWorkers(cpus);
  if (!/^\d+$/.test(t) || Number(t) > MAX_PROXY_WORKERS) {
    throw new UserError('bad_flag', `--proxy-workers must be auto or a whole number from 0 to ${MAX_PROXY_WORKERS}, got "${text}"`);
  }
  return Number(t);
}

/** --restart-grace-ms: 0 (a stop fails over at once, as a death does) up to the longest hold a notice may ask for. */
function parseRestartGrace(text: string | undefined): number {
  if (text === undefined) return DEFAULT_RESTART_GRACE_MS;
  const t = text.trim();
  const ms = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!(ms <= MAX_RESTART_GRACE_MS)) throw new UserError('bad_flag', `--restart-grace-ms must be a whole number of milliseconds from 0 to ${MAX_RESTART_GRACE_MS}, got "${text}"`);
  return ms;
}

function parseMs(text: string, flag: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new UserError('bad_flag', `${flag} must be a whole number of milliseconds, got "${text}"`);
  const ms = Number(t);
  if (ms < 1 || ms > MAX_DETECTOR_MS) throw new UserError('bad_flag', `${flag} must be from 1 to ${MAX_DETECTOR_MS} ms, got ${ms}`);
  return ms;
}

/** The failure-detector flags: positive integers (ms), heartbeat < suspect-after < dead-after. */
function resolveDetectorFlags(raw: RawAgentOptions): DetectorFlags {
  const d = { ...DEFAULT_DETECTOR_FLAGS };
  for (const key of Object.keys(DETECTOR_FLAGS) as (keyof DetectorFlags)[]) {
    const value = raw[key];
    if (value !== undefined) d[key] = parseMs(value, DETECTOR_FLAGS[key]);
  }
  if (d.suspectAfterMs <= d.heartbeatMs) {
    throw new UserError(
      'bad_flag',
      `--suspect-after-ms (${d.suspectAfterMs}) must be greater than --heartbeat-ms (${d.heartbeatMs}): a node is only suspected after missing heartbeats`,
    );
  }
  if (d.deadAfterMs <= d.suspectAfterMs) {
    throw new UserError(
      'bad_flag',
      `--dead-after-ms (${d.deadAfterMs}) must be greater than --suspect-after-ms (${d.suspectAfterMs}): a node is suspected before it is declared dead`,
    );
  }
  return d;
}
