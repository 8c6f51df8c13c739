import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cli, cleanupAll, etcdClientOf, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { adminHeaders } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { KEYS } from '../../src/consensus/cluster-store.ts';
import { sha256 } from '../../src/core/ui-auth.ts';

// one real agent (an --open single-node cluster) on the ui helper's loopback range
const IP = '127.62.0.2';
let agent: AgentHandle;

before(async () => {
  agent = await startAgent({ bind: IP, args: ['--open'] });
  await waitFor('the agent serving /v1/services', async () => (await fetch(`${agent.api}/v1/services`).catch(() => undefined))?.status === 200, 60_000, 100);
});
after(cleanupAll);

const cliOn = (...args: string[]) => cli(['--data-dir', agent.dataDir, '--api', agent.api, ...args]);

async function ticket(readOnly = false): Promise<string> {
  const r = await cliOn('ui', ...(readOnly ? ['--read-only'] : []));
  assert.equal(r.code, 0, r.stderr);
  const m = /^http:\/\/127\.62\.0\.2:7370\/#ticket=([A-Za-z0-9_-]+)$/.exec(r.stdout.trim());
  assert.ok(m, `warren ui prints a login URL: ${r.stdout}`);
  return m[1]!;
}

async function call(path: string, init: RequestInit & { token?: string } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  const res = await fetch(agent.api + path, { ...init, headers, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text, headers: res.headers };
}

const login = (t: string) => call('/v1/ui/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ticket: t }) });

test('a ticket trades once for a session; the second use, a race and an expired ticket are refused', { timeout: 60_000 }, async () => {
  const t = await ticket();
  const first = await login(t);
  assert.equal(first.status, 201, JSON.stringify(first.body));
  assert.match(first.body.token, /^ws_/);
  assert.equal(first.body.session.readOnly, false);
  assert.equal(first.body.session.hash, undefined, 'the hash stays in etcd');
  const again = await login(t);
  assert.equal(again.status, 401);
  assert.equal(again.body.error.code, 'ticket_used');

  // two logins at once with one ticket: exactly one session
  const raced = await ticket();
  const results = await Promise.all(Array.from({ length: 6 }, () => login(raced)));
  assert.equal(results.filter((r) => r.status === 201).length, 1, JSON.stringify(results.map((r) => r.status)));
  assert.ok(results.filter((r) => r.status !== 201).every((r) => r.status === 401 && r.body.error.code === 'ticket_used'));

  // a ticket whose 2 minutes are over (its record written as `warren ui` would have, 3 minutes ago)
  const etcd = await etcdClientOf(agent, [`https://${IP}:7372`]);
  try {
    const old = 'expired-ticket-' + Date.now();
    const made = Date.now() - 180_000;
    await etcd.put(KEYS.uiTicketPrefix + sha256(old)).value(JSON.stringify({ readOnly: false, createdAt: made, expiresAt: made + 120_000 }));
    const expired = await login(old);
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error.code, 'ticket_expired');
    // what etcd holds is a hash, never the token
    const stored = Object.values(await etcd.getAll().prefix(KEYS.uiSessionPrefix).strings()).join();
    assert.ok(!stored.includes(first.body.token.split('.')[1]), 'no session secret in etcd');
  } finally {
    etcd.close();
  }
  assert.equal((await login('never-issued')).body.error.code, 'ticket_unknown');
});

test('an admin session writes like the admin token, a read-only one cannot, and a revoked one stops working', { timeout: 60_000 }, async () => {
  const admin = (await login(await ticket())).body.token as string;
  const ro = (await login(await ticket(true))).body.token as string;
  assert.equal((await call('/v1/ui/session', { token: ro })).body.session.readOnly, true);
  // DELETE of a missing service: authorised → 404; read-only → 403; nothing → 401
  assert.equal((await call('/v1/services/nope', { method: 'DELETE', token: admin })).status, 404);
  const refused = await call('/v1/services/nope', { method: 'DELETE', token: ro });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'read_only');
  assert.equal((await call('/v1/services/nope', { method: 'DELETE' })).status, 401);
  assert.equal((await call('/v1/join-token', { token: ro })).status, 403);
  assert.equal((await call('/v1/join-token', { token: admin })).status, 200);
  // a session cannot mint login links: that is the admin token's
  assert.equal((await call('/v1/ui/tickets', { method: 'POST', token: admin })).status, 403);
  assert.equal((await call('/v1/services', { token: 'ws_abcdefgh1234.' + 'x'.repeat(43) })).body.error.code, 'session_invalid');

  const ls = await cliOn('ui', '--sessions', '--json');
  assert.equal(ls.code, 0, ls.stderr);
  const sessions = JSON.parse(ls.stdout).sessions as { id: string; readOnly: boolean }[];
  const roId = ro.slice(3, ro.indexOf('.'));
  assert.ok(sessions.some((s) => s.id === roId && s.readOnly));
  const revoked = await cliOn('ui', '--revoke', roId);
  assert.equal(revoked.code, 0, revoked.stderr);
  await waitFor('the revoked session refused', async () => (await call('/v1/ui/session', { token: ro })).status === 401, 5000, 100);
  assert.match((await cliOn('ui', '--revoke', roId)).stderr, /no session/);
});

test('foreign Origin and unknown Host are refused; CLI-style requests, member origins and CORS preflights pass; browser writes are JSON only; CSP everywhere', { timeout: 30_000 }, async () => {
  const evil = await call('/v1/services', { headers: { origin: 'http://evil.example' } });
  assert.equal(evil.status, 403);
  assert.equal(evil.body.error.code, 'bad_origin');
  // Node's fetch will not forge Host: send it raw
  const { request } = await import('node:http');
  const rawStatus = (host: string, path = '/v1/services', extra: Record<string, string> = {}) => new Promise<number>((resolve, reject) => {
    const req = request({ host: IP, port: 7370, path, headers: { host, ...extra } }, (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('error', reject);
    req.end();
  });
  assert.equal(await rawStatus('rebind.evil.example:7370'), 403);
  assert.equal(await rawStatus(`${IP}:7370`), 200);
  assert.equal(await rawStatus('localhost:7370'), 200);
  assert.equal(await rawStatus('n2:7370'), 200, 'the node name');
  assert.equal(await rawStatus('rebind.evil.example:7370', '/v1/services/x/logs'), 403, 'nor logs');
  // what machines ask each other, and the CLI holding the admin token, may use any name (--join pi.lan)
  assert.equal(await rawStatus('pi.lan:7370', '/v1/p2p'), 200);
  assert.equal(await rawStatus('pi.lan:7370', '/v1/services', { authorization: (await adminHeaders(agent)).authorization! }), 200);

  const same = await call('/v1/services', { headers: { origin: agent.api } });
  assert.equal(same.status, 200);
  assert.equal(same.headers.get('access-control-allow-origin'), agent.api);
  const pre = await call('/v1/services', { method: 'OPTIONS', headers: { origin: agent.api, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-headers')!, /authorization/);

  const headers = await adminHeaders(agent);
  const form = await call('/v1/services', { method: 'POST', headers: { ...headers, origin: agent.api, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=x&image=y' });
  assert.equal(form.status, 415);
  assert.equal(form.body.error.code, 'json_only');

  for (const path of ['/', '/v1/services']) {
    const csp = (await call(path)).headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
  }
});
