import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { recordingApi, ADMIN_TOKEN as TOKEN, API_TOKENS } from '../helpers/recording-api.ts';
import { fuzz } from '../helpers/fuzz.ts';

// Fuzzes every route of the agent's HTTP API (createApi) with deps that only record their calls:
// random bodies, headers, query strings and path parameters. Every answer must be a 2xx or a
// JSON 4xx error, never a 500 or a stack, and no mutating dep may run without the admin token.

/** Deps that may change the cluster (or hand out its secret): only with the admin token. */
const ADMIN_ONLY = ['publishUserEvent', 'leave', 'approve', 'joinToken', 'createService', 'updateService', 'removeService', 'drainNode', 'recover', 'backup', 'deployStack', 'removeStack', 'hooks', 'snapshotVolume', 'removeVolume', 'snapshotHere', 'localSnapshots', 'volumeOffer', 'volumeReceive', 'volumeCommit', 'restoreVolume', 'restoreHere', 'cloneVolume', 'cloneHere', 'exportVolume', 'exportHere', 'importVolume', 'handoverHere', 'createToken', 'listTokens', 'revokeToken'] as const;

/** Every route createApi serves, with path parameters as `:name` (checked against the app below). */
const ROUTES: [string, string][] = [
  ['GET', '/v1/health'],
  ['GET', '/v1/volumes'],
  ['GET', '/v1/volumes/:name'],
  ['DELETE', '/v1/volumes/:name'],
  ['GET', '/v1/volumes/:name/snapshots'],
  ['POST', '/v1/volumes/:name/snapshots'],
  ['GET', '/v1/volume-sync/:volume/snapshots'],
  ['POST', '/v1/volume-sync/:volume/snapshot'],
  ['POST', '/v1/volume-sync/:volume/offer'],
  ['POST', '/v1/volume-sync/chunks'],
  ['POST', '/v1/volume-sync/:volume/commit'],
  ['POST', '/v1/volumes/:name/restore'],
  ['POST', '/v1/volumes/:name/clone'],
  ['GET', '/v1/volumes/:name/export'],
  ['PUT', '/v1/volumes/:name/import'],
  ['POST', '/v1/volume-sync/:volume/restore'],
  ['POST', '/v1/volume-sync/:volume/clone'],
  ['GET', '/v1/volume-sync/:volume/export'],
  ['POST', '/v1/volume-sync/:volume/handover'],
  ['GET', '/v1/members'],
  ['GET', '/v1/events'],
  ['POST', '/v1/events/:topic'],
  ['GET', '/v1/p2p'],
  ['POST', '/v1/probe'],
  ['POST', '/v1/leave'],
  ['GET', '/metrics'],
  ['POST', '/v1/join'],
  ['POST', '/v1/admit'],
  ['GET', '/v1/admission'],
  ['POST', '/v1/admission/:node/approve'],
  ['GET', '/v1/join-token'],
  ['GET', '/v1/services'],
  ['POST', '/v1/services'],
  ['GET', '/v1/services/:name'],
  ['PATCH', '/v1/services/:name'],
  ['DELETE', '/v1/services/:name'],
  ['GET', '/v1/services/:name/logs'],
  ['POST', '/v1/nodes/:node/drain'],
  ['POST', '/v1/nodes/:node/activate'],
  ['POST', '/v1/recover'],
  ['GET', '/v1/ca'],
  ['GET', '/v1/cluster/backup'],
  ['GET', '/v1/stacks'],
  ['POST', '/v1/stacks'],
  ['GET', '/v1/stacks/:name'],
  ['DELETE', '/v1/stacks/:name'],
  ['GET', '/v1/hooks'],
  ['POST', '/v1/tokens'],
  ['GET', '/v1/tokens'],
  ['DELETE', '/v1/tokens/:id'],
];

const paramValue = fc.oneof(
  fc.constantFrom('web', 'nas', 'backup.done', '..%2F..%2Fetc%2Fpasswd', '..', '%2e%2e', '%', '%zz', '%E0%A4%A', '%00', '%2F', 'a%20b', '%C0%AE'),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 20 }).map(encodeURIComponent),
  fc.nat({ max: 9000 }).map((n) => 'a'.repeat(n)),
);

const queryString = fc.oneof(
  fc.constant(''),
  fc
    .array(
      fc.tuple(
        fc.constantFrom('topic', 'follow', 'tail', 'replica', 'local', 'x', '%', ''),
        fc.oneof(fc.constantFrom('1', '0', 'true', '-1', '1e9', '99999999999999999999', '', '%', 'node.dead', 'Bad', '*', ',,,'), fc.string({ maxLength: 30 }).map(encodeURIComponent)),
      ),
      { maxLength: 4 },
    )
    .map((kv) => '?' + kv.map(([k, v]) => `${k}=${v}`).join('&')),
);

