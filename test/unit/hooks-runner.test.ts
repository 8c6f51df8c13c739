import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Hooks } from '../../src/system/hooks.ts';
import type { WarrenEvent } from '../../src/core/gossip-messages.ts';
import { waitFor } from '../helpers/wait.ts';

// The hook driver on real processes (no agent): order, the bound, start failures.
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function hookDir(hooks: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-package-hooks-'));
  dirs.push(dir);
  for (const [name, body] of Object.entries(hooks)) {
    await writeFile(join(dir, name), body);
    await chmod(join(dir, name), 0o755);
  }
  return dir;
}

const event = (n: number, name = 'node.joined'): WarrenEvent => ({ id: `e${n}`, topic: `warren/events/${name}`, name, time: n, source: { id: 'x', name: 'x' }, payload: { n } });
const silent = pino({ level: 'silent' });

test('hooks: one run at a time, in arrival order; a full queue drops the oldest waiting events', { timeout: 20_000 }, async () => {
  // each run waits for the test's go-ahead (bounded), so every event arrives while the first runs
  const dir = await hookDir({ slow: '#!/bin/sh\nread line\necho "$WARREN_EVENT $line" >> "$(dirname "$0")/seen"\nfor i in $(seq 100); do [ -e "$(dirname "$0")/go" ] && exit 0; sleep 0.05; done\nexit 1\n' });
  const hooks = new Hooks({ dirs: [dir, join(dir, 'missing')], logger: silent, limits: { maxQueued: 2, timeoutMs: 5000 } });
  for (let n = 1; n <= 5; n++) hooks.onEvent(event(n));
  // 1 runs; 2 and 3 wait; 4 drops 2; 5 drops 3: 1, 4, 5 run, in that order
  await waitFor('two dropped while the first runs', async () => (await hooks.view()).hooks[0]?.dropped === 2, 10_000);
  assert.equal((await hooks.view()).hooks[0]!.running?.event, 'node.joined');
  await writeFile(join(dir, 'go'), '');
  const view = await waitFor('three runs', async () => {
    const v = await hooks.view();
    return v.hooks[0]?.runs.ok === 3 ? v : undefined;
  }, 10_000);
  const seen = (await readFile(join(dir, 'seen'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l.slice(l.indexOf(' ') + 1)).payload.n);
  assert.deepEqual(seen, [1, 4, 5]);
  assert.equal(view.hooks[0]!.dropped, 2);
  assert.deepEqual(hooks.counters(), [{ hook: join(dir, 'slow'), runs: { ok: 3, failed: 0, timeout: 0, error: 0 }, dropped: 2 }]);
  hooks.close();
});

test('hooks: a hook that cannot start is an error, not a crash; output is kept', { timeout: 20_000 }, async () => {
  const dir = await hookDir({ broken: '#!/nonexistent/interpreter\n', loud: '#!/bin/sh\nhead -c 40000 /dev/zero | tr "\\0" x\necho oops >&2\nexit 2\n' });
  const hooks = new Hooks({ dirs: [dir], logger: silent });
  hooks.onEvent(event(1, 'node.dead'));
  const view = await waitFor('both ran', async () => {
    const v = await hooks.view();
    return v.hooks.every((h) => h.lastRuns.length === 1) && v.hooks.length === 2 ? v : undefined;
  }, 10_000);
  const byName = Object.fromEntries(view.hooks.map((h) => [h.path.split('/').pop(), h]));
  assert.equal(byName.broken!.lastRuns[0]!.outcome, 'error');
  assert.match(byName.broken!.lastRuns[0]!.output, /ENOENT/);
  assert.equal(byName.loud!.lastRuns[0]!.outcome, 'failed');
  assert.equal(byName.loud!.lastRuns[0]!.exitCode, 2);
  assert.equal(byName.loud!.lastRuns[0]!.output, 'oops');
  hooks.close();
});
