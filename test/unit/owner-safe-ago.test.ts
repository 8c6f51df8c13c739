/** The owner safe-ago rule (src/core/volumes/owner-safe-ago.ts) that `volume ls`, /metrics, heartbeats and the at-risk watch share. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ownerSafeAgoMs, type SafeAgoSources, type VolumeWord } from '../../src/core/volumes/owner-safe-ago.ts';
import { volumeView, type ViewNode } from '../../src/core/volumes/volume-view.ts';
import type { CopyRecord, VolumeMeta } from '../../src/core/volumes/volume-records.ts';

const NOW = 100_000;
const sources = (own: Record<string, number>, words: Record<string, VolumeWord>): SafeAgoSources => ({
  self: 'me',
  now: NOW,
  ownSafeAt: (v) => own[v],
  heard: (n) => words[n],
});

test('a volume without an owner (a clone, an import) is at 0 whatever anyone said', () => {
  const s = sources({ v: NOW - 9000 }, { other: { safeAgoMs: { v: 5000 }, heardAgoMs: 1000 } });
  assert.equal(ownerSafeAgoMs('v', '', s), 0);
  assert.equal(ownerSafeAgoMs('v', undefined, s), 0);
});

test('owned here: since the own last cycle a peer holds; none yet: no word; a safeAt ahead of the clock is 0', () => {
  const s = sources({ fresh: NOW - 250, old: NOW - 60_000, ahead: NOW + 40 }, {});
  assert.equal(ownerSafeAgoMs('fresh', 'me', s), 250);
  assert.equal(ownerSafeAgoMs('old', 'me', s), 60_000);
  assert.equal(ownerSafeAgoMs('ahead', 'me', s), 0);
  assert.equal(ownerSafeAgoMs('never', 'me', s), undefined);
});

test('owned elsewhere, alive with a fresh snapshot: its heartbeat figure plus the time since the heartbeat', () => {
  const s = sources({}, { owner: { safeAgoMs: { v: 300, idle: 0 }, heardAgoMs: 200 } });
  assert.equal(ownerSafeAgoMs('v', 'owner', s), 500);
  assert.equal(ownerSafeAgoMs('idle', 'owner', s), 200);
});

test('owned elsewhere, heartbeat stale or owner dead: the last word keeps ageing with the silence (liveness is no input)', () => {
  const word = (heardAgoMs: number) => sources({}, { owner: { safeAgoMs: { v: 300 }, heardAgoMs } });
  assert.equal(ownerSafeAgoMs('v', 'owner', word(4000)), 4300);
  // a dead owner's last word from a minute ago: a minute of writes may be lost
  assert.equal(ownerSafeAgoMs('v', 'owner', word(60_000)), 60_300);
  // a negative age (clock step) never lowers the figure below what was said
  assert.equal(ownerSafeAgoMs('v', 'owner', word(-500)), 300);
});

test('owned elsewhere without a word on the volume: undefined (an older agent, another volume, a prototype name)', () => {
  const s = sources({ v: NOW - 10 }, { owner: { safeAgoMs: { other: 10 }, heardAgoMs: 0 } });
  assert.equal(ownerSafeAgoMs('v', 'owner', s), undefined, 'this node\'s own figure is not the owner\'s');
  assert.equal(ownerSafeAgoMs('v', 'silent', s), undefined);
  assert.equal(ownerSafeAgoMs('constructor', 'owner', s), undefined);
  assert.equal(ownerSafeAgoMs('__proto__', 'owner', s), undefined);
});

test('the view takes the rule as a bound on its copies\' figure, never as a figure of its own', () => {
  const meta: VolumeMeta = { name: 'v', service: 'web', slot: 0, volume: 'data', owner: 'a', epoch: 1, since: 0 };
  const copy = (node: string, seq: number, createdAt: number): CopyRecord => ({ volume: 'v', node, snapshot: `s${seq}`, seq, epoch: 1, createdAt, sizeBytes: 1, applied: true, updatedAt: 0 });
  const nodes = (aAlive: boolean) => new Map<string, ViewNode>([['a', { name: 'na', alive: aAlive }], ['b', { name: 'nb', alive: true }], ['c', { name: 'nc', alive: true }]]);
  const copies = [copy('a', 3, NOW - 1000), copy('b', 2, NOW - 8000), copy('c', 1, NOW - 9000)];
  const word = (heardAgoMs: number) => ownerSafeAgoMs('v', 'a', sources({}, { a: { safeAgoMs: { v: 100 }, heardAgoMs } }));
  // alive owner, idle volume: its word (0.6 s) is lower than the second-newest copy's age (8 s)
  assert.equal(volumeView(meta, copies, nodes(true), NOW, word(500)).atRiskMs, 600);
  // dead owner, silent for 20 s: the copies on b and c (9 s) are the figure
  assert.equal(volumeView(meta, copies, nodes(false), NOW, word(20_000)).atRiskMs, 9000);
  // no second live copy: null, whatever the owner said
  assert.equal(volumeView(meta, [copies[0]!], nodes(true), NOW, word(0)).atRiskMs, null);
});

test('heartbeats carry the rule\'s figure for the volumes owned here, and only those', async () => {
  const { ownedSafeAgoMs } = await import('../../src/runtime/volume-risk.ts');
  const meta = (owner: string) => ({ value: { owner } });
  const driver = {
    counters: { safeAt: new Map([['mine', NOW - 700], ['moved', NOW - 10], ['gone', NOW - 20]]) },
    d: { catalog: { maps: { volumeMeta: new Map([['mine', meta('me')], ['moved', meta('other')]]) } } },
  };
  assert.deepEqual(ownedSafeAgoMs(driver as never, 'me', NOW, 0), { mine: 700 });
});
