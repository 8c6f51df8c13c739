import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { cleanupAll, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { launchChromium } from '../helpers/browser.ts';
import { loggedIn } from '../helpers/ui-pages.ts';
import { waitFor } from '../helpers/wait.ts';

// A founder that admits nobody by itself (no --open) and a machine asking to join, on the uinodes
// helper's loopback range: the page shows the joiner waiting and an admin session approves it.
const FOUNDER = '127.70.0.20';
const JOINER = '127.70.0.21';
let founder: AgentHandle;
let browser: Browser;

before(async () => {
  founder = await startAgent({ bind: FOUNDER });
  await waitFor('the founder serving /v1/services', async () => (await fetch(`${founder.api}/v1/services`).then((r) => r.status, () => 0)) === 200, 60_000, 100);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await cleanupAll();
});

test('a machine waiting to join shows on the overview; a read-only session cannot approve it, an admin one does and its card appears', { timeout: 150_000 }, async () => {
  const page = await loggedIn(browser, founder);
  const looker = await loggedIn(browser, founder, true);
  const joiner = await startAgent({ bind: JOINER, args: ['--join', FOUNDER], waitReady: false });
  const waiting = 'li[data-node="n21"][data-state="pending-approval"]';
  await page.waitForSelector(waiting, { timeout: 30_000 });
  await looker.waitForSelector(waiting, { timeout: 15_000 });
  assert.equal(await looker.getByRole('button', { name: /Approve/ }).count(), 0, 'a read-only session gets no Approve button');
  assert.equal((await joiner.health()).status, 503, 'not in the cluster before it is approved');

  await page.getByRole('button', { name: 'Approve n21' }).click();
  await page.getByRole('status').filter({ hasText: 'approved n21' }).waitFor({ timeout: 10_000 });
  await waitFor('the joiner admitted', async () => (await joiner.health()).status === 200, 60_000, 200);
  for (const p of [page, looker]) {
    await p.waitForSelector('article[data-node="n21"][data-state="alive"]', { timeout: 15_000 });
    await p.waitForFunction(() => document.querySelectorAll('li[data-node="n21"]').length === 0, undefined, { timeout: 15_000 });
  }
  await page.context().close();
  await looker.context().close();
});
