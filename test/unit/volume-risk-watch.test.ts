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
    maps: { volumeMeta: new Map([['web_data', meta('web_data', 'self', 'web')], ['db_data', meta('db_data', 'other', 'db')], ['copy', meta('copy', 'self', '')]]) },
    service: (name: string) => (name ? { name } : undefined),
  };
  const safeAt = new Map<string, number>();
  const driver = { d: { selfId: 'self', catalog, intervalMs: 1000, event: (name: string, payload: Record<string, unknown>) => events.push({ name, payload }), logger: pino({ level: 'silent' }) }, counters: { safeAt } };
  let risk: Record<string, number | null> = {};
  const views = () => Object.entries(risk).map(([name, atRiskMs]) => ({ name, atRiskMs }) as VolumeView);
  const watch = new VolumeRiskWatch(driver as unknown as VolumeDriver, views);

  risk = { web_data: 2000, db_data: 99_000, copy: 99_000 };
  watch.check(10_000);
  assert.equal(events.length, 0);
  risk.web_data = 3500;
  watch.check(11_000);
  watch.check(11_500);
  assert.deepEqual(events, [{ name: 'volume.at_risk', payload: { volume: 'web_data', service: 'web', atRisk: true, atRiskMs: 3500, thresholdMs: 3000, node: 'self' } }]);
  // the owner's own last cycle that reached a peer is the figure when it is lower (an idle volume)
  safeAt.set('web_data', 11_000);
  watch.check(12_000);
  assert.deepEqual(events.at(-1), { name: 'volume.at_risk', payload: { volume: 'web_data', service: 'web', atRisk: false, atRiskMs: 1000, thresholdMs: 3000, node: 'self' } });
  // no second copy at all: everything since the take-over (meta.since = 0) is at risk
  safeAt.clear();
  risk.web_data = null;
  watch.check(20_000);
  assert.equal(events.length, 3);
  assert.equal(events.at(-1)!.payload.atRiskMs, 20_000);
});
