import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLUSTER_EVENT_NAMES } from '../../src/core/topics.ts';
import type { CopyRecord, VolumeMeta } from '../../src/core/volumes/volume-records.ts';
import { volumeView } from '../../src/core/volumes/volume-view.ts';
import type { SnapshotListItem } from '../../src/runtime/volume-api.ts';
import { ageNow, changesSnapshots, changesVolumes, cloneErrorField, HIGH_RISK_MS, memberKey, newestFirst, nodeState, riskLevel, riskText, snapshotId, whenText } from '../../src/ui/volume-model.ts';
import { prng } from '../helpers/prng.ts';
import { apiErrorField, fieldText, formToRecord, policyFormValues } from '../../src/ui/volume-policy-model.ts';
import { checkPolicy } from '../../src/core/volumes/volume-policy.ts';

test('the volumes list is read again after every volume, node and service event (the ones issue 13 adds too), and after no other', () => {
  const yes = [...CLUSTER_EVENT_NAMES.filter((n) => /^(volume|node|service)\./.test(n)), 'volume.restored', 'volume.at_risk'];
  for (const name of yes) assert.equal(changesVolumes({ name }), true, name);
  // every cluster event that can change a volume's view is among them: owners follow services, liveness follows nodes
  assert.ok(yes.includes('volume.snapshot') && yes.includes('volume.replicated') && yes.includes('node.dead') && yes.includes('service.moved'));
  for (const name of ['stack.deployed', 'stack.removed', 'volumes.backup', 'my-app.volume.x', 'nodes.x']) assert.equal(changesVolumes({ name }), false, name);
});

test("a volume's snapshot list is read again only after an event about that volume", () => {
  assert.equal(changesSnapshots({ name: 'volume.snapshot', payload: { volume: 'web_data' } }, 'web_data'), true);
  assert.equal(changesSnapshots({ name: 'volume.replicated', payload: { volume: 'web_data' } }, 'web_data'), true);
  assert.equal(changesSnapshots({ name: 'volume.restored', payload: { volume: 'web_data' } }, 'web_data'), true);
  assert.equal(changesSnapshots({ name: 'volume.snapshot', payload: { volume: 'web_data_1' } }, 'web_data'), false);
  assert.equal(changesSnapshots({ name: 'service.moved', payload: { volume: 'web_data' } }, 'web_data'), false);
  assert.equal(changesSnapshots({ name: 'volume.snapshot', payload: null }, 'web_data'), false);
  assert.equal(changesSnapshots({ name: 'volume.snapshot', payload: 'web_data' }, 'web_data'), false);
});

test("the members' key changes with any member's state and with nothing else (order, other fields)", () => {
  const rand = prng(15);
  const states = ['alive', 'suspect', 'dead', 'left'] as const;
  for (let round = 0; round < 200; round++) {
    const members = Array.from({ length: 1 + Math.floor(rand() * 5) }, (_, i) => ({ id: `id${i}`, state: states[Math.floor(rand() * 4)]!, load: rand() }));
    const shuffled = [...members].sort(() => rand() - 0.5).map((m) => ({ ...m, load: rand() }));
    assert.equal(memberKey(shuffled), memberKey(members));
    const i = Math.floor(rand() * members.length);
    const changed = members.map((m, j) => (j === i ? { ...m, state: states[(states.indexOf(m.state) + 1) % 4]! } : m));
    assert.notEqual(memberKey(changed), memberKey(members));
  }
});

const meta = (owner: string): VolumeMeta => ({ name: 'web_data', service: 'web', slot: 0, volume: 'data', owner, epoch: 1, since: 0 });
const copy = (node: string, seq: number, createdAt: number): CopyRecord => ({ volume: 'web_data', node, snapshot: `${seq}-x`, seq, epoch: 1, createdAt, sizeBytes: 10, applied: true, updatedAt: createdAt });
const nodes = (...alive: boolean[]) => new Map(alive.map((a, i) => [`n${i}`, { name: `node${i}`, alive: a }]));

test("data at risk as the agent's view gives it: all while one live node holds a copy, high from 30 s, seconds below a minute", () => {
  const now = 1_000_000;
  const one = volumeView(meta('n0'), [copy('n0', 5, now - 1000)], nodes(true, true), now);
  assert.equal(riskLevel(one.atRiskMs), 'high');
  assert.equal(riskText(one.atRiskMs), 'all (no second copy yet)');
  const two = volumeView(meta('n0'), [copy('n0', 5, now - 1000), copy('n1', 4, now - 3000)], nodes(true, true), now);
  assert.equal(two.atRiskMs, 3000);
  assert.equal(riskLevel(two.atRiskMs), 'ok');
  assert.equal(riskText(two.atRiskMs), '3.0 s');
  // the second copy's node died: all at risk again
  assert.equal(riskLevel(volumeView(meta('n0'), [copy('n0', 5, now - 1000), copy('n1', 4, now - 3000)], nodes(true, false), now).atRiskMs), 'high');
  assert.equal(riskLevel(HIGH_RISK_MS - 1), 'ok');
  assert.equal(riskLevel(HIGH_RISK_MS), 'high');
  assert.equal(riskText(59_949), '59.9 s');
  assert.equal(riskText(90_000), '1m');
  assert.equal(riskText(2 * 3600_000), '2h');
});

