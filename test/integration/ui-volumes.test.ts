/**
 * The web UI's volumes views (issue 15) on 2 real agents (127.73.0.2-3, the uivol helper's range)
 * and Debian's headless Chromium: a service with a replicated volume, its copies on both nodes,
 * snapshots taken from the CLI and from the page showing up live, a read-only session without
 * buttons, a copy's node dying. Restore and clone (issue 13) are not in the agent yet: their tests
 * check the request the page sends and that it shows the agent's refusal.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { VolumeView } from '../../src/core/volumes/volume-view.ts';
import type { SnapshotListItem } from '../../src/runtime/volume-api.ts';
import { cli, cleanupAll, type AgentHandle } from '../helpers/agents.ts';
import { launchChromium } from '../helpers/browser.ts';
import { ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { postService, serviceView, startCluster } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { a11yAcrossViews, loggedIn, seriousA11y } from '../helpers/ui-pages.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.73.0.2', '127.73.0.3'];
const SERVICE = 'uivol-db';
const VOLUME = `${SERVICE}_data`;
const DOCS = new URL('../../docs/', import.meta.url).pathname;
let agents: AgentHandle[] = [];
let ids: string[] = [];
let browser: Browser;

before(async () => {
  await ensureHttpdImage();
  ({ agents, ids } = await startCluster(IPS, ['--snapshot-interval-ms', '1000']));
  // writes once, then idles: the periodic loop records nothing new, so a new snapshot is one the test asked for
  const made = await postService(agents[0]!, { name: SERVICE, image: HTTPD_IMAGE, command: ['sh', '-c', 'echo hello > /data/greeting; exec sleep 1000000'], volumes: ['data:/data'] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  await waitFor('a copy of the volume on both nodes', async () => {
    const v = (await volumes(agents[0]!)).find((x) => x.name === VOLUME);
    return v && v.copies.length === 2 && v.atRiskMs !== null && v.copies.every((c) => c.applied);
  }, 90_000, 250);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await cleanupAll();
  await removeNodesDocker(ids);
});

async function volumes(a: AgentHandle): Promise<VolumeView[]> {
  const res = await fetch(`${a.api}/v1/volumes`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
  return res?.ok ? ((await res.json()) as { volumes: VolumeView[] }).volumes : [];
}

async function snapshots(a: AgentHandle): Promise<SnapshotListItem[]> {
  const res = await fetch(`${a.api}/v1/volumes/${VOLUME}/snapshots`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { snapshots: SnapshotListItem[] }).snapshots;
}

const row = (page: Page) => page.locator(`tr[data-volume="${VOLUME}"]`);
/** marks the page: a reload would lose the mark (live means without one) */
const mark = (page: Page) => page.evaluate(() => ((window as unknown as { uivolMark: number }).uivolMark = 1));
const marked = (page: Page) => page.evaluate(() => (window as unknown as { uivolMark?: number }).uivolMark === 1);

