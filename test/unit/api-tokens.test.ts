import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LAST_USED_EVERY_MS, TOKEN_KEEP_MS, checkTokenName, hashToken, looksLikeApiToken, mintToken, parseDuration, scopeAllows, shouldRecordUse,
  tokenDroppable, tokenIdOf, tokenState, tokenVerdict, tokenView,
} from '../../src/core/api-tokens.ts';
import { isSessionToken } from '../../src/core/ui-auth.ts';
import { chooseToken } from '../../src/cli/token-source.ts';
import { API_TOKENS, ADMIN_TOKEN, recordingApi } from '../helpers/recording-api.ts';
import { prng } from '../helpers/prng.ts';

const code = (v: ReturnType<typeof tokenVerdict>) => (v.ok ? 'ok' : v.code);

test('a minted token has the wat_<id>.<secret> form, its record holds only the hash, and it verifies', () => {
  const { token, record } = mintToken({ name: 'laptop', scope: 'admin' }, 1000);
  assert.match(token, /^wat_[A-Za-z0-9]{12}\.[A-Za-z0-9_-]{43}$/);
  assert.equal(tokenIdOf(token), record.id);
  assert.equal(record.hash, hashToken(token));
  assert.ok(!JSON.stringify(record).includes(token.split('.')[1]!), 'the secret is not in the record');
  assert.equal(record.expiresAt, undefined);
  assert.deepEqual(tokenVerdict(record, token, 1000 + 10 * 365 * 86_400_000), { ok: true, id: record.id, scope: 'admin' });
  assert.ok(looksLikeApiToken(token));
  assert.ok(!isSessionToken(token), 'an API token is never taken for a UI session');
  assert.ok(!looksLikeApiToken('ws_abcdefgh.xxxxxxxxxxxxxxxxxxxxxxxx'));
  // two mints never share an id or a secret
  const other = mintToken({ name: 'laptop', scope: 'admin' }, 1000);
  assert.notEqual(other.record.id, record.id);
  assert.notEqual(other.token.split('.')[1], token.split('.')[1]);
});

