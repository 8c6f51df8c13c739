/**
 * The route table as proxy worker processes see it (see proxy-workers.ts): the agent sends a
 * full snapshot (every service's name and running backends) on every change of its route
 * table; a worker answers from its last snapshot and sends what the proxy reports (an
 * unreachable container address) back. Pure: no I/O here, the IPC is in proxy-workers.ts and
 * proxy-worker.ts.
 */
import { tailnetCertName } from '../core/https/tailnet-cert.ts';
import type { Backend, ProxyStats, RouteSource } from './proxy-types.ts';
import { isServiceCert, type ServiceCert } from './service-certs.ts';
import { isContainerHostIn } from './proxy-source.ts';

export interface RouteSnapshot {
  services: string[];
  /** service -> its running backends (services with none are absent) */
  backends: Record<string, Backend[]>;
  /** services that redirect plain HTTP to HTTPS (absent: none) */
  redirect?: string[];
}

/** agent -> worker */
export type ToWorker =
  | { t: 'routes'; snapshot: RouteSnapshot }
  | { t: 'stats'; seq: number }
  /** the answer to a worker's 'cert' (null: no certificate for that service) */
  | { t: 'cert'; seq: number; cert: ServiceCert | null };

/** worker -> agent */
export type FromWorker =
  | { t: 'hello' }
  | { t: 'ready'; pid: number }
  | { t: 'stats'; seq: number; stats: ProxyStats }
  | { t: 'unreachable'; backend: Backend }
  /** a TLS client named this service: the worker needs its certificate */
  | { t: 'cert'; seq: number; service: string };

/** A snapshot of a route source: every service's backends, as plain data for IPC. */
export function snapshotOf(source: Pick<RouteSource, 'services' | 'backends' | 'httpsRedirect'>): RouteSnapshot {
  const services = source.services();
  const backends: Record<string, Backend[]> = {};
  const redirect: string[] = [];
  for (const s of services) {
    const list = source.backends(s);
    if (list.length > 0) backends[s] = list.map(plainBackend);
    if (source.httpsRedirect?.(s)) redirect.push(s);
  }
  return redirect.length > 0 ? { services, backends, redirect } : { services, backends };
}

function plainBackend(b: Backend): Backend {
  const out: Backend = { host: b.host, port: b.port, nodeId: b.nodeId, slot: b.slot };
  if (b.container) out.container = { id: b.container.id, epoch: b.container.epoch };
  return out;
}

const EMPTY: Backend[] = [];

/** A RouteSource answering from the last snapshot received. */
export class SnapshotRoutes implements RouteSource {
  private byService = new Map<string, Backend[]>();
  private names = new Set<string>();
  private list: string[] = [];
  private redirect = new Set<string>();
  /** snapshots applied so far (0: none yet) */
  version = 0;

  constructor(private readonly report?: (b: Backend) => void) {}

  /** Replaces the whole table; false (and nothing changed) when the snapshot is malformed. */
  apply(snapshot: unknown): boolean {
    if (!isSnapshot(snapshot)) return false;
    this.byService = new Map(Object.entries(snapshot.backends));
    this.list = [...snapshot.services];
    this.names = new Set(this.list);
    this.redirect = new Set(snapshot.redirect ?? []);
    this.version++;
    return true;
  }

  backends(service: string): Backend[] {
    return this.byService.get(service) ?? EMPTY;
  }

  hasService(service: string): boolean {
    return this.names.has(service);
  }

  services(): string[] {
    return this.list;
  }

  unreachable(b: Backend): void {
    this.report?.(b);
  }

  /** Is `host` a local container's address in the last snapshot (not a node's)? */
  isContainerHost(host: string): boolean {
    return isContainerHostIn(this.byService.values(), host);
  }

  httpsRedirect(service: string): boolean {
    return this.redirect.has(service);
  }
}

export function isBackend(x: unknown): x is Backend {
  if (typeof x !== 'object' || x === null) return false;
  const b = x as Record<string, unknown>;
  if (typeof b.host !== 'string' || b.host === '' || !isPort(b.port) || typeof b.nodeId !== 'string' || !Number.isInteger(b.slot)) return false;
  if (b.container === undefined) return true;
  const c = b.container as Record<string, unknown> | null;
  return typeof c === 'object' && c !== null && typeof c.id === 'string' && Number.isInteger(c.epoch);
}

function isPort(p: unknown): boolean {
  return Number.isInteger(p) && (p as number) > 0 && (p as number) < 65536;
}

export function isSnapshot(x: unknown): x is RouteSnapshot {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Record<string, unknown>;
  if (!Array.isArray(s.services) || !s.services.every((n) => typeof n === 'string')) return false;
  if (typeof s.backends !== 'object' || s.backends === null || Array.isArray(s.backends)) return false;
  for (const list of Object.values(s.backends)) {
    if (!Array.isArray(list) || !list.every(isBackend)) return false;
  }
  return s.redirect === undefined || (Array.isArray(s.redirect) && s.redirect.every((n) => typeof n === 'string'));
}

const STAT_KEYS = ['requests', 'retries', 'errors', 'containerTries', 'publishedTries'] as const;

export function isStats(x: unknown): x is ProxyStats {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Record<string, unknown>;
  return STAT_KEYS.every((k) => Number.isSafeInteger(s[k]) && (s[k] as number) >= 0);
}

export function zeroStats(): ProxyStats {
  return { requests: 0, retries: 0, errors: 0, containerTries: 0, publishedTries: 0 };
}

export function addStats(into: ProxyStats, s: ProxyStats): ProxyStats {
  for (const k of STAT_KEYS) into[k] += s[k];
  return into;
}

/** A worker's message, validated (the agent trusts nothing a child sends). undefined: ignore it. */
export function parseFromWorker(m: unknown): FromWorker | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const x = m as Record<string, unknown>;
  switch (x.t) {
    case 'hello':
      return { t: 'hello' };
    case 'ready':
      return Number.isInteger(x.pid) ? { t: 'ready', pid: x.pid as number } : undefined;
    case 'stats':
      return Number.isInteger(x.seq) && isStats(x.stats) ? { t: 'stats', seq: x.seq as number, stats: x.stats } : undefined;
    case 'unreachable':
      return isBackend(x.backend) && x.backend.container !== undefined ? { t: 'unreachable', backend: x.backend } : undefined;
    case 'cert':
      return Number.isInteger(x.seq) && typeof x.service === 'string' && (x.service.length <= 63 || tailnetCertName(x.service) === x.service) ? { t: 'cert', seq: x.seq as number, service: x.service } : undefined;
    default:
      return undefined;
  }
}

/** Whether two snapshots route the same (the agent skips sending an unchanged one). */
export function sameSnapshot(a: RouteSnapshot | undefined, b: RouteSnapshot): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/** The agent's answer to a 'cert' request, validated on the worker's side. */
export function parseCertAnswer(m: unknown): { seq: number; cert: ServiceCert | null } | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const x = m as Record<string, unknown>;
  if (x.t !== 'cert' || !Number.isInteger(x.seq)) return undefined;
  if (x.cert === null) return { seq: x.seq as number, cert: null };
  return isServiceCert(x.cert) ? { seq: x.seq as number, cert: x.cert } : undefined;
}
