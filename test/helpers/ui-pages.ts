import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { cli, type AgentHandle } from './agents.ts';
import { removeContainers } from './docker-rm.ts';

const execFileP = promisify(execFile);

/** A one-time login URL from `warren ui` on `a`. */
export async function loginUrl(a: AgentHandle, readOnly = false): Promise<string> {
  const r = await cli(['--data-dir', a.dataDir, '--api', a.api, 'ui', ...(readOnly ? ['--read-only'] : [])]);
  if (r.code !== 0) throw new Error(`warren ui: ${r.stderr}`);
  return r.stdout.trim();
}

/** A new page (its own context: its own storage) opened on `url`. */
export async function openPage(browser: Browser, url: string, width = 1280): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(url);
  return page;
}

/** A page logged in on `a` (by a fresh ticket), showing the overview. */
export async function loggedIn(browser: Browser, a: AgentHandle, readOnly = false): Promise<Page> {
  const page = await openPage(browser, await loginUrl(a, readOnly));
  try {
    await page.waitForSelector('.conn.live', { timeout: 15_000 });
  } catch {
    throw new Error(`the page on ${a.api} did not go live: ${await page.locator('body').innerText()}`);
  }
  return page;
}

/** axe-core's serious and critical findings on the page as it is now. */
export async function seriousA11y(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`);
}

/**
 * axe's serious and critical findings, and sideways scrolling, on each view (a hash and a selector
 * that says it is drawn) in light and dark at 1280 and 375 px; `extra` checks one more state per
 * scheme and width (e.g. a dialog open). [] when all is well.
 */
export async function a11yAcrossViews(page: Page, views: Array<[hash: string, ready: string]>, extra?: (page: Page) => Promise<[string, string[]]>): Promise<string[]> {
  const problems: string[] = [];
  for (const scheme of ['light', 'dark'] as const) {
    for (const width of [1280, 375]) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width, height: 900 });
      for (const [view, ready] of views) {
        await page.evaluate((h) => (location.hash = h), view);
        await page.waitForSelector(ready);
        for (const p of await seriousA11y(page)) problems.push(`${scheme} ${width}px ${view}: ${p}`);
        const sideways = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (sideways > 0) problems.push(`${scheme} ${width}px ${view}: scrolls sideways by ${sideways}px`);
      }
      if (extra) {
        const [what, found] = await extra(page);
        for (const p of found) problems.push(`${scheme} ${width}px ${what}: ${p}`);
      }
    }
  }
  return problems;
}

/** Removes the containers and volumes of one cluster (by its id label), never another's. */
export async function removeContainersOf(clusterId: string, servicePrefix: string): Promise<void> {
  const { stdout } = await execFileP('docker', ['ps', '-aq', '--filter', `label=warren.cluster=${clusterId}`]).catch(() => ({ stdout: '' }));
  const ids = stdout.split('\n').filter(Boolean);
  await removeContainers(ids);
  const vols = await execFileP('docker', ['volume', 'ls', '-q', '--filter', `name=warren_${servicePrefix}`]).catch(() => ({ stdout: '' }));
  const names = vols.stdout.split('\n').filter(Boolean);
  if (names.length) await execFileP('docker', ['volume', 'rm', '-f', ...names]).catch(() => undefined);
}