test('the list shows the volume, its service, state, live node and a copy on each node; a snapshot taken with the CLI shows on both copies without a reload', { timeout: 120_000 }, async () => {
  const page = await loggedIn(browser, agents[1]!);
  await page.getByRole('link', { name: 'Volumes' }).click();
  await row(page).waitFor({ timeout: 15_000 });
  const api = (await volumes(agents[1]!)).find((v) => v.name === VOLUME)!;
  const replicaNode = (await serviceView(agents[0]!, SERVICE)).replicas[0]!.nodeName;
  assert.equal(api.node, replicaNode, 'the live copy is where the replica runs');
  assert.equal(await row(page).getAttribute('data-service'), SERVICE);
  assert.equal(await row(page).getAttribute('data-node'), replicaNode);
  assert.equal(await row(page).getAttribute('data-state'), 'degraded', '2 nodes: fewer than 3 live copies');
  const copies = row(page).locator('li[data-node]');
  const shown = await copies.evaluateAll((els) => els.map((e) => `${e.getAttribute('data-node')} ${e.getAttribute('data-state')} ${e.getAttribute('data-volume')}`).sort());
  assert.deepEqual(shown, ['n2 alive', 'n3 alive'].map((s) => `${s} ${VOLUME}`));
  assert.deepEqual(api.copies.map((c) => c.node).sort(), ['n2', 'n3']);
  assert.equal(await row(page).locator('[data-risk]').getAttribute('data-risk'), 'ok');

  await mark(page);
  const before = await copies.first().getAttribute('data-snapshot');
  const r = await cli(['--data-dir', agents[0]!.dataDir, '--api', agents[0]!.api, 'volume', 'snapshot', VOLUME]);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.notEqual(id, before);
  const t0 = Date.now();
  for (const node of ['n2', 'n3']) await row(page).locator(`li[data-node="${node}"][data-snapshot="${id}"]`).waitFor({ timeout: 10_000 });
  console.log(`# snapshot ${id} on both copies in the list ${Date.now() - t0} ms after the CLI returned`);
  assert.ok(await marked(page), 'no reload');
  await page.context().close();
});

test("the detail shows the copies and the owner's snapshots; Snapshot now adds one, whose copies count rises live", { timeout: 120_000 }, async () => {
  const page = await loggedIn(browser, agents[0]!);
  await page.getByRole('link', { name: 'Volumes' }).click();
  await row(page).getByRole('link', { name: VOLUME }).click();
  await page.getByRole('heading', { name: `Volume ${VOLUME}` }).waitFor();
  assert.equal(await page.evaluate(() => location.hash), `#/volumes/${VOLUME}`);
  const copyRows = page.getByRole('region', { name: `copies of ${VOLUME}` }).locator('tr[data-node]');
  await copyRows.first().waitFor();
  assert.deepEqual((await copyRows.evaluateAll((els) => els.map((e) => e.getAttribute('data-node')))).sort(), ['n2', 'n3']);

  const list = page.getByRole('region', { name: `snapshots of ${VOLUME}` });
  await list.locator('tr[data-snapshot]').first().waitFor({ timeout: 10_000 });
  const expected = [...(await snapshots(agents[1]!))].sort((a, b) => b.epoch - a.epoch || b.seq - a.seq).map((s) => s.id);
  assert.deepEqual(await list.locator('tr[data-snapshot]').evaluateAll((els) => els.map((e) => e.getAttribute('data-snapshot'))), expected, 'the same snapshots as the API, newest first');

  await mark(page);
  await page.getByRole('button', { name: 'Snapshot now' }).click();
  const status = page.getByRole('status').filter({ hasText: /^Snapshot \S+ taken/ });
  await status.waitFor({ timeout: 30_000 });
  const id = /^Snapshot (\S+) taken/.exec(await status.innerText())![1]!;
  assert.ok(!expected.includes(id));
  const taken = list.locator(`tr[data-snapshot="${id}"]`);
  await taken.waitFor({ timeout: 10_000 });
  assert.equal(await list.locator('tr[data-snapshot]').first().getAttribute('data-snapshot'), id, 'newest first');
  assert.ok((await snapshots(agents[1]!)).some((s) => s.id === id), 'the agent has it');
  // both nodes' copies reach it (volume.replicated, then the copy records): the count follows live
  await waitFor('its copies column at 2', async () => (await taken.locator('td').nth(5).innerText()).trim() === '2', 15_000, 100);
  const copiesAt = page.getByRole('region', { name: `copies of ${VOLUME}` }).locator(`tr[data-snapshot="${id}"]`);
  await waitFor("both nodes' copies at it in the copies table", async () => (await copiesAt.count()) === 2, 10_000, 100);
  // the peer marks its copy applied just after the event that brought it (no event of its own): the page's follow-up read shows it
  await waitFor('both copies applied', async () => (await copiesAt.evaluateAll((els) => els.map((e) => e.getAttribute('data-applied')))).join() === 'true,true', 10_000, 100);
  assert.ok(await marked(page), 'no reload');
  await page.screenshot({ path: join(DOCS, 'ui-volume.png'), fullPage: true });
  await page.context().close();
});

