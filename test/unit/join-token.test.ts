import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { formatJoinToken, parseJoinToken, secretsEqual } from '../../src/core/join-token.ts';
import { UserError } from '../../src/core/errors.ts';

const secret = randomBytes(24).toString('base64url');
const caFingerprint = createHash('sha256').update('a certificate').digest('base64url');
const good = `wrn1.${secret}.${caFingerprint}`;

function refused(text: string, message: RegExp) {
  assert.throws(
    () => parseJoinToken(text),
    (err: unknown) => {
      assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
      assert.equal(err.code, 'bad_token');
      assert.equal(err.status, 400);
      assert.match(err.message, message);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    },
    `token ${JSON.stringify(text)} should be refused`,
  );
}

test('a join token round-trips', () => {
  assert.equal(secret.length, 32);
  assert.equal(caFingerprint.length, 43);
  const text = formatJoinToken({ secret, caFingerprint });
  assert.equal(text, good);
  assert.match(text, /^wrn1\.[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(parseJoinToken(text), { secret, caFingerprint });
  // secrets with - and _ (base64url) survive too
  const urlish = { secret: '-_'.repeat(16), caFingerprint: `${'_-'.repeat(21)}A` };
  assert.deepEqual(parseJoinToken(formatJoinToken(urlish)), urlish);
});

test('white space around a pasted token is ignored', () => {
  assert.deepEqual(parseJoinToken(`  ${good}\n`), { secret, caFingerprint });
});

test('every malformed token is refused with a clear message', () => {
  refused('', /empty/);
  refused('   \n', /empty/);
  refused(`${secret}.${caFingerprint}`, /does not start with "wrn1\."/);
  refused(`WRN1.${secret}.${caFingerprint}`, /does not start with "wrn1\."/);
  refused(`wrn2.${secret}.${caFingerprint}`, /"wrn2" token.*"wrn1" tokens only/);
  refused('hello', /does not start with "wrn1\."/);
  refused('wrn1', /1 dot-separated parts, expected 3/);
  refused(`wrn1.${secret}`, /2 dot-separated parts, expected 3/);
  refused(`wrn1.${secret}.${caFingerprint}.extra`, /4 dot-separated parts, expected 3/);
  refused(`${good}${good}`, /5 dot-separated parts/);
  refused(`wrn1..${caFingerprint}`, /secret is empty/);
  refused(`wrn1.${secret}.`, /CA fingerprint is empty/);
  refused(`wrn1.${secret.slice(1)}.${caFingerprint}`, /secret is 31 characters long, expected 32/);
  refused(`wrn1.${secret}A.${caFingerprint}`, /secret is 33 characters long, expected 32/);
  refused(`wrn1.${secret}.${caFingerprint.slice(0, 40)}`, /CA fingerprint is 40 characters long, expected 43/);
  refused(`wrn1.${secret}.${caFingerprint}=`, /CA fingerprint contains "=", which is not a base64url character/);
  refused(`wrn1.${secret.slice(0, 31)}+.${caFingerprint}`, /secret contains "\+"/);
  refused(`wrn1.${secret.slice(0, 31)}/.${caFingerprint}`, /secret contains "\/"/);
  refused(`wrn1.${secret.slice(0, 16)} ${secret.slice(17)}.${caFingerprint}`, /secret contains white space/);
  refused(`wrn1.${secret}.${caFingerprint.slice(0, 20)}\n${caFingerprint.slice(21)}`, /CA fingerprint contains white space/);
  // 43 characters carry 258 bits: a last character with stray low bits is not a SHA-256
  refused(`wrn1.${secret}.${caFingerprint.slice(0, 42)}B`, /CA fingerprint is not canonical base64url/);
  // every refusal names the problem as damage, never with a stack
  refused(`wrn1.${secret}.${'x'.repeat(43)}`, /damaged: its CA fingerprint is not canonical/);
});

test('formatting refuses values that would not parse back', () => {
  assert.throws(() => formatJoinToken({ secret: 'short', caFingerprint }), /secret is 5 characters long/);
  assert.throws(() => formatJoinToken({ secret, caFingerprint: 'a.b' }), /CA fingerprint contains "\."/);
});

test('secretsEqual compares in constant time and is exact', () => {
  assert.equal(secretsEqual(secret, secret), true);
  assert.equal(secretsEqual(secret, `${secret}`.slice(0)), true);
  assert.equal(secretsEqual(secret, `${secret.slice(0, 31)}${secret[31] === 'A' ? 'B' : 'A'}`), false);
  assert.equal(secretsEqual(secret, secret.slice(0, 31)), false);
  assert.equal(secretsEqual(secret, ''), false);
  assert.equal(secretsEqual('', ''), true);
});
