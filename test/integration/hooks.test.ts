import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent, cli, cleanupAll, tempDir } from '../helpers/agents.ts';
import { nodeId } from '../helpers/cluster.ts';
import { waitFor, pidAlive } from '../helpers/wait.ts';
import { metric } from '../helpers/metrics.ts';

// this helper's loopback range: 127.63.0.2-250
const IPS = ['127.63.0.2', '127.63.0.3'];

after(cleanupAll);

async function hook(dir: string, name: string, body: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await writeFile(path, `#!/bin/bash\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

async function adminGet(api: string, dataDir: string, path: string): Promise<any> {
  const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
  const res = await fetch(api + path, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(3000) });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return path === '/metrics' ? res.text() : res.json();
}

test('hooks: a hook sees node.dead; a hanging hook is killed at its timeout with what it started; a failing hook is counted', { timeout: 90_000 }, async () => {
  const root = await tempDir('warren-package-hooks-');
  const dataDir = join(root, 'data');
  const systemDir = join(root, 'etc-hooks');
  const seen = join(root, 'seen.jsonl');
  const hangPids = join(root, 'hang.pids');
  // the recorder sits in the system dir (the package's /etc/warren/hooks), the others in the data dir
  await hook(systemDir, 'record', `{ printf '%s ' "$WARREN_EVENT"; cat; } >> ${seen}`);
  const hang = await hook(join(dataDir, 'hooks'), 'hang', `sleep 300 & echo "$$ $!" >> ${hangPids}; wait`);
  const fail = await hook(join(dataDir, 'hooks'), 'fail', 'echo "no luck for $WARREN_EVENT" >&2; exit 3');
  await writeFile(join(dataDir, 'hooks', 'README'), 'not executable: not a hook\n');
  await writeFile(join(dataDir, 'hooks', 'fail~'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });

  const env = { WARREN_SYSTEM_HOOKS_DIR: systemDir };
  const a = await startAgent({ bind: IPS[0]!, dataDir, env, args: ['--open', '--hook-timeout-ms', '1500', '--proxy-workers', '0'] });
  const b = await startAgent({ bind: IPS[1]!, env: { WARREN_SYSTEM_HOOKS_DIR: join(root, 'none') }, args: ['--join', IPS[0]!, '--proxy-workers', '0'] });
  const bId = await nodeId(b);
  await waitFor('node.joined of b reaches the hook', async () => existsSync(seen) && (await readFile(seen, 'utf8')).includes(bId), 20_000);

  // b must be a member a's failure detector follows before it can be declared dead (admission's
  // node.joined may come before b's first heartbeat reaches a)
  await waitFor('a sees b alive', async () => {
    const res = await fetch(`${a.api}/v1/members`, { signal: AbortSignal.timeout(2000) });
    return ((await res.json()).members as { id: string; state: string }[]).some((m) => m.id === bId && m.state === 'alive');
  }, 20_000, 100);
  await b.stop('SIGKILL');
  const dead = await waitFor('the hook sees node.dead of b', async () => {
    const lines = existsSync(seen) ? (await readFile(seen, 'utf8')).split('\n') : [];
    const line = lines.find((l) => l.startsWith('node.dead ') && l.includes(bId));
    return line ? JSON.parse(line.slice('node.dead '.length)) : undefined;
  }, 20_000);
  assert.equal(dead.name, 'node.dead');
  assert.equal(dead.topic, 'warren/events/node.dead');
  assert.equal(dead.payload.node, bId);

  // the hang hook: every run is killed at 1.5 s, the sleep it started with it (its process group)
  const view = await waitFor('a timed-out run of the hang hook', async () => {
    const v = await adminGet(a.api, dataDir, '/v1/hooks');
    const h = v.hooks.find((x: any) => x.path === hang);
    return h?.runs.timeout >= 1 ? v : undefined;
  }, 20_000);
  const hangView = view.hooks.find((x: any) => x.path === hang);
  const run = hangView.lastRuns.find((r: any) => r.outcome === 'timeout');
  assert.equal(run.signal, 'SIGKILL');
  assert.ok(run.durationMs >= 1400 && run.durationMs < 5000, `killed near its timeout: ${run.durationMs} ms`);
  assert.equal(hangView.runs.ok, 0);
  const [shellPid, sleepPid] = (await readFile(hangPids, 'utf8')).trim().split('\n')[0]!.split(' ').map(Number);
  await waitFor('the first hang run and its sleep are gone', () => !pidAlive(shellPid!) && !pidAlive(sleepPid!), 5000);
  assert.deepEqual(view.dirs, [join(dataDir, 'hooks'), systemDir]);
  assert.equal(view.timeoutMs, 1500);
  assert.ok(!view.hooks.some((x: any) => x.path.endsWith('README') || x.path.endsWith('~')), 'only executables that are hooks');

  // the failing hook: counted in /metrics by result, and its stderr is kept
  const failView = view.hooks.find((x: any) => x.path === fail);
  assert.ok(failView.runs.failed >= 1, JSON.stringify(failView));
  assert.equal(failView.lastRuns[0].exitCode, 3);
  assert.match(failView.lastRuns[0].output, /^no luck for node\./);
  const metrics: string = await adminGet(a.api, dataDir, '/metrics');
  const failures = metric(metrics, `warren_hook_failures_total{hook="${fail}"}`);
  assert.ok(failures >= 1, metrics);
  assert.match(metrics, new RegExp(`^warren_hook_runs_total\\{hook="${hang}",result="timeout"\\} [1-9]`, 'm'));
  assert.match(metrics, new RegExp(`^warren_hook_runs_total\\{hook="${join(systemDir, 'record')}",result="ok"\\} [1-9]`, 'm'));
  assert.match(a.log(), /"hook failed"/);
  assert.match(a.log(), /"hook timed out: killing its process group"/);

  // the CLI: a table, and --json; the route needs the admin token
  const noToken = await fetch(`${a.api}/v1/hooks`);
  assert.equal(noToken.status, 401);
  const table = await cli(['hooks', '--api', a.api, '--data-dir', dataDir]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /HOOK/);
  assert.match(table.stdout, new RegExp(`${fail}\\s`));
  const json = await cli(['hooks', '--json', '--api', a.api, '--data-dir', dataDir]);
  assert.equal(json.code, 0, json.stderr);
  assert.equal(JSON.parse(json.stdout).hooks.length, 3);
  assert.equal(a.running, true, 'the agent carries on');

  // a stopping agent kills the hook runs it has going, with what they started (a killed one cannot)
  assert.equal(await a.stop('SIGTERM'), 0);
  const started = (await readFile(hangPids, 'utf8')).trim().split(/\s+/).map(Number);
  await waitFor('every hang run and its sleep gone', () => started.every((pid) => !pidAlive(pid)), 5000);
});
