import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { recordingApi, ADMIN_TOKEN as TOKEN, API_TOKENS, UI_MEMBER_APIS, UI_SESSIONS, UI_TICKET } from '../helpers/recording-api.ts';
import { fuzz } from '../helpers/fuzz.ts';
import { isSafeMethod, looksLikeApiToken } from '../../src/core/api-tokens.ts';

// Fuzzes every route of the agent's HTTP API (createApi) with deps that only record their calls:
// random bodies, headers, query strings and path parameters. Every answer must be a 2xx or a
// JSON 4xx error, never a 500 or a stack, and no mutating dep may run without the admin token.

/** Deps that may change the cluster (or hand out its secret): only with the admin token. */
const ADMIN_ONLY = ['createTicket', 'listSessions', 'revokeSession', 'publishUserEvent', 'leave', 'approve', 'joinToken', 'createService', 'updateService', 'removeService', 'drainNode', 'recover', 'backup', 'deployStack', 'removeStack', 'hooks', 'snapshotVolume', 'setVolumePolicy', 'removeVolume', 'snapshotHere', 'localSnapshots', 'localTransfers', 'heldChunks', 'scrubVolumes', 'volumeOffer', 'volumeReceive', 'volumeCommit', 'restoreVolume', 'restoreHere', 'cloneVolume', 'cloneHere', 'exportVolume', 'exportHere', 'importVolume', 'importDockerVolume', 'handoverHere', 'createToken', 'listTokens', 'revokeToken'] as const;