test('restore and clone send the contract\'s requests after a confirmation and show the agent\'s answer', { timeout: 90_000 }, async () => {
  const page = await loggedIn(browser, agents[1]!);
  await page.evaluate((v) => (location.hash = `#/volumes/${v}`), VOLUME);
  const list = page.getByRole('region', { name: `snapshots of ${VOLUME}` });
  const oldest = await list.locator('tr[data-snapshot]').last().getAttribute('data-snapshot');
  assert.ok(oldest);

  await page.getByRole('button', { name: `Restore ${oldest}…` }).click();
  const panel = page.getByRole('region', { name: `Restore ${VOLUME} to ${oldest}?` });
  await panel.waitFor();
  // the panel takes the focus in an effect, run after the frame that shows it
  await waitFor('the question taking the focus', () => page.evaluate(() => document.activeElement?.id === 'restore-h'), 5000, 20);
  const text = await panel.innerText();
  assert.match(text, new RegExp(`service ${SERVICE} is stopped`));
  assert.match(text, /kept as a new snapshot/);
  const [req, res] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/v1/volumes/${VOLUME}/restore`)),
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/v1/volumes/${VOLUME}/restore`)),
    panel.getByRole('button', { name: `Yes, restore ${oldest}` }).click(),
  ]);
  assert.deepEqual(req.postDataJSON(), { snapshot: oldest });
  assert.equal(req.headers()['content-type'], 'application/json');
  assert.match(req.headers().authorization ?? '', /^Bearer ws_/);
  assert.equal(res.status(), 200, await res.text());
  const restored = (await res.json()) as { volume: string; restored: string; before: string };
  assert.equal(restored.volume, VOLUME);
  assert.equal(restored.restored, oldest);
  assert.equal(await panel.getByRole('status').innerText(), `Restored ${VOLUME} to ${oldest}. Its state before is kept as snapshot ${restored.before}.`);
  // the state before the restore is listed among the snapshots, live
  await list.locator(`tr[data-snapshot="${restored.before}"]`).waitFor({ timeout: 20_000 });

  await page.getByRole('button', { name: `Clone ${oldest}…` }).click();
  const form = page.getByRole('region', { name: `Clone ${oldest} into a new volume` });
  await form.waitFor();
  assert.equal(await panel.count(), 0, 'one panel at a time');
  assert.equal(await form.getByRole('button', { name: 'Clone', exact: true }).isDisabled(), true, 'no name, no clone');
  await form.getByLabel("New volume's name").fill('uivol-copy_data');
  const [creq, cres] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/v1/volumes/${VOLUME}/clone`)),
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/v1/volumes/${VOLUME}/clone`)),
    form.getByRole('button', { name: 'Clone', exact: true }).click(),
  ]);
  assert.deepEqual(creq.postDataJSON(), { name: 'uivol-copy_data', snapshot: oldest });
  assert.equal(cres.status(), 201, await cres.text());
  const cloned = (await cres.json()) as { volume: string; from: string; snapshot: string };
  assert.deepEqual([cloned.volume, cloned.from], ['uivol-copy_data', VOLUME]);
  assert.equal(await form.getByRole('link', { name: 'uivol-copy_data' }).getAttribute('href'), '#/volumes/uivol-copy_data');

  // the same name again: refused, the agent's reason on the name field
  await page.getByRole('button', { name: `Clone ${oldest}…` }).click();
  const again = page.getByRole('region', { name: `Clone ${oldest} into a new volume` });
  await again.getByLabel("New volume's name").fill('uivol-copy_data');
  const [, refused] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/v1/volumes/${VOLUME}/clone`)),
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/v1/volumes/${VOLUME}/clone`)),
    again.getByRole('button', { name: 'Clone', exact: true }).click(),
  ]);
  assert.equal(refused.status(), 409);
  const reason = ((await refused.json()) as { error: { message: string } }).error.message;
  await again.locator('.field .error, p.error').first().waitFor();
  assert.equal(await again.locator(`#${await again.getByLabel("New volume's name").getAttribute('id')}-err`).innerText(), reason);
  await again.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await again.count(), 0);
  await page.context().close();
});

