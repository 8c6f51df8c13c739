import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { cleanupAll, etcdClientOf, type AgentHandle } from '../helpers/agents.ts';
import { launchChromium } from '../helpers/browser.ts';
import { admission, voterIds } from '../helpers/cluster.ts';
import { ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { adminHeaders, postService, serviceView, startCluster } from '../helpers/services.ts';
import { a11yAcrossViews, loggedIn, loginUrl, openPage, removeContainersOf, seriousA11y } from '../helpers/ui-pages.ts';
import { waitFor } from '../helpers/wait.ts';
import { EventFollower } from '../helpers/events.ts';
import { KEYS } from '../../src/consensus/cluster-store.ts';
import { sha256 } from '../../src/core/ui-auth.ts';

// 4 real agents on the ui helper's loopback range (3 voters and a client, so two kills keep quorum)
const IPS = ['127.62.0.2', '127.62.0.3', '127.62.0.4', '127.62.0.5'];
const DOCS = new URL('../../docs/', import.meta.url).pathname;
let agents: AgentHandle[] = [];
let ids: string[] = [];
let clusterId = '';
let browser: Browser;

before(async () => {
  await ensureHttpdImage();
  ({ agents, ids } = await startCluster(IPS));
  clusterId = (await admission(agents[0]!)).clusterId;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await cleanupAll();
  if (clusterId) await removeContainersOf(clusterId, 'ui-');
});

const alive = () => agents.filter((a) => a.running);
const nameOf = (a: AgentHandle) => `n${a.bind.split('.').pop()}`;
const cardState = (page: Page, node: string) => page.locator(`article[data-node="${node}"]`).getAttribute('data-state');

test('a page without a session shows how to log in and nothing of the cluster', { timeout: 60_000 }, async () => {
  const asked: string[] = [];
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('request', (r) => asked.push(new URL(r.url()).pathname));
  await page.goto(agents[0]!.api + '/');
  await page.getByText('warren ui', { exact: true }).waitFor();
  const text = await page.locator('body').innerText();
  for (const a of agents) assert.ok(!text.includes(nameOf(a)) && !text.includes(a.bind), `no node named on the login page: ${text}`);
  assert.equal(await page.locator('[data-node], [data-service]').count(), 0);
  assert.deepEqual(asked.filter((p) => p.startsWith('/v1/')), [], 'no API call without a session');
  assert.deepEqual(await seriousA11y(page), []);
  await ctx.close();
});

test('a login link works once: the second use and an expired one are refused', { timeout: 60_000 }, async () => {
  const url = await loginUrl(agents[1]!);
  const first = await openPage(browser, url);
  await first.waitForSelector('.conn.live', { timeout: 15_000 });
  assert.ok(!first.url().includes('ticket'), 'the ticket leaves the address bar');
  await first.waitForFunction((n) => document.querySelectorAll('article[data-node]').length === n, IPS.length, { timeout: 10_000 });

  const second = await openPage(browser, url);
  await second.getByRole('alert').filter({ hasText: /used already/ }).waitFor({ timeout: 10_000 });
  assert.equal(await second.locator('[data-node]').count(), 0);

  const etcd = await etcdClientOf(agents[0]!, IPS.map((ip) => `https://${ip}:7372`));
  try {
    const ticket = `ui-expired-${Date.now()}`;
    const made = Date.now() - 150_000;
    await etcd.put(KEYS.uiTicketPrefix + sha256(ticket)).value(JSON.stringify({ readOnly: false, createdAt: made, expiresAt: made + 120_000 }));
    const late = await openPage(browser, `${agents[2]!.api}/#ticket=${ticket}`);
    await late.getByRole('alert').filter({ hasText: /expired/ }).waitFor({ timeout: 10_000 });
    assert.equal(await late.locator('[data-node]').count(), 0);
    await late.context().close();
  } finally {
    etcd.close();
  }
  await first.context().close();
  await second.context().close();
});

test("two tabs of one node share the session: a login in one opens the other, a logout ends it in both (the other's stream closes), a new login reaches both", { timeout: 60_000 }, async () => {
  const api = agents[2]!.api;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const other = await ctx.newPage();
    // the bearer token each of the other tab's stream requests carries, and the ones that ended
    const streams: Array<{ token: string; ended: boolean }> = [];
    other.on('request', (r) => {
      if (new URL(r.url()).pathname === '/v1/ui/stream') streams.push({ token: (r.headers().authorization ?? '').replace(/^Bearer /, ''), ended: false });
    });
    const ended = (r: { url(): string }) => {
      if (new URL(r.url()).pathname !== '/v1/ui/stream') return;
      const open = streams.find((s) => !s.ended);
      if (open) open.ended = true;
    };
    other.on('requestfailed', ended);
    other.on('requestfinished', ended);
    await other.goto(api + '/');
    await other.getByText('warren ui', { exact: true }).waitFor();

    const first = await ctx.newPage();
    await first.goto(await loginUrl(agents[2]!));
    await first.waitForSelector('.conn.live', { timeout: 15_000 });
    const tokenOf = (page: Page) => page.evaluate(() => (JSON.parse(localStorage.getItem('warren.session') ?? 'null') as { token: string } | null)?.token);
    const token = await tokenOf(first);
    assert.ok(token, 'the login stored a session');
    // no reload of the other tab: the login reaches it through the shared storage
    await other.waitForSelector('.conn.live', { timeout: 5000 });
    await other.waitForFunction((n) => document.querySelectorAll('article[data-node]').length === n, IPS.length, { timeout: 10_000 });
    assert.ok(streams.length > 0 && streams.every((s) => s.token === token), `the other tab streams with the new session: ${JSON.stringify(streams)}`);

    await first.getByRole('button', { name: 'Log out' }).click();
    await first.getByText('warren ui', { exact: true }).waitFor({ timeout: 5000 });
    await other.getByText('warren ui', { exact: true }).waitFor({ timeout: 5000 });
    assert.equal(await other.locator('[data-node], [data-service]').count(), 0, 'the other tab shows nothing of the cluster');
    await waitFor("the other tab's stream closed", async () => streams.every((s) => s.ended), 5000, 50);
    const refused = await fetch(api + '/v1/ui/session', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(refused.status, 401, 'the ended session is refused by the agent');

    // a new login link opened in a third tab: the other takes it up, and streams with the new token
    const third = await ctx.newPage();
    await third.goto(await loginUrl(agents[2]!));
    await third.waitForSelector('.conn.live', { timeout: 15_000 });
    const renewed = await tokenOf(third);
    assert.ok(renewed && renewed !== token);
    await other.waitForSelector('.conn.live', { timeout: 5000 });
    assert.equal(await tokenOf(other), renewed);
    await waitFor('the other tab streams with the new session', async () => streams.some((s) => s.token === renewed && !s.ended), 5000, 50);
  } finally {
    await ctx.close();
  }
});

/**
 * Presses Tab until the focused element is the one `is` accepts (at most 40 presses, from wherever
 * the focus is): how a keyboard user gets there. `is` runs in the page.
 */
async function tabTo(page: Page, is: (el: Element) => boolean): Promise<void> {
  for (let i = 0; i < 40; i++) {
    // the page's CSP forbids eval: the predicate goes in as Playwright's own function argument
    const focused = await page.evaluateHandle(() => document.activeElement ?? document.body);
    const reached = await focused.evaluate(is as (el: Element | HTMLElement) => boolean);
    await focused.dispose();
    if (reached) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`40 presses of Tab never reached ${is.toString()} (at: ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))})`);
}

test('a service is created through the form with the keyboard alone (an API error shows on its field), then listed and its logs stream', { timeout: 120_000 }, async () => {
  const page = await loggedIn(browser, agents[0]!);
  await tabTo(page, (el) => el.textContent === 'New service');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#f-name');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-name');
  await page.keyboard.type('ui-web');
  await page.keyboard.press('Tab');
  await page.keyboard.type('Not An Image!');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#f-image[aria-invalid="true"]');
  assert.match(await page.locator('#f-image-err').innerText(), /image/);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-image', 'the field in error takes the focus');
  await page.keyboard.press('Control+A');
  await page.keyboard.type(HTTPD_IMAGE);
  await page.keyboard.press('Tab');
  await page.keyboard.type('80');
  await page.keyboard.press('Enter');
  await page.waitForSelector('h1:text("ui-web")', { timeout: 10_000 });
  await page.waitForSelector('tr[data-service="ui-web"][data-state="running"]', { timeout: 60_000 });
  assert.equal((await serviceView(agents[2]!, 'ui-web')).spec.ports[0]!.container, 80);

  // a talkative service; its log followed live from the detail page
  const made = await postService(agents[0]!, { name: 'ui-talk', image: HTTPD_IMAGE, command: ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done'] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  // watched and its logs opened with the keyboard alone: Services in the menu, the service's link, Follow logs
  await tabTo(page, (el) => el.tagName === 'A' && el.textContent === 'Services');
  await page.keyboard.press('Enter');
  await page.waitForSelector('a[href="#/services/ui-talk"]', { timeout: 30_000 });
  await tabTo(page, (el) => el.getAttribute('href') === '#/services/ui-talk');
  await page.keyboard.press('Enter');
  await page.waitForSelector('tr[data-service="ui-talk"][data-state="running"]', { timeout: 60_000 });
  await tabTo(page, (el) => el.tagName === 'BUTTON' && el.textContent === 'Follow logs');
  await page.keyboard.press('Enter');
  const tick = async () => Number(/tick (\d+)\s*$/.exec(await page.locator('pre.logs').innerText())?.[1] ?? -1);
  const seen = await waitFor('a log line', async () => ((await tick()) >= 0 ? (await tick()) + 1 : 0), 20_000, 100);
  await waitFor('later log lines streaming in', async () => (await tick()) >= seen + 2, 20_000, 100);

  await page.goto(agents[0]!.api + '/#/');
  await page.waitForSelector('li[data-service="ui-web"][data-state="running"]');
  await page.waitForSelector('li[data-service="ui-talk"]');
  await page.context().close();
});

test('update a service (replicas, env) and remove it after a confirmation, from its page', { timeout: 120_000 }, async () => {
  const page = await loggedIn(browser, agents[2]!);
  await page.goto(agents[2]!.api + '/#/services/ui-talk');
  await page.waitForSelector('tr[data-service="ui-talk"][data-state="running"]');
  await page.locator('#f-replicas').fill('2');
  await page.locator('#f-env').fill('GREETING=hi');
  await page.getByRole('button', { name: 'Update ui-talk' }).click();
  await page.getByRole('status').filter({ hasText: 'Updated' }).waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => document.querySelectorAll('tr[data-service="ui-talk"][data-state="running"]').length === 2, undefined, { timeout: 60_000 });
  const view = await serviceView(agents[0]!, 'ui-talk');
  assert.equal(view.spec.replicas, 2);
  assert.deepEqual(view.spec.env, { GREETING: 'hi' });

  await page.getByRole('button', { name: 'Remove ui-talk…' }).click();
  assert.equal((await fetch(`${agents[0]!.api}/v1/services/ui-talk`)).status, 200, 'nothing removed before the confirmation');
  await page.getByRole('button', { name: 'Yes, remove ui-talk' }).click();
  await page.waitForFunction(() => location.hash === '#/services');
  await waitFor('ui-talk gone from the API', async () => (await fetch(`${agents[0]!.api}/v1/services/ui-talk`)).status === 404, 10_000, 100);
  await page.waitForSelector('tr[data-service="ui-web"]');
  // the list follows the cluster through the page's stream (services are re-read every second)
  await page.waitForFunction(() => document.querySelectorAll('tr[data-service="ui-talk"]').length === 0, undefined, { timeout: 10_000 });
  await page.context().close();
});

test('a read-only session sees everything and can change nothing', { timeout: 60_000 }, async () => {
  const page = await loggedIn(browser, agents[3]!, true);
  await page.waitForSelector('li[data-service="ui-web"]');
  assert.equal(await page.getByRole('button', { name: /Drain|Activate|Approve|join token/ }).count(), 0);
  assert.equal(await page.getByRole('link', { name: 'New service' }).count(), 0);
  await page.goto(agents[3]!.api + '/#/services/ui-web');
  await page.waitForSelector('tr[data-service="ui-web"]');
  assert.equal(await page.getByRole('button', { name: /Remove|Update/ }).count(), 0);
  // and the API says no to its token, whatever the page shows
  const statuses = await page.evaluate(async (apis) => {
    const token = JSON.parse(localStorage.getItem('warren.session')!).token as string;
    const h = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const tries = [
      fetch('/v1/services/ui-web', { method: 'DELETE', headers: h }),
      fetch('/v1/services', { method: 'POST', headers: h, body: JSON.stringify({ name: 'ui-sneak', image: 'x' }) }),
      fetch(`${apis[0]}/v1/services/ui-web`, { method: 'PATCH', headers: h, body: JSON.stringify({ replicas: 3 }) }),
      fetch('/v1/nodes/n2/drain', { method: 'POST', headers: h }),
    ];
    return Promise.all(tries.map((p) => p.then((r) => r.status)));
  }, [agents[0]!.api]);
  assert.deepEqual(statuses, [403, 403, 403, 403]);
  assert.equal((await serviceView(agents[0]!, 'ui-web')).spec.replicas, 1);
  await page.context().close();
});

test('drain and activate a node, and show the join token, from the overview', { timeout: 90_000 }, async () => {
  const page = await loggedIn(browser, agents[1]!);
  const node = nameOf(agents[3]!);
  await page.getByRole('button', { name: `Drain ${node}` }).click();
  await page.getByRole('button', { name: `Activate ${node}` }).waitFor({ timeout: 10_000 });
  await page.locator(`article[data-node="${node}"][data-draining="true"]`).waitFor();
  await page.getByRole('button', { name: `Activate ${node}` }).click();
  await page.getByRole('button', { name: `Drain ${node}` }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(`article[data-node="${node}"][data-draining]`).count(), 0);
  await page.getByRole('button', { name: 'Show join token' }).click();
  const token = (await (await fetch(`${agents[0]!.api}/v1/join-token`, { headers: await adminHeaders(agents[0]!) })).json()).token as string;
  await page.locator('code.token', { hasText: token }).waitFor();
  await page.context().close();
});

test('every page passes axe (no serious or critical issue), light and dark, at 1280 px and 375 px, with no sideways scrolling on a phone', { timeout: 180_000 }, async (t) => {
  mkdirSync(DOCS, { recursive: true });
  const page = await loggedIn(browser, agents[0]!);
  // first paint from a warm agent: a figure for the README, not asserted (timings are not tests)
  await page.reload();
  const paint = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime);
  t.diagnostic(`first contentful paint: ${paint?.toFixed(0)} ms`);
  await page.waitForSelector('li[data-service="ui-web"][data-state="running"]');
  const problems = await a11yAcrossViews(page, [['#/', 'article[data-node]'], ['#/services', 'h1'], ['#/services/ui-web', 'h1'], ['#/new', '#f-name']], async (p) => {
    await p.evaluate(() => (location.hash = '#/'));
    await p.waitForSelector('article[data-node]');
    const { width } = p.viewportSize()!;
    const scheme = await p.evaluate(() => (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
    const shot = width === 375 ? (scheme === 'light' ? 'ui-phone.png' : undefined) : `ui-${scheme}.png`;
    if (shot) await p.screenshot({ path: join(DOCS, shot), fullPage: width === 375 });
    return ['screenshot', []];
  });
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('kill -9 a node: its card turns dead on pages open on other nodes as soon as the cluster declares it, and its replica shows on another node', { timeout: 120_000 }, async () => {
  const web = await serviceView(agents[0]!, 'ui-web');
  const victimId = web.replicas[0]!.nodeId!;
  const victim = agents[ids.indexOf(victimId)]!;
  // when the cluster declared it dead (for the failure message: detection vs display)
  const heard = new EventFollower(agents.find((a) => a !== victim)!.api, ['node.dead']);
  const watched = agents.filter((a) => a !== victim).slice(0, 2);
  const watchers = await Promise.all(watched.map((a) => loggedIn(browser, a)));
  for (const p of watchers) await p.waitForSelector(`article[data-node="${nameOf(victim)}"] li[data-service="ui-web"]`);
  const killedAt = Date.now();
  await victim.stop('SIGKILL');
  // a page shows its own node's view, and each node holds the victim dead at its own moment (the
  // verdict spreads by gossip): ci88 had one page 1.5 s behind the first node's verdict
  const heldDead = watched.map((a) => waitFor(`${a.bind} holding the victim dead`, async () => {
    const members = ((await (await fetch(`${a.api}/v1/members`)).json()) as { members: { id: string; state: string }[] }).members;
    return members.find((m) => m.id === victimId)?.state === 'dead';
  }, 15_000, 50).then(() => Date.now() - killedAt, () => NaN));
  const took = await Promise.all(watchers.map(async (p) => {
    await p.waitForSelector(`article[data-node="${nameOf(victim)}"][data-state="dead"]`, { timeout: 10_000 });
    return Date.now() - killedAt;
  }));
  const held = await Promise.all(heldDead);
  const declared = await heard.waitFor('node.dead', (e) => e.payload.node === victimId).then((e) => e.time - killedAt, () => NaN);
  await heard.stop();
  // the 2.5 s of the issue is detection (the failure detector's ~1.85 s, longer on a loaded
  // machine) plus the page's own share; a timing assertion on this noisy machine would flake, so
  // the test bounds the page's share and prints the whole
  console.log(`# kill -9 -> card dead on the pages after ${took.join(', ')} ms (their nodes held it dead after ${held.join(', ')} ms; node.dead declared after ${declared} ms)`);
  took.forEach((ms, i) => assert.ok(ms - held[i]! <= 1500, `a card turned dead ${ms - held[i]!} ms after its page's node held the node dead (pages: ${took.join(', ')} ms; their nodes: ${held.join(', ')} ms)`));
  for (const p of watchers) {
    const moved = await p.waitForSelector(`article[data-node]:not([data-node="${nameOf(victim)}"]) li[data-service="ui-web"]`, { timeout: 60_000 });
    assert.notEqual(await moved.getAttribute('data-node'), nameOf(victim));
    await p.context().close();
  }
});

test('kill the node serving a page: the page carries on through another node within 5 s', { timeout: 120_000 }, async () => {
  // a node whose death leaves a majority of voters alive
  const voters = await voterIds(alive()[0]!);
  const served = alive().find((a) => voters.filter((v) => v !== ids[agents.indexOf(a)] && alive().some((b) => ids[agents.indexOf(b)] === v)).length >= 2)!;
  const page = await loggedIn(browser, served);
  await page.waitForSelector('li[data-service="ui-web"]');
  const killedAt = Date.now();
  await served.stop('SIGKILL');
  const other = await page.waitForFunction((self) => {
    const el = document.querySelector('.conn.live');
    return el && !el.getAttribute('data-api')!.includes(self) ? el.getAttribute('data-api') : false;
  }, served.bind, { timeout: 10_000, polling: 50 });
  const ms = Date.now() - killedAt;
  assert.ok(ms <= 5000, `carried on after ${ms} ms`);
  assert.ok(alive().some((a) => a.api === other.toString().replace(/^"|"$/g, '')), `now through a live member (${other})`);
  // still live: the dead node shows dead, and a change made elsewhere arrives
  await page.waitForSelector(`article[data-node="${nameOf(served)}"][data-state="dead"]`, { timeout: 10_000 });
  // what the page shows is what the API of the node it now talks to says
  const through = other.toString().replace(/^"|"$/g, '');
  await waitFor('the page matching GET /v1/members', async () => {
    const api = ((await (await fetch(`${through}/v1/members`)).json()).members as { name: string; state: string }[]).map((m) => `${m.name}=${m.state}`).sort();
    const shown = (await page.locator('article[data-node]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-node')}=${e.getAttribute('data-state')}`))).sort();
    return JSON.stringify(api) === JSON.stringify(shown);
  }, 5000, 200);
  const made = await postService(alive()[0]!, { name: 'ui-late', image: HTTPD_IMAGE, replicas: 0 });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  await page.getByRole('link', { name: 'Services' }).click();
  await page.waitForSelector('tr[data-service="ui-late"]', { timeout: 15_000 });
  await page.context().close();
});
