import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { cleanupAll, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { launchChromium } from '../helpers/browser.ts';
import { voterIds } from '../helpers/cluster.ts';
import { adminHeaders, startCluster } from '../helpers/services.ts';
import { loggedIn, loginUrl } from '../helpers/ui-pages.ts';
import { waitFor } from '../helpers/wait.ts';

// Real agents on the uinodes helper's loopback range: 3 voters and a client (the page's node, so
// its death keeps quorum); a fifth joins after the client died, and one voter dies after that.
const IPS = ['127.70.0.10', '127.70.0.11', '127.70.0.12', '127.70.0.13'];
const LATE = '127.70.0.14';
let agents: AgentHandle[] = [];
let ids: string[] = [];
let browser: Browser;

before(async () => {
  ({ agents, ids } = await startCluster(IPS));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await cleanupAll();
});

const nameOf = (a: AgentHandle) => `n${a.bind.split('.').pop()}`;
const origin = (a: AgentHandle) => new URL(a.api).origin;

/** The API the page is live through once it is one of `apis`. */
async function liveThrough(page: Page, apis: string[], timeout: number): Promise<string> {
  const h = await page.waitForFunction((want) => {
    const api = document.querySelector('.conn.live')?.getAttribute('data-api');
    return api && want.includes(api) ? api : false;
  }, apis, { timeout, polling: 50 });
  return (await h.jsonValue()) as string;
}

test("a page whose node died picks up a node that joined after, and fails over to it or another live node when the node it moved to dies", { timeout: 180_000 }, async () => {
  const voters = await voterIds(agents[0]!);
  const client = agents.find((_, i) => !voters.includes(ids[i]!))!;
  const others = agents.filter((a) => a !== client);
  const page = await loggedIn(browser, client);
  assert.equal(await page.evaluate(() => location.origin), origin(client));
  const oldToken = await page.evaluate(() => JSON.parse(localStorage.getItem('warren.session')!).token as string);
  // no request leaves the cluster, through every failover and the move
  const asked = new Set<string>();
  page.on('request', (r) => void asked.add(new URL(r.url()).origin));
  await page.evaluate(() => (location.hash = '#/services'));
  await page.getByRole('heading', { name: 'Services' }).waitFor();

  // the page's own node dies: it carries on through a voter
  await client.stop('SIGKILL');
  const first = await liveThrough(page, others.map((v) => v.api), 10_000);

  // a node joins now: its card shows up (the member list comes from the node the page talks to),
  // and as the page's policy cannot reach it and its own node is dead, it moves to the page of
  // the node it talks to (session and view along), whose policy names the newcomer
  // (its admission waits for the store's quorum, which a loaded machine can hold up for a while)
  const late = await startAgent({ bind: LATE, args: ['--join', IPS[0]!], waitReady: false });
  agents.push(late);
  await waitFor('the new node admitted and serving /v1/services', async () => (await fetch(`${late.api}/v1/services`).then((r) => r.status, () => 0)) === 200, 90_000, 200);
  await page.waitForFunction((o) => location.origin === o, new URL(first).origin, { timeout: 15_000, polling: 100 });
  await page.waitForFunction((o) => (document.documentElement.dataset.connect ?? '').split(' ').includes(o), origin(late), { timeout: 15_000 });
  assert.equal(await page.evaluate(() => location.hash), '#/services', 'the view went along');
  await page.evaluate(() => (location.hash = '#/'));
  await page.waitForSelector(`article[data-node="${nameOf(late)}"][data-state="alive"]`, { timeout: 15_000 });
  await page.waitForSelector('.conn.live', { timeout: 15_000 });
  // the session moved: the one of the dead node's page is over, the new one works on the newcomer
  // (a node that just joined may answer 503 for a moment while its store settles: polled)
  await waitFor('the moved session working on the node that joined later, from the page', async () => (await page.evaluate(async (url) => {
    const token = JSON.parse(localStorage.getItem('warren.session')!).token as string;
    return (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;
  }, `${late.api}/v1/ui/session`)) === 200, 10_000, 200);
  await waitFor('the old token refused there', async () => (await fetch(`${late.api}/v1/ui/session`, { headers: { authorization: `Bearer ${oldToken}` } })).status === 401, 10_000, 200);

  // the node the page moved to dies (2 of 3 voters stay): it carries on within 5 s, no reload
  await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));
  const via = agents.find((a) => a.api === first)!;
  const killedAt = Date.now();
  await via.stop('SIGKILL');
  const next = await liveThrough(page, agents.filter((a) => a.running).map((a) => a.api), 10_000);
  const ms = Date.now() - killedAt;
  console.log(`# page's second node killed -> live through ${next} after ${ms} ms`);
  assert.ok(ms <= 5000, `carried on after ${ms} ms`);
  assert.equal(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed), true, 'without a reload');
  await page.waitForSelector(`article[data-node="${nameOf(via)}"][data-state="dead"]`, { timeout: 15_000 });
  await page.waitForSelector(`article[data-node="${nameOf(late)}"][data-state="alive"]`);
  const members = new Set([...agents.map(origin)]);
  assert.deepEqual([...asked].filter((o) => !members.has(o)), [], `requests only to members (${[...asked].join(' ')})`);
  await page.context().close();
});