/** Every route createApi serves, with path parameters as `:name` (checked against the app below). */
const ROUTES: [string, string][] = [
  ['GET', '/v1/health'],
  ['GET', '/v1/volumes'],
  ['GET', '/v1/volumes/:name'],
  ['DELETE', '/v1/volumes/:name'],
  ['GET', '/v1/volumes/:name/snapshots'],
  ['POST', '/v1/volumes/:name/snapshots'],
  ['GET', '/v1/volumes/:name/policy'],
  ['PUT', '/v1/volumes/:name/policy'],
  ['GET', '/v1/volume-sync/:volume/snapshots'],
  ['GET', '/v1/volumes/:name/transfers'],
  ['GET', '/v1/volume-sync/:volume/transfers'],
  ['POST', '/v1/volume-sync/:volume/snapshot'],
  ['POST', '/v1/volume-sync/:volume/offer'],
  ['POST', '/v1/volume-sync/chunks'],
  ['POST', '/v1/volume-sync/chunks/get'],
  ['POST', '/v1/volume-scrub'],
  ['POST', '/v1/volume-sync/:volume/commit'],
  ['POST', '/v1/volumes/:name/restore'],
  ['POST', '/v1/volumes/:name/clone'],
  ['GET', '/v1/volumes/:name/export'],
  ['PUT', '/v1/volumes/:name/import'],
  ['POST', '/v1/volumes/:name/import-docker'],
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

/** What an agent with the web UI serves besides (its pages, logins and live stream). */
const UI_ROUTES: [string, string][] = [
  ['GET', '/'],
  ['GET', '/assets/:file'],
  ['POST', '/v1/ui/tickets'],
  ['POST', '/v1/ui/login'],
  ['POST', '/v1/ui/move'],
  ['GET', '/v1/ui/session'],
  ['POST', '/v1/ui/logout'],
  ['GET', '/v1/ui/sessions'],
  ['DELETE', '/v1/ui/sessions/:id'],
  ['GET', '/v1/ui/stream'],
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

const requestFields = {
  route: fc.constantFrom(...ROUTES),
  // another method on the same path, now and then
  method: fc.option(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'), { freq: 5 }),
  params: fc.array(paramValue, { minLength: 2, maxLength: 2 }),
  query: queryString,
  auth,
  body,
  headers,
};
const request = fc.record(requestFields);

const servedRoutes = (app: ReturnType<typeof recordingApi>['app']) => [...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`))].sort();

test('the fuzzed route lists are every route the API serves, without and with the web UI', () => {
  assert.deepEqual(servedRoutes(recordingApi().app), ROUTES.map(([m, p]) => `${m} ${p}`).sort());
  assert.deepEqual(servedRoutes(recordingApi({ ui: true }).app), [...ROUTES, ...UI_ROUTES].map(([m, p]) => `${m} ${p}`).sort());
});

type Fuzzed = typeof request extends fc.Arbitrary<infer T> ? T : never;
type Recording = ReturnType<typeof recordingApi>;

/**
 * Sends one fuzzed request and checks what every answer must be: a 2xx, or a JSON 4xx error
 * (never a 500 or a stack), with every stream it opened closed once nobody reads it, and no
 * admin-only dep called without the admin's authority. Undefined: the request could not be built.
 */
async function sendAndCheck({ app, calls, open }: Recording, r: Fuzzed, extra: Record<string, string> = {}): Promise<{ path: string; status: number; code?: string; res: Response } | undefined> {
  calls.length = 0;
  open.streams = 0;
  let i = 0;
  const path = r.route[1].replace(/:[a-z]+/g, () => r.params[i++]!);
  const method = r.method ?? r.route[0];
  const h: Record<string, string> = { ...extra };
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) h[k] = v;
  if (r.auth[0] !== undefined) h.authorization = r.auth[0];
  const withBody = r.body !== undefined && method !== 'GET' && method !== 'HEAD';
  let res: Response;
  try {
    res = await app.request(`http://agent${path}${r.query}`, { method, headers: h, ...(withBody ? { body: r.body } : {}) });
  } catch (err) {
    // the Request itself could not be built (e.g. a header fetch refuses): nothing reached the app
    if (err instanceof TypeError && calls.length === 0) return undefined;
    throw err;
  }
  const type = res.headers.get('content-type') ?? '';
  let code: string | undefined;
  // streams, logs, PEM certificates, backup bundles, the UI's pages: any answer that is not JSON must be a success
  if (type !== '' && !type.startsWith('application/json')) {
    await res.body?.cancel();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} with ${type}`);
  } else {
    const text = await res.text();
    assert.ok(res.status < 500, `${method} ${path}${r.query}: ${res.status} ${text.slice(0, 300)}`);
    assert.doesNotMatch(text, /\n\s+at /, 'a stack trace in the answer');
    // HEAD, and a CORS preflight's 204, have no body
    if (method !== 'HEAD' && res.status !== 204) {
      const json = JSON.parse(text) as { error?: { code: unknown; message: unknown } };
      if (res.status >= 400) {
        assert.deepEqual(Object.keys(json), ['error']);
        assert.equal(typeof json.error!.code, 'string');
        assert.equal(typeof json.error!.message, 'string');
        code = json.error!.code as string;
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
  return { path, status: res.status, code, res };
}

test('fuzz: every HTTP route answers 2xx or a JSON 4xx error, never a 500 or a stack, and never mutates without the admin token', async () => {
  // one app for all runs (as an agent serves every request with one): calls are reset per run
  const api = recordingApi();
  await fuzz('http-routes', fc.asyncProperty(request, async (r) => void (await sendAndCheck(api, r))), 10_000);
});

// With the web UI, the guard stands in front of every route: Host and Origin are fuzzed too, and
// the bearer may be a UI session (a full one counts as the admin; a read-only one does not).
const uiAuth = fc.oneof(
  auth,
  fc.constantFrom<[string | undefined, boolean]>(
    [`Bearer ${UI_SESSIONS.full}`, true],
    [`Bearer ${UI_SESSIONS.readOnly}`, false],
    // the shape of a session token, unknown to the cluster
    [`Bearer ws_Unknown12345.${'u'.repeat(43)}`, false],
    [`Bearer ${UI_SESSIONS.full.slice(0, -1)}`, false],
  ),
);
/** [Host, whether it is one this node answers to: an IP, localhost, its name or NAME.<domain>] */
const uiHost = fc.constantFrom<[string | undefined, boolean]>([undefined, false], ['10.0.0.1:7370', true], ['[::1]:7370', true], ['localhost:7370', true], ['n1', true], ['N1.Warren:7370', true], ['', false], ['evil.example', false], ['n1.evil.example:7370', false], ['agent', false]);
const uiOrigin = fc.constantFrom(undefined, ...UI_MEMBER_APIS, 'http://10.0.0.3:7370', 'http://evil.example', 'null', 'https://10.0.0.1:7370', 'http://n1', 'http://localhost:7370');
const uiBody = fc.oneof(body, fc.constantFrom(JSON.stringify({ ticket: UI_TICKET }), JSON.stringify({ ticket: 'other' }), JSON.stringify({ readOnly: true })));
const uiRequest = fc.record({ ...requestFields, route: fc.constantFrom(...ROUTES, ...UI_ROUTES), auth: uiAuth, body: uiBody, host: uiHost, origin: uiOrigin });

/** Paths machines call each other on (a joiner may know a member by a name only it uses). */
const NODE_PROTOCOL = ['/v1/join', '/v1/admit', '/v1/p2p', '/v1/probe', '/v1/health'];
/** Headers that carry the admin token, or an API token the agent knows (a session is neither). */
const credential = (header: string | undefined) => {
  const t = (header ?? '').trim().replace(/^Bearer\s+/i, '');
  return t === TOKEN || t === API_TOKENS.admin || t === API_TOKENS.read;
};

test('fuzz with the web UI: the guard refuses unknown hosts and foreign origins before any route, every answer has the security headers, and a read-only session changes nothing', async () => {
  const api = recordingApi({ ui: true });
  await fuzz(
    'http-routes-ui',
    fc.asyncProperty(uiRequest, async (r) => {
      const [host, hostKnown] = r.host;
      const extra: Record<string, string> = {};
      if (host !== undefined) extra.host = host;
      if (r.origin !== undefined) extra.origin = r.origin;
      const out = await sendAndCheck(api, r, extra);
      if (!out) return;
      const what = `${r.method ?? r.route[0]} ${out.path} (Host ${host}, Origin ${r.origin}, ${r.auth[0]?.slice(0, 20)})`;
      assert.match(out.res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/, `${what}: no CSP`);
      assert.equal(out.res.headers.get('x-frame-options'), 'DENY', what);
      // refused in front of the routes (a HEAD answer has no body to name the code): nothing but
      // an API token was looked at, no route ran, no session was looked up
      const refusedEarly = (statuses: number[], codes: string[]) => {
        assert.ok(statuses.includes(out.status) && (out.code === undefined || codes.includes(out.code)), `${what}: ${out.status} ${out.code}`);
        assert.deepEqual(api.calls.filter((c) => c !== 'verifyToken'), [], `${what}: called ${api.calls.join(', ')}`);
      };
      // an API token is judged before the guard: an unknown one, or a read-only one asked to write
      const bearer = (r.auth[0] ?? '').trim().replace(/^Bearer\s+/i, '');
      const known = bearer === API_TOKENS.admin || bearer === API_TOKENS.read;
      if ((looksLikeApiToken(bearer) && !known) || (bearer === API_TOKENS.read && !isSafeMethod(r.method ?? r.route[0]))) {
        refusedEarly([401, 403], ['token_unknown', 'insufficient_scope']);
        return;
      }
      if (!hostKnown && !NODE_PROTOCOL.includes(out.path) && !credential(r.auth[0])) {
        refusedEarly([403], ['unknown_host']);
        return;
      }
      const originOk = r.origin === undefined || UI_MEMBER_APIS.includes(r.origin) || (host !== undefined && r.origin === `http://${host.toLowerCase()}`);
      if (!originOk) {
        refusedEarly([403], ['bad_origin']);
        return;
      }
      // revoking another session is the admin token's alone; a session may end itself
      if (!credential(r.auth[0])) assert.ok(!api.calls.includes('revokeSession'), `${what}: revoked another session`);
    }),
    10_000,
  );
});
