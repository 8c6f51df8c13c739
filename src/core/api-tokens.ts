import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256 } from './ui-auth.ts';
import { DURATION_UNITS_MS, parseUnitDuration } from './duration-text.ts';

/**
 * API tokens (`warren token create|ls|revoke`), pure: their format, expiry, the verdict on a
 * presented token and what each scope may do. The etcd side is consensus/api-tokens.ts, the HTTP
 * side http/api-token-auth.ts. Unlike the per-node admin token file these are cluster-wide
 * (records in etcd), named, revocable and may expire: what a laptop or a script holds.
 */

/** `admin` may do what the admin token does (except manage tokens); `read` may only look. */
export type TokenScope = 'admin' | 'read';

export interface TokenRecord {
  id: string;
  name: string;
  scope: TokenScope;
  /** sha256 of the whole token: etcd never holds a usable token */
  hash: string;
  createdAt: number;
  /** absent: never expires */
  expiresAt?: number;
  /** set by `warren token revoke`; the record stays so the refusal can say "revoked" */
  revokedAt?: number;
}

/** What `warren token ls` shows: never the hash, let alone the secret. */
export interface TokenView {
  id: string;
  name: string;
  scope: TokenScope;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
  state: 'active' | 'expired' | 'revoked';
}

/** A verified token, as requests carry it (http/api-token-auth.ts sets it on the context). */
export interface ApiTokenAuth {
  id: string;
  scope: TokenScope;
}

export type TokenVerdict =
  | { ok: true; id: string; scope: TokenScope }
  | { ok: false; code: 'token_unknown' | 'token_expired' | 'token_revoked'; message: string };

/** Tokens look like wat_<id>.<secret>: the id finds the record, the hash proves the secret. */
const TOKEN_RE = /^wat_([A-Za-z0-9]{12})\.([A-Za-z0-9_-]{43})$/;
/** Anything that starts like an API token is judged as one (a typo is "unknown", not "no token"). */
const PREFIX = 'wat_';

/** Revoked and expired records are kept this long after, then dropped when tokens are listed. */
export const TOKEN_KEEP_MS = 30 * 24 * 3600_000;
/** A node records a token's last use at most this often (a write to etcd per request would be a lot). */
export const LAST_USED_EVERY_MS = 60_000;
export const NAME_MAX = 64;

export function newTokenId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  // 62^12 ids; the modulo bias of 256 % 62 does not matter for an identifier
  return [...randomBytes(12)].map((b) => alphabet[b % alphabet.length]).join('');
}

export function formatToken(id: string, secret: string): string {
  return `${PREFIX}${id}.${secret}`;
}

/** A new token and the record to store for it (the token itself is shown once and forgotten). */
export function mintToken(opts: { name: string; scope: TokenScope; expiresInMs?: number }, now: number, id = newTokenId(), secret = randomBytes(32).toString('base64url')): { token: string; record: TokenRecord } {
  const token = formatToken(id, secret);
  const record: TokenRecord = { id, name: opts.name, scope: opts.scope, hash: hashToken(token), createdAt: now };
  if (opts.expiresInMs !== undefined) record.expiresAt = now + opts.expiresInMs;
  return { token, record };
}

export function hashToken(token: string): string {
  return sha256(token);
}

/** Whether a bearer value is meant as an API token (then it is judged as one, never ignored). */
export function looksLikeApiToken(bearer: string): boolean {
  return bearer.startsWith(PREFIX);
}

/** The record id a well-formed token names, else undefined. */
export function tokenIdOf(token: string): string | undefined {
  return TOKEN_RE.exec(token)?.[1];
}

const UNKNOWN: TokenVerdict = { ok: false, code: 'token_unknown', message: 'this API token is not known to the cluster (mistyped, or never made): "warren token create" on a member makes one' };

