/**
 * The chunk scrub (issue 13: "a periodic scrub re-hashes stored chunks and repairs a bad one from
 * a peer"), on 2 real agents. A bit flipped in a chunk on the peer's disk (as bit rot would) is
 * found by `warren volume scrub` and fetched again from the owner; a chunk bad on both nodes
 * cannot be, so it is reported (exit 1) and dropped on both, and the owner's next snapshot, which
 * reads the file holding it again, stores it anew and sends it on: every snapshot is whole again.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cli, cleanupAll, WARREN_BIN, type AgentHandle } from '../helpers/agents.ts';
import { ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { postService, startCluster } from '../helpers/services.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const IPS = ['127.78.13.1', '127.78.13.2'];
const SERVICE = 'vscrub-app';
const VOLUME = `${SERVICE}_data`;
let agents: AgentHandle[] = [];
let ids: string[] = [];

before(async () => {
  await ensureHttpdImage();
  ({ agents, ids } = await startCluster(IPS, ['--snapshot-interval-ms', '1000']));
});

after(async () => {
  await cleanupAll();
  await removeNodesDocker(ids);
});

interface IndexRec { hash: string; pack: number; offset: number; size: number }

/** The agent's chunk index as its file holds it (48-byte records; a later record of a hash wins). */
function chunkIndex(a: AgentHandle): Map<string, IndexRec> {
  const buf = readFileSync(join(a.dataDir, 'volume-store', 'chunks', 'index'));
  const out = new Map<string, IndexRec>();
  for (let at = 0; at + 48 <= buf.length; at += 48) {
    const hash = buf.subarray(at, at + 32).toString('hex');
    out.set(hash, { hash, pack: buf.readUInt32LE(at + 32), offset: Number(buf.readBigUInt64LE(at + 36)), size: buf.readUInt32LE(at + 44) });
  }
  return out;
}

/** Flips one bit of the chunk's bytes in its pack, as a failing disk would. */
function rot(a: AgentHandle, rec: IndexRec): void {
  const fd = openSync(join(a.dataDir, 'volume-store', 'chunks', 'packs', `${String(rec.pack).padStart(8, '0')}.pack`), 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, rec.offset + 7);
  writeSync(fd, Buffer.from([b[0]! ^ 0x01]), 0, 1, rec.offset + 7);
  closeSync(fd);
}

async function scrub(a: AgentHandle): Promise<{ code: number; stderr: string; report: { checked: number; bad: number; repaired: number; unrepaired: string[] } }> {
  const r = await cli(['--data-dir', a.dataDir, '--api', a.api, 'volume', 'scrub', '--json']);
  return { code: r.code, stderr: r.stderr, report: JSON.parse(r.stdout) };
}

