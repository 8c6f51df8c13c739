import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { cleanupAll, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { launchChromium } from '../helpers/browser.ts';
import { voterIds } from '../helpers/cluster.ts';
import { startCluster } from '../helpers/services.ts';
import { loggedIn } from '../helpers/ui-pages.ts';
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

test("a page whose node died picks up a node that joined after, and fails over to it or another live node when the node it moved to dies", { timeout: 150_000 }, async () => {
  const voters = await voterIds(agents[0]!);
  const client = agents.find((_, i) => !voters.includes(ids[i]!))!;
  const others = agents.filter((a) => a !== client);
  const page = await loggedIn(browser, client);
  assert.equal(await page.evaluate(() => location.origin), origin(client));
  const oldToken = await page.evaluate(() => JSON.parse(localStorage.getItem('warren.session')!).token as string);
  await page.evaluate(() => (location.hash = '#/services'));
  await page.getByRole('heading', { name: 'Services' }).waitFor();

  // the page's own node dies: it carries on through a voter
  await client.stop('SIGKILL');
  const first = await liveThrough(page, others.map((v) => v.api), 10_000);

  // a node joins now: its card shows up (the member list comes from the node the page talks to),
  // and as the page's policy cannot reach it and its own node is dead, it moves to the page of
  // the node it talks to (session and view along), whose policy names the newcomer
  const late = await startAgent({ bind: LATE, args: ['--join', IPS[0]!] });
  agents.push(late);
  await waitFor('the new node serving /v1/services', async () => (await fetch(`${late.api}/v1/services`).then((r) => r.status, () => 0)) === 200, 60_000, 200);
  await page.waitForFunction((o) => location.origin === o, new URL(first).origin, { timeout: 15_000, polling: 100 });
  await page.waitForFunction((o) => (document.documentElement.dataset.connect ?? '').split(' ').includes(o), origin(late), { timeout: 15_000 });
  assert.equal(await page.evaluate(() => location.hash), '#/services', 'the view went along');
  await page.evaluate(() => (location.hash = '#/'));
  await page.waitForSelector(`article[data-node="${nameOf(late)}"][data-state="alive"]`, { timeout: 15_000 });
  await page.waitForSelector('.conn.live', { timeout: 15_000 });
  // the session moved: the one of the dead node's page is over, the new one works on the newcomer
  const moved = await page.evaluate(async (url) => {
    const token = JSON.parse(localStorage.getItem('warren.session')!).token as string;
    return (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;
  }, `${late.api}/v1/ui/session`);
  assert.equal(moved, 200, 'the moved session works on the node that joined later');
  const old = await fetch(`${late.api}/v1/ui/session`, { headers: { authorization: `Bearer ${oldToken}` } });
  assert.equal(old.status, 401, 'the session moved: the old token is over');

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
  await page.context().close();
});