/** The verdict on `token` given the record its id names (undefined: none) at `now`. */
export function tokenVerdict(rec: TokenRecord | undefined, token: string, now: number): TokenVerdict {
  const id = tokenIdOf(token);
  if (!id || !rec || rec.id !== id) return UNKNOWN;
  const given = Buffer.from(hashToken(token), 'hex');
  const want = Buffer.from(rec.hash, 'hex');
  // a right id with a wrong secret says no more than an unknown token does
  if (given.length !== want.length || !timingSafeEqual(given, want)) return UNKNOWN;
  if (rec.revokedAt !== undefined) return { ok: false, code: 'token_revoked', message: `API token ${rec.id} ("${rec.name}") was revoked: ask for a new one ("warren token create")` };
  if (rec.expiresAt !== undefined && now >= rec.expiresAt) return { ok: false, code: 'token_expired', message: `API token ${rec.id} ("${rec.name}") expired at ${new Date(rec.expiresAt).toISOString()}: ask for a new one ("warren token create")` };
  return { ok: true, id: rec.id, scope: rec.scope };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * What a scope may do with a request. A read token may use the safe methods only, and not the
 * admin routes among them (the join token, the backup, hooks): those hand out the cluster's
 * secrets. Token management is the admin token's alone, so a token cannot mint or keep others.
 */
export function scopeAllows(scope: TokenScope, method: string, route: 'open' | 'admin' | 'tokens'): boolean {
  if (route === 'tokens') return false;
  if (scope === 'admin') return true;
  return SAFE_METHODS.has(method.toUpperCase()) && route === 'open';
}

export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

export function tokenState(rec: TokenRecord, now: number): TokenView['state'] {
  if (rec.revokedAt !== undefined) return 'revoked';
  if (rec.expiresAt !== undefined && now >= rec.expiresAt) return 'expired';
  return 'active';
}

export function tokenView(rec: TokenRecord, lastUsedAt: number | undefined, now: number): TokenView {
  return {
    id: rec.id,
    name: rec.name,
    scope: rec.scope,
    createdAt: rec.createdAt,
    expiresAt: rec.expiresAt ?? null,
    revokedAt: rec.revokedAt ?? null,
    lastUsedAt: lastUsedAt ?? null,
    state: tokenState(rec, now),
  };
}

/** Whether a revoked or expired record has been kept long enough to be dropped. */
export function tokenDroppable(rec: TokenRecord, now: number): boolean {
  const ended = rec.revokedAt ?? (rec.expiresAt !== undefined && now >= rec.expiresAt ? rec.expiresAt : undefined);
  return ended !== undefined && now - ended >= TOKEN_KEEP_MS;
}

/** Whether this node should write a new last-used time (it last wrote at `lastWritten`). */
export function shouldRecordUse(lastWritten: number | undefined, now: number): boolean {
  return lastWritten === undefined || now - lastWritten >= LAST_USED_EVERY_MS;
}


/**
 * `--expires` values: a number with a unit (90s, 30m, 12h, 30d, 2w, 1y), or several (1d12h).
 * Returns milliseconds, or a one-line reason.
 */
export function parseDuration(text: string): { ok: true; ms: number } | { ok: false; message: string } {
  const bad = { ok: false as const, message: `"${text}" is not a duration (expected e.g. 30m, 12h, 30d, 2w, 1y, or 1d12h)` };
  const ms = parseUnitDuration(text, ['s', 'm', 'h', 'd', 'w', 'y']);
  if (ms === undefined || ms <= 0) return bad;
  if (ms < 60_000) return { ok: false, message: `"${text}" is shorter than a minute: a token that short is of no use` };
  if (ms > 10 * DURATION_UNITS_MS.y) return { ok: false, message: `"${text}" is longer than 10 years: leave --expires out for a token that never expires` };
  return { ok: true, ms };
}

/** A token's name: what the user calls it in `warren token ls` (printable, short). */
export function checkTokenName(name: string): string | undefined {
  if (name.length === 0 || name.length > NAME_MAX) return `a token name is 1 to ${NAME_MAX} characters`;
  if (!/^[\x20-\x7e]+$/.test(name)) return 'a token name is printable ASCII';
  return undefined;
}