test('a rotten chunk is found by the scrub and fetched again from a peer; one rotten everywhere is reported, then stored again by the next snapshot', { timeout: 180_000 }, async () => {
  const made = await postService(agents[0]!, { name: SERVICE, image: HTTPD_IMAGE, command: ['sh', '-c', 'head -c 300000 /dev/urandom > /data/blob; echo hi > /data/small; exec sleep 1000000'], volumes: ['data:/data'] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const v = await waitFor('the volume on both nodes, applied', async () => {
    const r = await cli(['--api', agents[0]!.api, 'volume', 'ls', '--json']);
    const x = r.code === 0 ? (JSON.parse(r.stdout) as { volumes: { name: string; node: string; copies: { applied: boolean; snapshot: string }[] }[] }).volumes.find((y) => y.name === VOLUME) : undefined;
    return x && x.copies.length === 2 && x.copies.every((c) => c.applied && c.snapshot === x.copies[0]!.snapshot) ? x : undefined;
  }, 90_000, 250);
  const owner = agents.find((a) => a.bind.endsWith(`.${v.node.slice(1)}`))!;
  const peer = agents.find((a) => a !== owner)!;
  // a snapshot holding the blob, applied on the peer (the first one may be of the empty volume)
  const peerCopy = async () => {
    const r = await cli(['--api', owner.api, 'volume', 'ls', '--json']);
    const x = (JSON.parse(r.stdout) as { volumes: { name: string; copies: { node: string; applied: boolean; snapshot: string }[] }[] }).volumes.find((y) => y.name === VOLUME);
    const mine = x?.copies.find((c) => c.node !== v.node);
    return mine?.applied ? mine.snapshot : undefined;
  };
  // the peer's tree is the snapshot's only if the same one was applied before and after it was
  // looked at (a newer one applied in between would make an older snapshot look like it held the blob)
  const first = await waitFor('the blob in a snapshot on the peer', async () => {
    const before = await peerCopy();
    const blob = statSync(join(peer.dataDir, 'volume-data', VOLUME, 'blob'), { throwIfNoEntry: false })?.size === 300_000;
    return before !== undefined && blob && (await peerCopy()) === before ? before : undefined;
  }, 30_000, 200);

  // nothing wrong yet
  const clean = await scrub(peer);
  assert.equal(clean.code, 0, clean.stderr);
  assert.equal(clean.report.bad, 0);
  assert.equal(clean.report.checked, chunkIndex(peer).size);

  // data chunks (the manifest of a 3-entry tree is far smaller): one rots on the peer alone
  const data = [...chunkIndex(peer).values()].filter((r) => r.size >= 2048 && chunkIndex(owner).has(r.hash));
  assert.ok(data.length >= 2, `${data.length} data chunks`);
  rot(peer, data[0]!);
  const mended = await scrub(peer);
  assert.equal(mended.code, 0, mended.stderr);
  assert.deepEqual([mended.report.bad, mended.report.repaired, mended.report.unrepaired], [1, 1, []]);
  assert.equal((await scrub(peer)).report.bad, 0, 'the fetched copy is good');
  const metrics = await (await fetch(`${peer.api}/metrics`)).text();
  assert.match(metrics, /^warren_volume_scrub_bad_chunks_total 1$/m);
  assert.match(metrics, /^warren_volume_scrub_repaired_chunks_total 1$/m);
  const human = await cli(['--data-dir', peer.dataDir, '--api', peer.api, 'volume', 'scrub']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^\d+ chunks \(\S+\) checked in \S+: every chunk good\n$/);

  // another rots on both: nobody can give it back
  const both = data[1]!;
  rot(peer, both);
  rot(owner, both);
  const lost = await scrub(peer);
  assert.equal(lost.code, 1, 'chunks still missing: a non-zero exit');
  assert.deepEqual([lost.report.bad, lost.report.repaired, lost.report.unrepaired], [1, 0, [both.hash]]);
  const lostText = await cli(['--data-dir', owner.dataDir, '--api', owner.api, 'volume', 'scrub']);
  assert.equal(lostText.code, 1);
  assert.match(lostText.stdout, /: 1 bad, 0 fetched again from peers\n$/);
  assert.match(lostText.stderr, /warning: 1 bad chunk no live peer holds good \(dropped: the next snapshot of a volume whose files still hold it stores it again\)/);
  // the owner's next snapshot reads the blob again (its stat never changed) and sends the chunk on
  await waitFor('the chunk stored again on both nodes', () => chunkIndex(owner).has(both.hash) && chunkIndex(peer).has(both.hash), 30_000, 200);
  for (const a of [owner, peer]) assert.equal((await scrub(a)).report.bad, 0);
  // the first snapshot, which holds the chunk, is whole again: it exports
  const { stdout: tar } = await promisify(execFile)(WARREN_BIN, ['--data-dir', owner.dataDir, '--api', owner.api, 'volume', 'export', `${VOLUME}@${first}`], { encoding: 'buffer', maxBuffer: 16 * 2 ** 20 });
  assert.ok(tar.length >= 300_000, `${tar.length} bytes of tar`);
});
