/**
 * A node:test reporter beside `spec` (scripts/test.sh): when the run ends it lists the slowest
 * test files by wall time, so the suite's time budget (30 minutes on a 2-core machine) can be
 * kept with figures rather than guesses. Files run one at a time, so a file's time runs from the
 * last event of the file before it to its own last event: its hooks and its cluster starts count.
 * (Where files run at once, on more cores, the times overlap and only the order says much.)
 * Plain JavaScript: node loads reporters before `--import tsx` can compile TypeScript for it.
 */
import { relative } from 'node:path';

const SHOWN = 15;

/** @param {AsyncIterable<{ type: string, data?: { file?: string } }>} source */
export default async function* fileTimes(source) {
  /** @type {Map<string, number>} */
  const spent = new Map();
  let last = performance.now();
  for await (const event of source) {
    const file = event.data?.file;
    if (!file || (event.type !== 'test:pass' && event.type !== 'test:fail')) continue;
    const now = performance.now();
    spent.set(file, (spent.get(file) ?? 0) + (now - last));
    last = now;
  }
  const total = [...spent.values()].reduce((a, b) => a + b, 0);
  yield `# slowest test files (wall time; ${Math.round(total / 1000)} s in ${spent.size} files):\n`;
  for (const [file, ms] of [...spent].sort((a, b) => b[1] - a[1]).slice(0, SHOWN)) {
    yield `#   ${(ms / 1000).toFixed(1).padStart(6)} s  ${relative(process.cwd(), file)}\n`;
  }
}