test('ages and data at risk grow from when the API answered until the next answer', () => {
  assert.equal(ageNow(2000, 10_000, 10_000), 2000);
  assert.equal(ageNow(2000, 10_000, 15_500), 7500);
  assert.equal(ageNow(2000, 10_000, 9_000), 2000, 'a clock step back never shrinks an age');
  assert.equal(riskLevel(ageNow(25_000, 0, 5_000)), 'high');
});

test("a copy's node shows as the page's members see it", () => {
  const members = [{ name: 'nas', state: 'alive' as const }, { name: 'pi', state: 'dead' as const }];
  assert.equal(nodeState(members, 'nas'), 'alive');
  assert.equal(nodeState(members, 'pi'), 'dead');
  assert.equal(nodeState(members, 'gone'), 'unknown');
});

test('snapshots are listed newest first: by epoch (a take-over or restore), then by sequence', () => {
  const s = (id: string, epoch: number, seq: number): SnapshotListItem => ({ id, epoch, seq, time: 0, sizeBytes: 0, newBytes: 0, pauseMs: 0, copies: 0 });
  const list = [s('a', 1, 3), s('b', 2, 1), s('c', 1, 9), s('d', 2, 2)];
  assert.deepEqual(newestFirst(list).map((x) => x.id), ['d', 'b', 'c', 'a']);
  assert.deepEqual(list.map((x) => x.id), ['a', 'b', 'c', 'd'], 'the list it was given is left as it was');
});

test("snapshot times: today's with the time, older with the date; both with how long ago", () => {
  const now = new Date(2026, 11, 3, 20, 0, 0).getTime();
  assert.match(whenText(now - 5 * 60_000, now), /\(5m ago\)$/);
  const old = whenText(now - 3 * 86400_000, now);
  assert.match(old, /\(3d ago\)$/);
  assert.ok(old.includes(new Date(now - 3 * 86400_000).toLocaleDateString()), old);
});

test("a restore's answer names snapshots by id, or as records with one", () => {
  assert.equal(snapshotId('000012-ab'), '000012-ab');
  assert.equal(snapshotId({ id: '000013-cd', seq: 13 }), '000013-cd');
  assert.equal(snapshotId(undefined), '?');
  assert.equal(snapshotId({ seq: 1 }), '?');
});

test("a clone's refusal about the new name shows on the name field, anything else on the form", () => {
  assert.equal(cloneErrorField('bad_request', 'name must be lowercase letters, digits, - and _'), 'name');
  assert.equal(cloneErrorField('volume_exists', 'there is already a volume web_copy'), 'name');
  assert.equal(cloneErrorField('conflict', 'web_copy was created meanwhile'), 'name');
  assert.equal(cloneErrorField('not_found', 'no route POST /v1/volumes/web_data/clone'), 'form');
  assert.equal(cloneErrorField('no_snapshot', 'volume web_data has no snapshot 000001-aa'), 'form');
});

test('the policy form: opens on what the volume sets (blank: default), sends the same record the CLI flags make, names the wrong field', () => {
  const view = { volume: 'v', policy: { intervalMs: 30_000, retention: { keepAllWithinMs: 600_000, hourly: 24, daily: 14, weekly: 4, monthly: 12 } }, defaults: ['retention.keepAllWithinMs', 'retention.hourly', 'retention.weekly', 'retention.monthly'] };
  assert.deepEqual(policyFormValues(view), { interval: '30s', keepWithin: '', hourly: '', daily: '14', weekly: '', monthly: '' });
  assert.deepEqual(fieldText(view, 'keepWithin'), { text: '10m', isDefault: true });
  assert.deepEqual(fieldText(view, 'daily'), { text: '14', isDefault: false });
  const blank = { interval: '', keepWithin: '', hourly: '', daily: '', weekly: '', monthly: '' };
  assert.deepEqual(formToRecord(blank), { record: {} });
  assert.deepEqual(formToRecord(policyFormValues(view)), { record: { intervalMs: 30_000, retention: { daily: 14 } } });
  assert.deepEqual(formToRecord({ ...blank, interval: ' 1h30m ', keepWithin: '0', monthly: '0' }), { record: { intervalMs: 5_400_000, retention: { keepAllWithinMs: 0, monthly: 0 } } });
  assert.deepEqual(formToRecord({ ...blank, interval: '500ms' }), { field: 'interval', message: 'must be a duration from 1s to 24h such as 30s, 5m or 1h (blank: the default), got "500ms"' });
  assert.deepEqual(formToRecord({ ...blank, keepWithin: 'soon' }), { field: 'keepWithin', message: 'must be a duration such as 10m, 1h or 7d, or 0 (blank: the default), got "soon"' });
  const weekly = formToRecord({ ...blank, weekly: '-1' });
  assert.ok('field' in weekly && weekly.field === 'weekly', JSON.stringify(weekly));
  // every record the form sends passes the agent's own check
  for (const values of [blank, policyFormValues(view), { ...blank, interval: '24h', hourly: '10000' }]) {
    const r = formToRecord(values);
    assert.ok('record' in r && checkPolicy(r.record).ok);
  }
  assert.equal(apiErrorField('intervalMs must be a whole number of milliseconds from 1000 (1s)'), 'interval');
  assert.equal(apiErrorField('retention.keepAllWithinMs must be ...'), 'keepWithin');
  assert.equal(apiErrorField('retention.daily must be ...'), 'daily');
  assert.equal(apiErrorField('the policy must be a JSON object'), 'form');
});