test('a token is unknown when malformed, forged or of another record; revoked and expired say so', () => {
  const { token, record } = mintToken({ name: 'ci', scope: 'read', expiresInMs: 60_000 }, 0);
  const [head, secret] = token.split('.') as [string, string];
  const forged = `${head}.${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
  assert.equal(code(tokenVerdict(record, forged, 1)), 'token_unknown');
  assert.equal(code(tokenVerdict(undefined, token, 1)), 'token_unknown');
  assert.equal(code(tokenVerdict(record, 'wat_', 1)), 'token_unknown');
  assert.equal(code(tokenVerdict(record, `${token}x`, 1)), 'token_unknown');
  const other = mintToken({ name: 'x', scope: 'admin' }, 0);
  assert.equal(code(tokenVerdict(record, other.token, 1)), 'token_unknown', 'a record answers only for its own id');
  assert.equal(code(tokenVerdict(record, token, 59_999)), 'ok');
  assert.equal(code(tokenVerdict(record, token, 60_000)), 'token_expired');
  assert.equal(code(tokenVerdict({ ...record, revokedAt: 10 }, token, 20)), 'token_revoked');
  // revoked wins over expired: it is what the user did
  assert.equal(code(tokenVerdict({ ...record, revokedAt: 10 }, token, 120_000)), 'token_revoked');
  // a forged secret for a revoked token says no more than unknown
  assert.equal(code(tokenVerdict({ ...record, revokedAt: 10 }, forged, 20)), 'token_unknown');
});

test('randomized: a verdict is ok exactly when the record is its own, not revoked and not expired', () => {
  const rnd = prng(16);
  for (let i = 0; i < 500; i++) {
    const created = Math.floor(rnd() * 1e9);
    const ttl = rnd() < 0.5 ? undefined : Math.floor(rnd() * 1e6) + 60_000;
    const { token, record } = mintToken({ name: 'n', scope: rnd() < 0.5 ? 'read' : 'admin', ...(ttl === undefined ? {} : { expiresInMs: ttl }) }, created);
    const revoked = rnd() < 0.3;
    const rec = revoked ? { ...record, revokedAt: created + 5 } : record;
    const now = created + Math.floor(rnd() * 2e6);
    const want = !revoked && (ttl === undefined || now < created + ttl);
    const v = tokenVerdict(rec, token, now);
    assert.equal(v.ok, want, `seed 16 step ${i}`);
    assert.equal(tokenState(rec, now) === 'active', want);
    if (v.ok) assert.equal(v.scope, record.scope);
  }
});

test('scopes: a read token may only GET open routes; an admin token may do all but manage tokens', () => {
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'get']) assert.ok(scopeAllows('read', m, 'open'), m);
  for (const m of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    assert.ok(!scopeAllows('read', m, 'open'), m);
    assert.ok(!scopeAllows('read', m, 'admin'), m);
    assert.ok(scopeAllows('admin', m, 'admin'), m);
  }
  assert.ok(!scopeAllows('read', 'GET', 'admin'), 'the join token, backup and hooks are not for a read token');
  assert.ok(scopeAllows('admin', 'GET', 'admin'));
  for (const s of ['read', 'admin'] as const) for (const m of ['GET', 'POST', 'DELETE']) assert.ok(!scopeAllows(s, m, 'tokens'), `${s} ${m} tokens`);
});

test('durations: units, sums, and refusals of nonsense, of under a minute and of over 10 years', () => {
  const ms = (t: string) => {
    const d = parseDuration(t);
    assert.ok(d.ok, `${t}: ${d.ok ? '' : d.message}`);
    return d.ms;
  };
  assert.equal(ms('30m'), 30 * 60_000);
  assert.equal(ms('12h'), 12 * 3600_000);
  assert.equal(ms('30d'), 30 * 86_400_000);
  assert.equal(ms('2w'), 14 * 86_400_000);
  assert.equal(ms('1y'), 365 * 86_400_000);
  assert.equal(ms('1d12h'), 36 * 3600_000);
  assert.equal(ms(' 90S '), 90_000);
  for (const bad of ['', '30', 'd', '-1d', '1.5d', '30 d', '1x', '0m', 'forever', '99999999999999999999y']) assert.equal(parseDuration(bad).ok, false, bad);
  assert.match((parseDuration('30s') as { message: string }).message, /shorter than a minute/);
  assert.match((parseDuration('11y') as { message: string }).message, /longer than 10 years/);
});

test('names, views, last-use throttling and when ended records may go', () => {
  assert.equal(checkTokenName('laptop'), undefined);
  assert.ok(checkTokenName(''));
  assert.ok(checkTokenName('x'.repeat(65)));
  assert.ok(checkTokenName('a\nb'));
  const { record } = mintToken({ name: 'n', scope: 'read', expiresInMs: 60_000 }, 0);
  const view = tokenView(record, 5, 10);
  assert.deepEqual(view, { id: record.id, name: 'n', scope: 'read', createdAt: 0, expiresAt: 60_000, revokedAt: null, lastUsedAt: 5, state: 'active' });
  assert.ok(!('hash' in view));
  assert.ok(shouldRecordUse(undefined, 0));
  assert.ok(!shouldRecordUse(0, LAST_USED_EVERY_MS - 1));
  assert.ok(shouldRecordUse(0, LAST_USED_EVERY_MS));
  assert.ok(!tokenDroppable(record, 60_000 + TOKEN_KEEP_MS - 1));
  assert.ok(tokenDroppable(record, 60_000 + TOKEN_KEEP_MS));
  assert.ok(!tokenDroppable({ ...record, expiresAt: undefined }, 1e15), 'an active token that never expires stays');
  assert.ok(tokenDroppable({ ...record, revokedAt: 100 }, 100 + TOKEN_KEEP_MS));
});

test('the CLI sends WARREN_TOKEN first (on every call), then WARREN_ADMIN_TOKEN, then the data dir file', async () => {
  const file = async () => 'from-file';
  assert.deepEqual(await chooseToken({ WARREN_TOKEN: 'wat_x', WARREN_ADMIN_TOKEN: 'adm' }, file), { token: 'wat_x', source: 'WARREN_TOKEN', always: true });
  assert.deepEqual(await chooseToken({ WARREN_ADMIN_TOKEN: 'adm' }, file), { token: 'adm', source: 'WARREN_ADMIN_TOKEN', always: false });
  assert.deepEqual(await chooseToken({ WARREN_TOKEN: '  ' }, file), { token: 'from-file', source: 'data-dir', always: false });
  assert.equal(await chooseToken({}, async () => undefined), undefined);
});

test('HTTP: a dead token is 401 with its reason, a read token is 403 on writes and admin reads, tokens are managed with the admin token only', async () => {
  const { app, calls } = recordingApi();
  const call = async (method: string, path: string, auth?: string, body?: unknown) => {
    calls.length = 0;
    const res = await app.request(`http://agent${path}`, {
      method,
      headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code };
  };
  const unknown = `wat_Unknown00001.${'u'.repeat(43)}`;
  assert.deepEqual(await call('GET', '/v1/services', unknown), { status: 401, code: 'token_unknown' });
  assert.deepEqual(await call('GET', '/v1/services', API_TOKENS.read), { status: 200, code: undefined });
  assert.deepEqual(await call('POST', '/v1/services', API_TOKENS.read, { name: 'web', image: 'x' }), { status: 403, code: 'insufficient_scope' });
  assert.ok(!calls.includes('createService'));
  assert.deepEqual(await call('GET', '/v1/join-token', API_TOKENS.read), { status: 403, code: 'insufficient_scope' });
  assert.ok(!calls.includes('joinToken'));
  assert.deepEqual(await call('GET', '/v1/join-token', API_TOKENS.admin), { status: 200, code: undefined });
  assert.ok(calls.includes('joinToken'));
  assert.deepEqual(await call('POST', '/v1/services', API_TOKENS.admin, { name: 'web', image: 'img' }), { status: 201, code: undefined });
  for (const t of [API_TOKENS.admin, API_TOKENS.read]) {
    assert.deepEqual(await call('GET', '/v1/tokens', t), { status: 403, code: 'admin_token_only' });
    assert.equal((await call('POST', '/v1/tokens', t, { name: 'more' })).status, 403);
    assert.ok(!calls.includes('createToken'), 'a token cannot mint another');
  }
  assert.deepEqual(await call('GET', '/v1/tokens'), { status: 401, code: 'unauthorized' });
  assert.deepEqual(await call('POST', '/v1/tokens', ADMIN_TOKEN, { name: 'laptop', readOnly: true, expires: '30d' }), { status: 201, code: undefined });
  assert.deepEqual(await call('POST', '/v1/tokens', ADMIN_TOKEN, { expires: '5s' }), { status: 400, code: 'invalid_token_request' });
  assert.deepEqual(await call('POST', '/v1/tokens', ADMIN_TOKEN, { scope: 'admin' }), { status: 400, code: 'invalid_token_request' });
  assert.deepEqual(await call('DELETE', '/v1/tokens/AdminToken01', ADMIN_TOKEN), { status: 200, code: undefined });
});
