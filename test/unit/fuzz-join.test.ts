import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { isUserError } from '../../src/core/errors.ts';
import { formatJoinToken, parseJoinToken, secretsEqual } from '../../src/core/join-token.ts';
import { signBody, verifyBody } from '../../src/system/signing.ts';
import { fuzz } from '../helpers/fuzz.ts';

// Fuzzes what a join or admit request must get past before it touches the cluster: the join
// token parser, the secret comparison, and the signature check of POST /v1/join and /v1/admit.

const validToken = () => formatJoinToken({ secret: randomBytes(24).toString('base64url'), caFingerprint: randomBytes(32).toString('base64url') });
const TOKENS = Array.from({ length: 8 }, validToken);

/** A string edited at a random place: a character replaced, inserted or removed. */
const edited = (base: fc.Arbitrary<string>) =>
  fc.tuple(base, fc.nat(), fc.constantFrom('replace', 'insert', 'delete'), fc.oneof(fc.string({ minLength: 1, maxLength: 1 }), fc.constantFrom('.', ' ', '\n', '=', '+', '/', '\u00e9', 'A', '-', '_')))
    .map(([s, at, op, ch]) => {
      const i = s.length ? at % s.length : 0;
      if (op === 'replace') return s.slice(0, i) + ch + s.slice(i + 1);
      if (op === 'insert') return s.slice(0, i) + ch + s.slice(i);
      return s.slice(0, i) + s.slice(i + 1);
    });

const tokenText = fc.oneof(
  fc.constantFrom(...TOKENS),
  edited(fc.constantFrom(...TOKENS)),
  fc.constantFrom(...TOKENS).map((t) => ` \t${t}\n`),
  fc.constantFrom(...TOKENS).map((t) => t + t),
  fc.constantFrom(...TOKENS).map((t) => t.replace('wrn1', 'wrn2')),
  fc.constantFrom(...TOKENS).map((t) => t.slice(0, -4)),
  fc.string({ maxLength: 120 }),
  fc.string({ unit: 'binary', maxLength: 120 }),
  fc.array(fc.base64String({ maxLength: 50 }), { maxLength: 5 }).map((p) => ['wrn1', ...p].join('.')),
);

test('fuzz: the join token parser accepts exactly the canonical tokens and refuses anything else with a one-line bad_token', async () => {
  await fuzz(
    'join-token',
    fc.property(tokenText, (text) => {
      let parsed;
      try {
        parsed = parseJoinToken(text);
      } catch (err) {
        assert.ok(isUserError(err), `not a UserError: ${String(err)}`);
        assert.equal(err.code, 'bad_token');
        assert.equal(err.status, 400);
        assert.doesNotMatch(err.message, /\n/);
        return;
      }
      // accepted: the text was a canonical token (perhaps another one than it was edited from)
      assert.equal(formatJoinToken(parsed), text.trim());
    }),
    10_000,
  );
});

test('fuzz: secretsEqual agrees with string equality', async () => {
  const secret = fc.oneof(fc.constantFrom(...TOKENS.map((t) => t.split('.')[1]!)), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }));
  await fuzz(
    'secrets-equal',
    fc.property(secret, secret, edited(secret), (a, b, c) => {
      assert.equal(secretsEqual(a, b), a === b);
      assert.equal(secretsEqual(a, c), a === c);
      assert.equal(secretsEqual(a, a), true);
    }),
    10_000,
  );
});

test('fuzz: a join or admit request passes the signature check only exactly as its node signed it', async () => {
  const key = await generateKeyPair('Ed25519');
  const other = await generateKeyPair('Ed25519');
  const id = peerIdFromPrivateKey(key).toString();
  const otherId = peerIdFromPrivateKey(other).toString();
  const join = { id, name: 'n2', api: 'http://10.0.0.2:7370', addr: '10.0.0.2', p2p: [], peerUrl: 'https://10.0.0.2:2380', clientUrl: 'https://10.0.0.2:2379' };
  const signed = [await signBody(key, join), await signBody(key, { id, publicKeyPem: 'PEM' }), await signBody(other, { ...join, id: otherId })];
  // another node's signature over a payload naming this node, and a payload too old to count
  const forged = { payload: JSON.stringify({ ...join, signedAt: Date.now() }), sig: signed[2]!.sig };
  const stale = await signBody(key, join).then((b) => ({ ...b, payload: b.payload.replace(/"signedAt":\d+/, '"signedAt":1') }));

  const body = fc.oneof(
    fc.constantFrom(...signed).map((b) => ({ body: b as unknown, genuine: true })),
    fc.constantFrom(...signed).chain((b) =>
      fc.oneof(
        edited(fc.constant(b.payload)).map((payload) => ({ body: { ...b, payload } as unknown, genuine: payload === b.payload })),
        edited(fc.constant(b.sig)).map((sig) => ({ body: { ...b, sig } as unknown, genuine: sig === b.sig })),
        fc.constantFrom('payload', 'sig').chain((k) => fc.anything().map((v) => ({ body: { ...b, [k]: v } as unknown, genuine: false }))),
        fc.constant({ body: { payload: b.payload.replace(id, otherId), sig: b.sig } as unknown, genuine: false }),
      ),
    ),
    fc.constantFrom({ body: forged as unknown, genuine: false }, { body: stale as unknown, genuine: false }),
    fc.anything().map((v) => ({ body: v, genuine: false })),
    fc.record({ payload: fc.oneof(fc.json(), fc.constant(JSON.stringify({ id: 'not-a-peer-id', signedAt: Date.now() }))), sig: fc.base64String({ maxLength: 100 }) }).map((b) => ({ body: b as unknown, genuine: false })),
  );
  await fuzz(
    'signed-body',
    fc.asyncProperty(body, async ({ body: b, genuine }) => {
      const v = await verifyBody(b);
      if (v.ok) {
        // a base64 signature may be edited without changing its bytes (e.g. a stray '=' after it)
        const sig = Buffer.from((b as { sig: string }).sig, 'base64').toString('base64');
        assert.ok(genuine || signed.some((s) => s.payload === (b as { payload: string }).payload && s.sig === sig), `accepted a body its node did not sign: ${JSON.stringify(b).slice(0, 200)}`);
      } else {
        assert.equal(typeof v.reason, 'string');
        assert.equal(genuine, false, `refused a genuine body: ${v.reason}`);
      }
    }),
    10_000,
  );
});