test('a read-only session sees the volumes, copies and snapshots, and gets no button that changes anything', { timeout: 60_000 }, async () => {
  const page = await loggedIn(browser, agents[0]!, true);
  await page.getByRole('link', { name: 'Volumes' }).click();
  await row(page).locator('li[data-node]').first().waitFor({ timeout: 10_000 });
  await row(page).getByRole('link', { name: VOLUME }).click();
  await page.getByRole('region', { name: `snapshots of ${VOLUME}` }).locator('tr[data-snapshot]').first().waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('main button').count(), 0, 'no buttons at all in the volume view');
  assert.equal(await page.getByRole('columnheader', { name: 'Actions' }).count(), 0);
  const statuses = await page.evaluate(async (v) => {
    const token = JSON.parse(localStorage.getItem('warren.session')!).token as string;
    const h = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    return (await fetch(`/v1/volumes/${v}/snapshots`, { method: 'POST', headers: h, body: '{"wait":false}' })).status;
  }, VOLUME);
  assert.equal(statuses, 403);
  await page.context().close();
});

test('the volume views pass axe (no serious or critical issue), light and dark, at 1280 px and 375 px, with no sideways scrolling on a phone', { timeout: 120_000 }, async () => {
  const page = await loggedIn(browser, agents[0]!);
  const problems = await a11yAcrossViews(page, [['#/volumes', `tr[data-volume="${VOLUME}"] li[data-node]`], [`#/volumes/${VOLUME}`, 'tr[data-snapshot] button']], async (p) => {
    // the restore question open too
    await p.locator('tr[data-snapshot] button').first().click();
    await p.waitForSelector('#restore-h');
    return ['restore question', await seriousA11y(p)];
  });
  assert.deepEqual(problems, []);
  await page.context().close();
});

