/** The pure parts of restore/clone/export and volume.at_risk: where an operation runs, the at-risk alarm, NAME@SNAPSHOT. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRisk, CLEAR_RATIO, riskOf, type RiskChange } from '../../src/core/volumes/at-risk-alarm.ts';
import { opsRoute } from '../../src/core/volumes/ops-route.ts';
import type { CopyRecord } from '../../src/core/volumes/volume-records.ts';
import { parseVolumeRef, progress } from '../../src/cli/volume-ops-commands.ts';
import { prng } from '../helpers/prng.ts';
import { waitFor } from '../helpers/wait.ts';
import { renderTransfers, showTransfers } from '../../src/cli/transfer-progress.ts';
import type { ApiClient } from '../../src/cli/client.ts';
import { PushLedger } from '../../src/runtime/volume-replicate.ts';

const copy = (node: string, snapshot: string, seq: number, epoch = 1): CopyRecord => ({ volume: 'v', node, snapshot, seq, epoch, createdAt: 0, sizeBytes: 0, applied: true, updatedAt: 0 });

test('ops route: a restore runs on the owner only, dead or alive; without an owner it goes where the data is', () => {
  const copies = [copy('a', 's2', 2), copy('b', 's3', 3), copy('c', 's3', 3)];
  assert.deepEqual(opsRoute({ kind: 'restore', self: 'x', owner: 'b', selfHolds: true, snapshot: 's1', copies, alive: () => false }), ['b']);
  assert.deepEqual(opsRoute({ kind: 'restore', self: 'x', owner: '', selfHolds: false, snapshot: 's2', copies, alive: () => true }), ['a', 'b', 'c']);
});

test('ops route: a read prefers this node when it holds the snapshot, then the live owner, then copies of that snapshot, then the newest', () => {
  const copies = [copy('a', 's2', 2), copy('b', 's3', 3), copy('c', 's1', 1), copy('d', 's4', 1, 2)];
  const alive = (n: string) => n !== 'd';
  assert.deepEqual(opsRoute({ kind: 'read', self: 'x', owner: 'o', selfHolds: true, snapshot: 's1', copies, alive: (n) => n === 'o' || alive(n) }), ['x', 'o', 'c', 'b', 'a']);
  // the owner is down: the copies, newest (epoch, seq) first; a dead node's copy is never tried
  assert.deepEqual(opsRoute({ kind: 'read', self: 'x', owner: 'o', selfHolds: false, copies, alive: (n) => n !== 'o' && alive(n) }), ['b', 'a', 'c']);
  // this node's own copy counts even if gossip does not list it alive
  assert.deepEqual(opsRoute({ kind: 'read', self: 'c', owner: '', selfHolds: false, snapshot: 's1', copies, alive: () => false }), ['c']);
  assert.deepEqual(opsRoute({ kind: 'read', self: 'x', selfHolds: false, copies: [], alive }), []);
});

test('ops route, randomized: every node listed once, only live ones (or this one), the owner right after this node', () => {
  const rand = prng(13);
  for (let round = 0; round < 2000; round++) {
    const nodes = ['a', 'b', 'c', 'd', 'e'].slice(0, 1 + Math.floor(rand() * 5));
    const live = new Set(nodes.filter(() => rand() < 0.7));
    const copies = nodes.filter(() => rand() < 0.6).map((n) => copy(n, `s${Math.floor(rand() * 3)}`, Math.floor(rand() * 4), 1 + Math.floor(rand() * 2)));
    const self = nodes[Math.floor(rand() * nodes.length)]!;
    const owner = rand() < 0.5 ? nodes[Math.floor(rand() * nodes.length)] : undefined;
    const selfHolds = rand() < 0.5;
    const kind = rand() < 0.3 ? 'restore' as const : 'read' as const;
    const order = opsRoute({ kind, self, owner, selfHolds, snapshot: 's1', copies, alive: (n) => live.has(n) });
    assert.equal(new Set(order).size, order.length);
    if (kind === 'restore' && owner) {
      assert.deepEqual(order, [owner]);
      continue;
    }
    for (const n of order) assert.ok(n === self || live.has(n), `${n} is down`);
    if (selfHolds) assert.equal(order[0], self);
    if (owner && (owner === self || live.has(owner))) assert.equal(order.indexOf(owner), selfHolds && owner !== self ? 1 : 0);
    for (const c of copies) if (c.node === self || live.has(c.node)) assert.ok(order.includes(c.node), `live holder ${c.node} missing`);
  }
});

test('at-risk alarm: one event up, one down, none while it hovers near the threshold', () => {
  const raised = new Set<string>();
  const at = (riskMs: number) => checkRisk(raised, [{ volume: 'v', riskMs, thresholdMs: 3000 }]);
  assert.deepEqual(at(1000), []);
  assert.deepEqual(at(3000), []);
  assert.deepEqual(at(3001), [{ volume: 'v', atRisk: true, riskMs: 3001, thresholdMs: 3000 }]);
  assert.deepEqual(at(9000), []);
  assert.deepEqual(at(2500), []); // under the threshold, above the clear point
  assert.deepEqual(at(3500), []);
  assert.deepEqual(at(2000), [{ volume: 'v', atRisk: false, riskMs: 2000, thresholdMs: 3000 }]);
  assert.deepEqual(at(2900), []);
  // a volume that is no longer watched here is forgotten without an event
  at(5000);
  assert.deepEqual(checkRisk(raised, []), []);
  assert.equal(raised.size, 0);
});

test('at-risk alarm, randomized: events alternate up/down per volume and match crossings of the two bounds', () => {
  const rand = prng(7);
  const raised = new Set<string>();
  const last = new Map<string, boolean>();
  let events = 0;
  for (let step = 0; step < 20_000; step++) {
    const samples = ['a', 'b', 'c'].filter(() => rand() < 0.9).map((volume) => ({ volume, riskMs: rand() * 10_000, thresholdMs: 4000 }));
    const before = new Set(raised);
    const out: RiskChange[] = checkRisk(raised, samples);
    events += out.length;
    for (const s of samples) {
      const e = out.find((x) => x.volume === s.volume);
      const was = before.has(s.volume);
      if (!was) assert.equal(!!e, s.riskMs > 4000);
      else assert.equal(!!e, s.riskMs <= 4000 * CLEAR_RATIO);
      if (e) {
        // a volume forgotten (not watched) starts over: its next event is an up
        if (last.has(s.volume) && before.has(s.volume)) assert.notEqual(last.get(s.volume), e.atRisk);
        last.set(s.volume, e.atRisk);
      }
    }
    for (const v of raised) assert.ok(samples.some((s) => s.volume === v));
  }
  assert.ok(events > 100, `${events} events`);
});

test('riskOf: the view figure, or everything since the owner took the volume while no peer holds any of it', () => {
  assert.equal(riskOf(1200, 0, 10_000), 1200);
  assert.equal(riskOf(null, 4000, 10_000), 6000);
  assert.equal(riskOf(null, 12_000, 10_000), 0);
});

test('NAME@SNAPSHOT', () => {
  assert.deepEqual(parseVolumeRef('web_data'), { name: 'web_data' });
  assert.deepEqual(parseVolumeRef('web_data@000012-1a2b3c4d'), { name: 'web_data', snapshot: '000012-1a2b3c4d' });
  assert.throws(() => parseVolumeRef('web_data@'), /NAME or NAME@SNAPSHOT/);
  assert.throws(() => parseVolumeRef('@x'), /NAME or NAME@SNAPSHOT/);
});

test('progress passes every byte through and writes nothing when stderr is no terminal', async () => {
  const written: string[] = [];
  const out = { isTTY: false, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
  const t = progress('x', 10, out);
  const got: Buffer[] = [];
  t.on('data', (b: Buffer) => got.push(b));
  const done = new Promise((r) => t.on('end', r));
  t.end(Buffer.from('0123456789'));
  await done;
  assert.equal(Buffer.concat(got).toString(), '0123456789');
  assert.deepEqual(written, []);
  const tty: string[] = [];
  const t2 = progress('importing v', 10, { isTTY: true, write: (s: string) => tty.push(s) } as unknown as NodeJS.WriteStream);
  t2.resume();
  const done2 = new Promise((r) => t2.on('end', r));
  t2.end(Buffer.from('0123456789'));
  await done2;
  assert.match(tty.at(-1)!, /importing v: 10 ?B of ~10 ?B \(100%\)/);
});

test('transfers: one line of each peer\'s bytes sent of those asked for', () => {
  assert.equal(renderTransfers([]), 'sending to its peers...');
  assert.equal(renderTransfers([{ name: 'n2', sentBytes: 3 * 2 ** 20, totalBytes: 40 * 2 ** 20 }, { name: 'n3', sentBytes: 0, totalBytes: 0 }]), 'sending to n2 3.0 MiB of 40 MiB (7%), n3 0 B of 0 B');
  assert.equal(renderTransfers([{ name: 'n2', sentBytes: 2, totalBytes: 1 }]), 'sending to n2 2 B of 1 B (100%)');
});

test('showTransfers asks the agent and redraws one line on a terminal; nothing, and no asking, otherwise', async () => {
  let asked = 0;
  const client = { get: async () => (asked++, { transfers: [{ name: 'n2', sentBytes: 512, totalBytes: 1024 }] }) } as unknown as ApiClient;
  const quiet: string[] = [];
  const stopQuiet = showTransfers(client, 'v', { isTTY: false, write: (s: string) => quiet.push(s) } as unknown as NodeJS.WriteStream, 5);
  const tty: string[] = [];
  const stop = showTransfers(client, 'v', { isTTY: true, write: (s: string) => tty.push(s) } as unknown as NodeJS.WriteStream, 5);
  await waitFor('two redraws', () => tty.length >= 2, 5000, 5);
  stop();
  stopQuiet();
  assert.ok(tty.slice(0, -1).every((l) => l === '\rsending to n2 512 B of 1.0 KiB (50%)\x1b[K'), JSON.stringify(tty));
  assert.equal(tty.at(-1), '\r\x1b[K', 'the line is cleared at the end');
  assert.deepEqual(quiet, []);
  const after = asked;
  await new Promise((r) => setTimeout(r, 30)); // several intervals: none may ask again once stopped
  assert.equal(asked, after);
});

test('PushLedger lists a push while it runs, with its figures, and drops it when it ends or fails', async () => {
  const ledger = new PushLedger();
  const t = { node: 'id2', name: 'n2', snapshot: 's1', sentBytes: 0, totalBytes: 0, startedAt: 1 };
  let release!: () => void;
  const running = ledger.track('v', t, async (progress) => {
    progress(10, 100);
    await new Promise<void>((r) => (release = r));
    return 'done';
  });
  assert.deepEqual(ledger.transfers('v'), [{ ...t, sentBytes: 10, totalBytes: 100 }]);
  assert.deepEqual(ledger.transfers('other'), []);
  const failing = ledger.track('v', { ...t, node: 'id3' }, async () => {
    throw new Error('cut');
  });
  await assert.rejects(failing, /cut/);
  assert.deepEqual(ledger.transfers('v').map((x) => x.node), ['id2']);
  release();
  assert.equal(await running, 'done');
  assert.deepEqual(ledger.transfers('v'), []);
});
