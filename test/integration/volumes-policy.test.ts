/**
 * A volume's own snapshot interval (issue 13, `warren volume policy`) on one real agent whose
 * default is 3 s: two writers' volumes; one set to 1 s over the API is snapshotted about every
 * second, the other set to 1 h through the CLI gets no automatic snapshot while `warren volume
 * snapshot` still takes one; bad input is a 400 naming the field, an unknown volume a 404, a bad
 * flag one clear line; `volume inspect` shows the policy; `--reset` is every default again, and
 * `volume rm` deletes the policy record with the volume.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cli, cleanupAll, etcdClientOf, startAgent, type AgentHandle } from '../helpers/agents.ts';
import { ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { adminHeaders, postService } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const IP = '127.76.13.1';
const FAST = 'vpol-fast';
const SLOW = 'vpol-slow';
const vol = (service: string) => `${service}_data`;
const WRITER = 'while :; do date >> /data/log; busybox usleep 200000; done';
let agent: AgentHandle;

before(async () => {
  await ensureHttpdImage();
  agent = await startAgent({ bind: IP, args: ['--open', '--snapshot-interval-ms', '3000'] });
  await waitFor('the agent serving /v1/services', async () => (await fetch(`${agent.api}/v1/services`).catch(() => undefined))?.status === 200, 60_000, 100);
});

after(async () => {
  await cleanupAll();
});

const admin = () => ['--data-dir', agent.dataDir, '--api', agent.api];

async function snapshotTimes(volume: string): Promise<number[]> {
  const res = await fetch(`${agent.api}/v1/volumes/${volume}/snapshots`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) return [];
  return ((await res.json()) as { snapshots: { time: number }[] }).snapshots.map((s) => s.time).sort((a, b) => a - b);
}

async function putPolicy(volume: string, body: string, auth = true): Promise<{ status: number; body: any }> {
  const headers = auth ? await adminHeaders(agent) : { 'content-type': 'application/json' };
  const res = await fetch(`${agent.api}/v1/volumes/${volume}/policy`, { method: 'PUT', headers, body, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.json() };
}

test('a volume\'s own interval: 1 s over the API, 1 h through the CLI, the default untouched; bad input refused', { timeout: 120_000 }, async () => {
  for (const name of [FAST, SLOW]) {
    const created = await postService(agent, { name, image: HTTPD_IMAGE, command: ['sh', '-c', WRITER], volumes: ['data:/data'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
  await waitFor('both volumes snapshotted on the default', async () => (await snapshotTimes(vol(FAST))).length > 0 && (await snapshotTimes(vol(SLOW))).length > 0, 60_000, 200);

  // no record: every field is the default
  const plain = await (await fetch(`${agent.api}/v1/volumes/${vol(FAST)}/policy`)).json() as any;
  assert.equal(plain.policy.intervalMs, 3000);
  assert.deepEqual(plain.policy.retention, { keepAllWithinMs: 600_000, hourly: 24, daily: 7, weekly: 4, monthly: 12 });
  assert.deepEqual(plain.defaults, ['intervalMs', 'retention.keepAllWithinMs', 'retention.hourly', 'retention.daily', 'retention.weekly', 'retention.monthly']);

  // refused: each with the field named, nothing written
  const bad: [string, number, RegExp][] = [
    ['{"intervalMs": 500}', 400, /intervalMs must be .* from 1000 \(1s\) to 86400000 \(24h\) \(got 500\)/],
    ['{"retention": {"hourly": -1}}', 400, /retention\.hourly must be a whole number/],
    ['{"retention": {"yearly": 2}}', 400, /unknown field "retention\.yearly"/],
    ['not json', 400, /the body must be JSON/],
  ];
  for (const [body, status, message] of bad) {
    const r = await putPolicy(vol(FAST), body);
    assert.equal(r.status, status, body);
    assert.match(r.body.error.message, message);
  }
  assert.equal((await putPolicy('vpol-none_data', '{"intervalMs": 5000}')).status, 404);
  assert.equal((await putPolicy(vol(FAST), '{"intervalMs": 5000}', false)).status, 401);
  const flag = await cli([...admin(), 'volume', 'policy', vol(FAST), '--interval', '500ms']);
  assert.notEqual(flag.code, 0);
  assert.match(flag.stderr, /--interval must be a duration from 1s to 24h.*"500ms"/);
  assert.doesNotMatch(flag.stderr, /\n\s+at /, 'no stack trace');

  // set: 1 s over the API, 1 h (and 3 dailies) through the CLI
  const fast = await putPolicy(vol(FAST), '{"intervalMs": 1000}');
  assert.equal(fast.status, 200, JSON.stringify(fast.body));
  assert.equal(fast.body.policy.intervalMs, 1000);
  assert.ok(!fast.body.defaults.includes('intervalMs'));
  const slowSet = await cli([...admin(), 'volume', 'policy', vol(SLOW), '--interval', '1h', '--daily', '3', '--json']);
  assert.equal(slowSet.code, 0, slowSet.stderr);
  const slow = JSON.parse(slowSet.stdout);
  assert.equal(slow.policy.intervalMs, 3_600_000);
  assert.equal(slow.policy.retention.daily, 3);
  assert.deepEqual(slow.defaults, ['retention.keepAllWithinMs', 'retention.hourly', 'retention.weekly', 'retention.monthly']);

  // a cycle of the slow one may have been under way when its policy came: counted from the next fast snapshot on
  const setAt = Date.now();
  await waitFor('a fast snapshot after the policy', async () => (await snapshotTimes(vol(FAST))).some((t) => t > setAt), 10_000, 100);
  const from = Date.now();
  const slowBefore = (await snapshotTimes(vol(SLOW))).length;
  const fastTimes = await waitFor('5 more snapshots of the 1 s volume', async () => {
    const after = (await snapshotTimes(vol(FAST))).filter((t) => t > from);
    return after.length >= 5 ? after : undefined;
  }, 12_000, 200);
  const gaps = fastTimes.slice(1).map((t, i) => t - fastTimes[i]!).sort((a, b) => a - b);
  const median = gaps[Math.floor(gaps.length / 2)]!;
  assert.ok(median >= 700 && median < 2000, `about every second, not every 3 s: gaps ${gaps.join(', ')} ms`);
  assert.deepEqual((await snapshotTimes(vol(SLOW))).filter((t) => t > from), [], `no automatic snapshot of the 1 h volume in ${Date.now() - from} ms`);

  // on demand still works
  const now = await cli([...admin(), 'volume', 'snapshot', vol(SLOW), '--no-wait']);
  assert.equal(now.code, 0, now.stderr);
  assert.equal((await snapshotTimes(vol(SLOW))).length, slowBefore + 1);

  // inspect shows it
  const inspect = await cli(['--api', agent.api, 'volume', 'inspect', vol(SLOW), '--json']);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.equal(JSON.parse(inspect.stdout).volume.policy.policy.intervalMs, 3_600_000);
  const shown = await cli(['--api', agent.api, 'volume', 'inspect', vol(SLOW)]);
  assert.match(shown.stdout, /every 1h; keeps all of the last 10m, then 24 hourly, 3 daily, 4 weekly, 12 monthly/);
  const table = await cli(['--api', agent.api, 'volume', 'policy', vol(SLOW)]);
  assert.match(table.stdout, /interval\s+1h\n/);
  assert.match(table.stdout, /hourly\s+24 \(default\)/);

  // reset: every default again
  const reset = await cli([...admin(), 'volume', 'policy', vol(FAST), '--reset', '--json']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.equal(JSON.parse(reset.stdout).policy.intervalMs, 3000);
  assert.equal(JSON.parse(reset.stdout).defaults.length, 6);

  // the volume removed: its policy record goes with it
  assert.equal((await fetch(`${agent.api}/v1/services/${SLOW}`, { method: 'DELETE', headers: await adminHeaders(agent) })).status, 200);
  const rm = await waitFor('volume rm once the service is gone', async () => {
    const r = await cli([...admin(), 'volume', 'rm', vol(SLOW)]);
    return r.code === 0 ? r : undefined;
  }, 30_000, 250);
  assert.equal(rm.stdout.trim(), vol(SLOW));
  const etcd = await etcdClientOf(agent, [`https://${IP}:7372`]);
  try {
    assert.equal(await etcd.get(`/warren/volume-policy/${vol(SLOW)}`).string(), null);
  } finally {
    etcd.close();
  }
});
