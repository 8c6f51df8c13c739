import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * The web UI's login rules (DESIGN.md "Web UI"), pure: one-time tickets, session tokens, and which
 * Host and Origin a request may carry. The etcd side is consensus/ui-sessions.ts.
 */

/** A login ticket works for 2 minutes after `warren ui` printed it, and once. */
export const TICKET_TTL_MS = 2 * 60_000;
/** A session lasts 30 days unless revoked (`warren ui --revoke ID`). */
export const SESSION_TTL_MS = 30 * 24 * 3600_000;

export interface TicketRecord {
  readOnly: boolean;
  createdAt: number;
  expiresAt: number;
  /** set (in the same etcd transaction that makes the session) when it was traded */
  usedAt?: number;
  /**
   * A move ticket: the id of the session it carries to another node's page (that session ends
   * when the ticket is traded, and the new one keeps its rights and its expiry).
   */
  moves?: string;
}

export interface SessionRecord {
  id: string;
  /** sha256 of the whole bearer token: etcd never holds a usable token */
  hash: string;
  readOnly: boolean;
  createdAt: number;
  expiresAt: number;
  /** the node whose API the ticket was traded on */
  via: string;
}

export type TicketVerdict = { ok: true } | { ok: false; code: 'ticket_unknown' | 'ticket_used' | 'ticket_expired'; message: string };

/** Whether a ticket (as read from etcd, or undefined) may be traded for a session at `now`. */
export function ticketVerdict(rec: TicketRecord | undefined, now: number): TicketVerdict {
  if (!rec) return { ok: false, code: 'ticket_unknown', message: 'this login link is not known to the cluster: run "warren ui" for a new one' };
  if (rec.usedAt !== undefined) return { ok: false, code: 'ticket_used', message: 'this login link was used already (each works once): run "warren ui" for a new one' };
  if (now >= rec.expiresAt) return { ok: false, code: 'ticket_expired', message: 'this login link expired (they last 2 minutes): run "warren ui" for a new one' };
  return { ok: true };
}

export function newTicketRecord(readOnly: boolean, now: number, moves?: string): TicketRecord {
  return { readOnly, createdAt: now, expiresAt: now + TICKET_TTL_MS, ...(moves === undefined ? {} : { moves }) };
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

const TOKEN_RE = /^ws_([A-Za-z0-9_-]{8,32})\.([A-Za-z0-9_-]{20,100})$/;

/** Session tokens look like ws_<id>.<secret>: the id finds the record, the hash proves the secret. */
export function sessionToken(id: string, secret: string): string {
  return `ws_${id}.${secret}`;
}

export function sessionIdOf(token: string): string | undefined {
  return TOKEN_RE.exec(token)?.[1];
}

export function isSessionToken(token: string): boolean {
  return TOKEN_RE.test(token);
}

/** Whether `token` is the session `rec` stands for, still valid at `now`. */
export function sessionMatches(rec: SessionRecord | undefined, token: string, now: number): boolean {
  if (!rec || now >= rec.expiresAt || sessionIdOf(token) !== rec.id) return false;
  const given = Buffer.from(sha256(token), 'hex');
  const want = Buffer.from(rec.hash, 'hex');
  return given.length === want.length && timingSafeEqual(given, want);
}

/** The host part of a Host header ("10.0.0.2:7370", "[::1]:7370", "node1") in lower case. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') === -1 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/**
 * A Host is known when it is an IP address (a DNS-rebinding page reaches us only under a name it
 * controls, never under our IP) or one of the names this cluster answers to (localhost, the nodes'
 * names, NAME.<domain>). A missing Host (HTTP/1.0) is refused: every client we serve sends one.
 */
export function hostAllowed(host: string | undefined, names: readonly string[]): boolean {
  if (!host) return false;
  const name = hostName(host);
  if (name === '') return false;
  if (isIP(name)) return true;
  return name === 'localhost' || names.some((n) => n.toLowerCase() === name);
}

function originOf(url: string): string | undefined {
  try {
    const o = new URL(url).origin;
    return o === 'null' ? undefined : o;
  } catch {
    return undefined;
  }
}

/**
 * A request without Origin comes from a CLI or curl (browsers send one on every cross-origin
 * request and every write). With one, it must be this page's own origin (the Host, already
 * checked) or another member's API address (the page carries on through another node).
 */
export function originAllowed(origin: string | undefined, host: string | undefined, memberApis: readonly string[]): boolean {
  if (origin === undefined) return true;
  const given = originOf(origin);
  if (!given || given !== origin.replace(/\/+$/, '')) return false;
  if (host && given === `http://${host.toLowerCase()}`) return true;
  return memberApis.some((api) => originOf(api) === given);
}
