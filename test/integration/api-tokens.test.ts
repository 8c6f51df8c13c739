import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cli, cleanupAll, etcdClientOf, startAgent, tempDir, type AgentHandle } from '../helpers/agents.ts';
import { waitFor } from '../helpers/wait.ts';
import { KEYS } from '../../src/consensus/cluster-store.ts';
import { mintToken } from '../../src/core/api-tokens.ts';

// two real agents (a founds an --open cluster, b joins it) on the tokens helper's loopback range
const IPS = ['127.63.0.2', '127.63.0.3'];
let a: AgentHandle;
let b: AgentHandle;
/** a data dir with no admin-token file: the CLI there has only what WARREN_TOKEN gives it */
let emptyDir: string;

before(async () => {
  a = await startAgent({ bind: IPS[0]!, args: ['--open', '--proxy-workers', '0'] });
  b = await startAgent({ bind: IPS[1]!, args: ['--join', IPS[0]!, '--proxy-workers', '0'] });
  emptyDir = await tempDir('warren-tokens-cli-');
  // b serves the cluster's services once it is a member with a store connection
  await waitFor('b a member serving /v1/services', async () => (await fetch(`${b.api}/v1/services`).catch(() => undefined))?.status === 200, 60_000, 100);
});
after(cleanupAll);

async function call(agent: AgentHandle, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(agent.api + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

/** `warren token create` on a, with a's admin token (from its data dir); returns the printed token. */
async function create(...args: string[]): Promise<{ token: string; id: string }> {
  const r = await cli(['--data-dir', a.dataDir, '--api', a.api, 'token', 'create', ...args]);
  assert.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  assert.match(token, /^wat_[A-Za-z0-9]{12}\.[A-Za-z0-9_-]{43}$/);
  assert.match(r.stderr, /not shown again/);
  return { token, id: token.slice(4, 16) };
}

/** The CLI on "a laptop": --api names a node, the token comes from WARREN_TOKEN only. */
const laptop = (agent: AgentHandle, token: string, ...args: string[]) => cli(['--data-dir', emptyDir, '--api', agent.api, ...args], { WARREN_TOKEN: token, WARREN_ADMIN_TOKEN: '' });

test('a token made on node a works on node b; a revoked one is refused on both within seconds', { timeout: 120_000 }, async () => {
  const { token, id } = await create('--name', 'laptop');
  for (const agent of [a, b]) {
    // an admin call (publishing a user event) with the token, on either node
    const pub = await call(agent, 'POST', '/v1/events/tokens-test', token, { from: agent.bind });
    assert.equal(pub.status, 202, `${agent.bind}: ${JSON.stringify(pub.body)}`);
  }
  const viaCli = await laptop(b, token, 'publish', 'tokens-test', '{"cli":true}');
  assert.equal(viaCli.code, 0, viaCli.stderr);
  // nor mint a web UI session that would outlive its revocation
  const ticket = await call(b, 'POST', '/v1/ui/tickets', token, {});
  assert.deepEqual([ticket.status, ticket.body.error?.code], [403, 'admin_token_only']);
  // the token cannot manage tokens: that is the admin token's alone
  const ls = await laptop(b, token, 'token', 'ls');
  assert.equal(ls.code, 1);
  assert.match(ls.stderr, /admin token/);

  // listed on every node by id, name, scope and last use; never the secret, in etcd neither
  const listed = await waitFor('the token listed with its last use', async () => {
    const r = await cli(['--data-dir', a.dataDir, '--api', a.api, 'token', 'ls', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const t = (JSON.parse(r.stdout).tokens as any[]).find((x) => x.id === id);
    return t?.lastUsedAt ? { t, text: r.stdout } : undefined;
  }, 10_000);
  assert.deepEqual({ name: listed.t.name, scope: listed.t.scope, state: listed.t.state, expiresAt: listed.t.expiresAt }, { name: 'laptop', scope: 'admin', state: 'active', expiresAt: null });
  assert.ok(!listed.text.includes(token.split('.')[1]!), 'ls shows no secret');
  const etcd = await etcdClientOf(a, [`https://${IPS[0]}:7372`]);
  try {
    const stored = Object.values(await etcd.getAll().prefix('/warren/api-tokens/').strings()).join();
    assert.ok(stored.includes(id) && !stored.includes(token.split('.')[1]!), 'etcd holds the hash, not the secret');
  } finally {
    etcd.close();
  }

  // revoke on b; both nodes refuse it (401, saying revoked) within seconds
  const rv = await cli(['--data-dir', b.dataDir, '--api', b.api, 'token', 'revoke', id]);
  assert.equal(rv.code, 0, rv.stderr);
  for (const agent of [a, b]) {
    await waitFor(`${agent.bind} refusing the revoked token`, async () => {
      const r = await call(agent, 'GET', '/v1/services', token);
      return r.status === 401 && r.body.error.code === 'token_revoked';
    }, 10_000, 100);
    const write = await call(agent, 'POST', '/v1/events/tokens-test', token, {});
    assert.deepEqual([write.status, write.body.error.code], [401, 'token_revoked']);
  }
  const dead = await laptop(a, token, 'service', 'ls');
  assert.equal(dead.code, 1);
  assert.match(dead.stderr, /revoked/);
  assert.equal((await cli(['--data-dir', a.dataDir, '--api', a.api, 'token', 'revoke', 'NoSuchToken1'])).code, 1);
});

test('a read-only token reads on every node but every write and the admin reads are refused (403)', { timeout: 60_000 }, async () => {
  const { token } = await create('--read-only', '--name', 'grafana', '--expires', '30d');
  for (const agent of [a, b]) {
    assert.equal((await call(agent, 'GET', '/v1/services', token)).status, 200);
    for (const [method, path, body] of [['POST', '/v1/events/tokens-test', {}], ['POST', '/v1/services', { name: 'x', image: 'y' }], ['DELETE', '/v1/services/nope', undefined], ['GET', '/v1/join-token', undefined]] as const) {
      const r = await call(agent, method, path, token, body);
      assert.deepEqual([r.status, r.body.error?.code], [403, 'insufficient_scope'], `${agent.bind} ${method} ${path}`);
    }
  }
  const ls = await laptop(b, token, 'service', 'ls');
  assert.equal(ls.code, 0, ls.stderr);
  const rm = await laptop(b, token, 'service', 'rm', 'nope');
  assert.equal(rm.code, 1);
  assert.match(rm.stderr, /read-only/);
});

test('an expired token and an unknown one are refused with 401 saying which', { timeout: 60_000 }, async () => {
  // a token whose hour ended an hour ago, written as `warren token create --expires 1h` would have
  const { token, record } = mintToken({ name: 'old', scope: 'admin', expiresInMs: 3600_000 }, Date.now() - 7200_000);
  const etcd = await etcdClientOf(a, [`https://${IPS[0]}:7372`]);
  try {
    await etcd.put(KEYS.apiTokenPrefix + record.id).value(JSON.stringify(record));
  } finally {
    etcd.close();
  }
  for (const agent of [a, b]) {
    const r = await call(agent, 'GET', '/v1/services', token);
    assert.deepEqual([r.status, r.body.error.code], [401, 'token_expired']);
    assert.match(r.body.error.message, /expired/);
    const unknown = await call(agent, 'GET', '/v1/services', `wat_Neverissued1.${'x'.repeat(43)}`);
    assert.deepEqual([unknown.status, unknown.body.error.code], [401, 'token_unknown']);
  }
  const ls = await cli(['--data-dir', a.dataDir, '--api', a.api, 'token', 'ls']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, new RegExp(`${record.id}\\s+old\\s+admin\\s+expired`));
});