test("the snapshot policy shows every field, the defaults marked; an admin edits it (a bad duration refused on its field before anything is sent), the agent has it, and resets it", { timeout: 90_000 }, async () => {
  const page = await loggedIn(browser, agents[0]!);
  await page.getByRole('link', { name: 'Volumes' }).click();
  await row(page).getByRole('link', { name: VOLUME }).click();
  const shown = page.locator(`section[data-volume="${VOLUME}"] dl div[data-field]`);
  await waitFor('the policy, every field a default', async () => (await shown.evaluateAll((els) => els.map((e) => e.getAttribute('data-default')))).join() === 'true,true,true,true,true,true', 10_000, 100);
  assert.match(await shown.first().innerText(), /Snapshot every\s+1s \(default\)/);
  await page.getByRole('button', { name: 'Edit policy…' }).click();
  // the keyboard lands in the form's first field
  await waitFor('the focus in the form\'s first field', () => page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name === 'interval'), 5000, 20);
  const puts: string[] = [];
  page.on('request', (r) => void (r.method() === 'PUT' && puts.push(r.postData() ?? '')));
  await page.getByLabel('Snapshot every').fill('5 minutes please');
  await page.getByRole('button', { name: 'Save policy' }).click();
  const err = page.locator('#f-interval-err');
  await err.waitFor();
  assert.match(await err.innerText(), /^must be a duration from 1s to 24h such as 30s, 5m or 1h \(blank: the default\), got "5 minutes please"$/);
  assert.equal(await page.getByLabel('Snapshot every').getAttribute('aria-invalid'), 'true');
  assert.deepEqual(puts, [], 'nothing sent');
  assert.deepEqual(await seriousA11y(page), [], 'the form with its error passes axe');

  await page.getByLabel('Snapshot every').fill('5m');
  await page.getByLabel('Daily ones').fill('14');
  await page.getByRole('button', { name: 'Save policy' }).click();
  await waitFor('the saved policy shown', async () => (await shown.evaluateAll((els) => els.map((e) => e.getAttribute('data-default')))).join() === 'false,true,true,false,true,true', 10_000, 100);
  assert.deepEqual(puts.map((b) => JSON.parse(b)), [{ intervalMs: 300_000, retention: { daily: 14 } }]);
  const got = (await (await fetch(`${agents[1]!.api}/v1/volumes/${VOLUME}/policy`)).json()) as { policy: { intervalMs: number; retention: { daily: number } } };
  assert.equal(got.policy.intervalMs, 300_000, 'the other node has it');
  assert.equal(got.policy.retention.daily, 14);

  await page.getByRole('button', { name: 'Edit policy…' }).click();
  assert.equal(await page.getByLabel('Snapshot every').inputValue(), '5m', 'the form opens on what the volume sets');
  await page.getByRole('button', { name: 'Reset to defaults' }).click();
  await waitFor('every field a default again', async () => (await shown.evaluateAll((els) => els.map((e) => e.getAttribute('data-default')))).join() === 'true,true,true,true,true,true', 10_000, 100);
  assert.deepEqual(JSON.parse(puts.at(-1)!), { reset: true });
  const after = (await (await fetch(`${agents[0]!.api}/v1/volumes/${VOLUME}/policy`)).json()) as { defaults: string[] };
  assert.equal(after.defaults.length, 6);
  await page.context().close();
});

test('an idle volume is not at risk however old its copies: on its owner and, from its heartbeats, on the other node', { timeout: 60_000 }, async () => {
  // idle: nothing new snapshotted for 4 s (the interval is 1 s), so its copies are that old
  await waitFor('copies older than 4 s', async () => {
    const v = (await volumes(agents[0]!)).find((x) => x.name === VOLUME);
    return v && v.copies.length === 2 && v.copies.every((c) => c.ageMs > 4000);
  }, 30_000, 250);
  for (const a of agents) {
    const v = (await volumes(a)).find((x) => x.name === VOLUME)!;
    assert.ok(v.atRiskMs !== null && v.atRiskMs < 3000 && v.atRiskMs < Math.min(...v.copies.map((c) => c.ageMs)), `${a.bind}: ${JSON.stringify(v)}`);
  }
});

test("a copy's node dies: the list shows that copy's node dead and all the data at risk, live", { timeout: 90_000 }, async () => {
  const page = await loggedIn(browser, agents[0]!);
  await page.getByRole('link', { name: 'Volumes' }).click();
  await row(page).locator('li[data-node="n3"][data-state="alive"]').waitFor({ timeout: 10_000 });
  // the service idles, so its data at risk has been growing since the last snapshot: a fresh one on both nodes first
  const r = await cli(['--data-dir', agents[0]!.dataDir, '--api', agents[0]!.api, 'volume', 'snapshot', VOLUME]);
  assert.equal(r.code, 0, r.stderr);
  await row(page).locator('[data-risk="ok"]').waitFor({ timeout: 10_000 });
  await mark(page);
  // n3 is not the store's voter (2 nodes: one voter, the founder n2), so the cluster goes on
  await agents[1]!.stop('SIGKILL');
  await row(page).locator('li[data-node="n3"][data-state="dead"]').waitFor({ timeout: 20_000 });
  await row(page).locator('[data-risk="high"]').waitFor({ timeout: 10_000 });
  assert.equal(await row(page).locator('[data-risk]').innerText(), 'all (no second copy yet)');
  assert.ok(await marked(page), 'no reload');
  await page.context().close();
});