test('a move ticket carries a session once, with its rights and expiry, and ends the old one; only a session can ask for one', { timeout: 60_000 }, async () => {
  const a = agents.find((x) => x.running)!;
  const post = (path: string, body: unknown, token?: string) =>
    fetch(a.api + path, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
  const ticketOf = (url: string) => /#ticket=([A-Za-z0-9_-]+)$/.exec(url)![1]!;
  const first = await post('/v1/ui/login', { ticket: ticketOf(await loginUrl(a, true)) });
  assert.equal(first.status, 201, JSON.stringify(first.body));

  const move = await post('/v1/ui/move', {}, first.body.token);
  assert.equal(move.status, 201, JSON.stringify(move.body));
  assert.ok(move.body.url.startsWith(`${a.api}/#ticket=`), move.body.url);
  const moved = await post('/v1/ui/login', { ticket: ticketOf(move.body.url) });
  assert.equal(moved.status, 201, JSON.stringify(moved.body));
  assert.equal(moved.body.session.readOnly, true, 'a read-only session stays read-only');
  assert.equal(moved.body.session.expiresAt, first.body.session.expiresAt, 'it does not outlive the session it moved');
  assert.notEqual(moved.body.token, first.body.token);
  await waitFor('the old token refused', async () => (await fetch(`${a.api}/v1/ui/session`, { headers: { authorization: `Bearer ${first.body.token}` } })).status === 401, 5000, 100);
  assert.equal((await fetch(`${a.api}/v1/ui/session`, { headers: { authorization: `Bearer ${moved.body.token}` } })).status, 200);
  assert.equal((await post('/v1/ui/login', { ticket: ticketOf(move.body.url) })).body.error.code, 'ticket_used');

  // a session that ended cannot move, nor be moved by a ticket asked for before it ended
  const again = await post('/v1/ui/move', {}, moved.body.token);
  assert.equal(again.status, 201);
  assert.equal((await post('/v1/ui/logout', {}, moved.body.token)).status, 200);
  const late = await post('/v1/ui/login', { ticket: ticketOf(again.body.url) });
  assert.equal(late.status, 401);
  assert.equal(late.body.error.code, 'session_invalid');
  assert.equal((await post('/v1/ui/move', {}, moved.body.token)).status, 401);
  // the admin token is no session: it makes login links with warren ui
  const admin = await fetch(`${a.api}/v1/ui/move`, { method: 'POST', headers: { ...(await adminHeaders(a)), 'content-type': 'application/json' }, body: '{}' });
  assert.equal(admin.status, 401);
});
