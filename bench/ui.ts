/**
 * The web UI's quality bars (issue 15): first paint from a warm agent (<= 300 ms), the JavaScript
 * the page loads (<= 60 kB gzipped; the build refuses more), and how long a page takes from its
 * address to showing the cluster live. One agent on 127.0.0.41, real headless Chromium.
 */
import { gzipSync } from 'node:zlib';
import { cleanupAll } from '../test/helpers/agents.ts';
import { launchChromium } from '../test/helpers/browser.ts';
import { startCluster } from '../test/helpers/services.ts';
import { loginUrl } from '../test/helpers/ui-pages.ts';
import { median, type Metric } from './results.ts';

const RUNS = 7;

export async function benchUi(): Promise<Record<string, Metric>> {
  const { agents } = await startCluster(['127.0.0.41']);
  const agent = agents[0]!;
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const scripts: string[] = [];
    page.on('response', (r) => {
      if (r.request().resourceType() === 'script') scripts.push(r.url());
    });
    // the first load warms the agent (its files in memory, the session made), as a user's second visit
    await page.goto(await loginUrl(agent));
    await page.waitForSelector('.conn.live', { timeout: 30_000 });
    const paints: number[] = [];
    const live: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = Date.now();
      await page.reload();
      await page.waitForSelector('article[data-node]', { timeout: 30_000 });
      await page.waitForSelector('.conn.live', { timeout: 30_000 });
      live.push(Date.now() - t0);
      const paint = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime);
      if (paint !== undefined) paints.push(paint);
    }
    // what the page itself loads, gzipped as the agent serves it
    let jsGzip = 0;
    for (const url of new Set(scripts)) jsGzip += gzipSync(Buffer.from(await (await fetch(url)).arrayBuffer())).length;
    return {
      'ui.first_paint_ms': { value: median(paints), unit: 'ms', goal: '<= 300', runs: paints.map(Math.round) },
      'ui.live_ms': { value: median(live), unit: 'ms', runs: live },
      'ui.js_gzip_kb': { value: jsGzip / 1024, unit: 'kB', goal: '<= 60', scripts: scripts.length },
    };
  } finally {
    await browser.close().catch(() => undefined);
    await cleanupAll();
  }
}
