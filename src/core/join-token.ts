/**
 * Join tokens: `wrn1.<secret>.<caFingerprint>`.
 *
 * - `secret`: 24 random bytes, base64url without padding (32 characters). The admitting agent
 *   compares it with secretsEqual.
 * - `caFingerprint`: base64url (no padding) SHA-256 of the cluster CA certificate's DER
 *   (43 characters), so the joining node can pin the CA before it trusts anything it is sent.
 *
 * Pure (no I/O); generating the secret is the caller's job.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { UserError } from './errors.ts';

export const JOIN_TOKEN_PREFIX = 'wrn1';
export const JOIN_SECRET_BYTES = 24;
const FINGERPRINT_BYTES = 32;

export interface JoinToken {
  secret: string;
  caFingerprint: string;
}

export function formatJoinToken(token: JoinToken): string {
  const problem = secretProblem(token.secret) ?? fingerprintProblem(token.caFingerprint);
  if (problem) throw new Error(`cannot format a join token: ${problem}`);
  return `${JOIN_TOKEN_PREFIX}.${token.secret}.${token.caFingerprint}`;
}

/** Parses a token as printed by `warren join-token`; surrounding whitespace is ignored. */
export function parseJoinToken(text: string): JoinToken {
  const raw = text.trim();
  if (!raw) throw bad('the join token is empty');
  const parts = raw.split('.');
  if (parts[0] !== JOIN_TOKEN_PREFIX) {
    const hint = /^wrn\d+$/.test(parts[0] ?? '') ? ` (this is a "${parts[0]}" token; this warren understands "${JOIN_TOKEN_PREFIX}" tokens only)` : '';
    throw bad(`the join token does not start with "${JOIN_TOKEN_PREFIX}."${hint}; copy the whole token printed by \`warren join-token\``);
  }
  if (parts.length !== 3) {
    throw bad(`the join token has ${parts.length} dot-separated parts, expected 3 (${JOIN_TOKEN_PREFIX}.<secret>.<ca-fingerprint>); is it cut short or pasted twice?`);
  }
  const [, secret, caFingerprint] = parts as [string, string, string];
  const problem = secretProblem(secret) ?? fingerprintProblem(caFingerprint);
  if (problem) throw bad(`the join token is damaged: ${problem}`);
  return { secret, caFingerprint };
}

/** Compares two secrets in time independent of where they differ (and of their lengths). */
export function secretsEqual(a: string, b: string): boolean {
  // hashing first gives equal-length inputs, so neither the content nor the length leaks
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

function bad(message: string): UserError {
  return new UserError('bad_token', message);
}

function secretProblem(secret: string): string | undefined {
  return base64urlProblem('secret', secret, JOIN_SECRET_BYTES);
}

function fingerprintProblem(fingerprint: string): string | undefined {
  return base64urlProblem('CA fingerprint', fingerprint, FINGERPRINT_BYTES);
}

function base64urlProblem(what: string, value: string, bytes: number): string | undefined {
  const length = Math.ceil((bytes * 4) / 3);
  if (!value) return `its ${what} is empty`;
  const stray = /[^A-Za-z0-9_-]/.exec(value);
  if (stray) return `its ${what} contains ${stray[0].trim() ? JSON.stringify(stray[0]) : 'white space'}, which is not a base64url character`;
  if (value.length !== length) return `its ${what} is ${value.length} characters long, expected ${length}`;
  // a base64url string of this length can still carry stray low bits in its last character
  if (Buffer.from(value, 'base64url').toString('base64url') !== value) return `its ${what} is not canonical base64url`;
  return undefined;
}