/** The Authorization header, and whether it carries the admin token by requireAdmin's rule. */
const auth = fc.oneof(
  fc.constantFrom<[string | undefined, boolean]>(
    [undefined, false],
    [`Bearer ${TOKEN}`, true],
    [`bearer ${TOKEN}`, true],
    [`Bearer    ${TOKEN}`, true],
    [TOKEN, true],
    // fetch trims header values, as HTTP parsers do
    [`Bearer ${TOKEN} `, true],
    [`Bearer ${TOKEN.slice(0, -1)}`, false],
    [`Bearer ${TOKEN}x`, false],
    ['Bearer', false],
    ['', false],
    [`Basic ${TOKEN}`, false],
    // an API token: a read-only one must never reach a mutating dep (nor an admin GET); an admin
    // one may (it is then judged as the admin token is, except for managing tokens)
    [`Bearer ${API_TOKENS.read}`, false],
    [`Bearer ${API_TOKENS.admin}`, true],
    [`Bearer ${API_TOKENS.read.slice(0, -1)}x`, false],
    [`Bearer wat_`, false],
  ),
  fc.string({ maxLength: 60 }).filter((s) => !s.includes(TOKEN)).map((s): [string, boolean] => [s, false]),
);

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const body = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('', '{', 'null', '[]', '"x"', '1e999', '{"name":', '\u0000', deep(5000), `{"a":${deep(3000)}}`, '{"__proto__":{"admin":true}}'),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.record({ name: fc.oneof(fc.string(), fc.anything()), image: fc.oneof(fc.string(), fc.anything()), replicas: fc.anything() }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ target: fc.anything(), timeoutMs: fc.oneof(fc.double(), fc.anything()) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ payload: fc.oneof(fc.string(), fc.anything()), sig: fc.oneof(fc.base64String(), fc.anything()) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.constantFrom(1_000, 70_000, 300_000).map((n) => JSON.stringify({ name: 'x'.repeat(n) })),
  fc.string({ unit: 'binary', maxLength: 100 }),
);

const headers = fc.record(
  {
    'content-type': fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', ''),
    'content-length': fc.constantFrom('0', '-1', '999999999', 'abc'),
    accept: fc.constantFrom('text/event-stream', '*/*', 'application/json'),
    'x-forwarded-for': fc.constantFrom('127.0.0.1', '::1', 'garbage'),
  },
  { requiredKeys: [] },
);

const request = fc.record({
  route: fc.constantFrom(...ROUTES),
  // another method on the same path, now and then
  method: fc.option(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'), { freq: 5 }),
  params: fc.array(paramValue, { minLength: 2, maxLength: 2 }),
  query: queryString,
  auth,
  body,
  headers,
});

test('the fuzzed route list is every route the API serves', () => {
  const { app } = recordingApi();
  const served = new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
  assert.deepEqual([...served].sort(), ROUTES.map(([m, p]) => `${m} ${p}`).sort());
});

test('fuzz: every HTTP route answers 2xx or a JSON 4xx error, never a 500 or a stack, and never mutates without the admin token', async () => {
  // one app for all runs (as an agent serves every request with one): calls are reset per run
  const { app, calls, open } = recordingApi();
  await fuzz(
    'http-routes',
    fc.asyncProperty(request, async (r) => {
      calls.length = 0;
      open.streams = 0;
      let i = 0;
      const path = r.route[1].replace(/:[a-z]+/g, () => r.params[i++]!);
      const method = r.method ?? r.route[0];
      const h: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) h[k] = v;
      if (r.auth[0] !== undefined) h.authorization = r.auth[0];
      const withBody = r.body !== undefined && method !== 'GET' && method !== 'HEAD';
      let res: Response;
      try {
        res = await app.request(`http://agent${path}${r.query}`, { method, headers: h, ...(withBody ? { body: r.body } : {}) });
      } catch (err) {
        // the Request itself could not be built (e.g. a header fetch refuses): nothing reached the app
        if (err instanceof TypeError && calls.length === 0) return;
        throw err;
      }
      const type = res.headers.get('content-type') ?? '';
      // streams, logs, PEM certificates, backup bundles: any answer that is not JSON must be a success
      if (type !== '' && !type.startsWith('application/json')) {
        await res.body?.cancel();
        assert.ok(res.status < 300, `${method} ${path}: ${res.status} with ${type}`);
      } else {
        const text = await res.text();
        assert.ok(res.status < 500, `${method} ${path}${r.query}: ${res.status} ${text.slice(0, 300)}`);
        assert.doesNotMatch(text, /\n\s+at /, 'a stack trace in the answer');
        if (method !== 'HEAD') {
          const json = JSON.parse(text) as { error?: { code: unknown; message: unknown } };
          if (res.status >= 400) {
            assert.deepEqual(Object.keys(json), ['error']);
            assert.equal(typeof json.error!.code, 'string');
            assert.equal(typeof json.error!.message, 'string');
          }
        }
      }
      // a stream nobody reads any more is closed (within a few turns of the event loop)
      for (let turn = 0; turn < 20 && open.streams > 0; turn++) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(open.streams, 0, `${method} ${path}${r.query} left a stream open`);
      if (!r.auth[1]) {
        const bad = calls.filter((c) => (ADMIN_ONLY as readonly string[]).includes(c));
        assert.deepEqual(bad, [], `${method} ${path} without the admin token called ${bad.join(', ')}`);
      }
    }),
    10_000,
  );
});
