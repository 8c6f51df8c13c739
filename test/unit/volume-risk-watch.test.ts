/** volume.at_risk as the owner's watch emits it (src/runtime/volume-risk.ts): owner only, once up, once down. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { VolumeView } from '../../src/core/volumes/volume-view.ts';
import type { VolumeDriver } from '../../src/runtime/volume-driver.ts';
import { VolumeRiskWatch } from '../../src/runtime/volume-risk.ts';

test('the owner emits volume.at_risk past 3 intervals and once more back under 2; other nodes and service-less volumes never', () => {
  const events: { name: string; payload: Record<string, unknown> }[] = [];
  const meta = (name: string, owner: string, service: string) => ({ value: { name, service, slot: 0, volume: name, owner, epoch: 1, since: 0 } });
  const catalog = {
    maps: { volumeMeta: new Map([['web_data', meta('web_data', 'self', 'web')], ['db_data', meta('db_data', 'other', 'db')], ['copy', meta('copy', 'self', '')]]), volumePolicies: new Map() },
    service: (name: string) => (name ? { name } : undefined),
  };
  const safeAt = new Map<string, number>();
  const driver = { d: { selfId: 'self', catalog, intervalMs: 1000, event: (name: string, payload: Record<string, unknown>) => events.push({ name, payload }), logger: pino({ level: 'silent' }) }, counters: { safeAt } };
  let risk: Record<string, number | null> = {};
  const views = () => Object.entries(risk).map(([name, atRiskMs]) => ({ name, atRiskMs }) as VolumeView);
  const watch = new VolumeRiskWatch(driver as unknown as VolumeDriver, views);

  risk = { web_data: 2000, db_data: 99_000, copy: 99_000 };
  watch.check(10_000, 0);
  assert.equal(events.length, 0);
  risk.web_data = 3500;
  watch.check(11_000, 0);
  watch.check(11_500, 0);
  assert.deepEqual(events, [{ name: 'volume.at_risk', payload: { volume: 'web_data', service: 'web', atRisk: true, atRiskMs: 3500, thresholdMs: 3000, node: 'self' } }]);
  // the owner's own last cycle that reached a peer is the figure when it is lower (an idle volume)
  safeAt.set('web_data', 11_000);
  watch.check(12_000, 0);
  assert.deepEqual(events.at(-1), { name: 'volume.at_risk', payload: { volume: 'web_data', service: 'web', atRisk: false, atRiskMs: 1000, thresholdMs: 3000, node: 'self' } });
  // no second copy at all: everything since the take-over (meta.since = 0) is at risk
  safeAt.clear();
  risk.web_data = null;
  watch.check(20_000, 0);
  assert.equal(events.length, 3);
  assert.equal(events.at(-1)!.payload.atRiskMs, 20_000);
});

test('a volume with its own interval (warren volume policy) is at risk past 3 of its intervals, not the agent\'s', () => {
  const events: Record<string, unknown>[] = [];
  const meta = { value: { name: 'db_data', service: 'db', slot: 0, volume: 'db', owner: 'self', epoch: 1, since: 0 } };
  const volumePolicies = new Map<string, { value: unknown; modRevision: string }>([['db_data', { value: { intervalMs: 10_000 }, modRevision: '1' }]]);
  const catalog = { maps: { volumeMeta: new Map([['db_data', meta]]), volumePolicies }, service: () => ({ name: 'db' }) };
  const driver = { d: { selfId: 'self', catalog, intervalMs: 1000, event: (_: string, payload: Record<string, unknown>) => events.push(payload), logger: pino({ level: 'silent' }) }, counters: { safeAt: new Map() } };
  let atRiskMs = 5000;
  const watch = new VolumeRiskWatch(driver as unknown as VolumeDriver, () => [{ name: 'db_data', atRiskMs } as VolumeView]);
  watch.check(100_000, 0);
  assert.deepEqual(events, [], '5 s is 5 of the agent\'s intervals but half of the volume\'s');
  atRiskMs = 31_000;
  watch.check(100_000, 0);
  assert.deepEqual(events, [{ volume: 'db_data', service: 'db', atRisk: true, atRiskMs: 31_000, thresholdMs: 30_000, node: 'self' }]);
  // back on the defaults: the threshold follows at the next check
  volumePolicies.clear();
  atRiskMs = 2500;
  watch.check(100_000, 0);
  assert.equal(events.length, 1, '2.5 s is not under 2 of the agent intervals');
  atRiskMs = 1500;
  watch.check(100_000, 0);
  assert.deepEqual(events.at(-1), { volume: 'db_data', service: 'db', atRisk: false, atRiskMs: 1500, thresholdMs: 3000, node: 'self' });
});
