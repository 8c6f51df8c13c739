/**
 * The cluster part of the `volumes` benchmark (issue 13), on 3 real agents sharing this machine's
 * Docker engine (127.75.13.1-3, default snapshot interval):
 *  1. a writer appending a counter line ~100 times a second: data at risk (`atRiskMs` of
 *     GET /v1/volumes every 250 ms for a minute), the snapshot pauses (`pauseMs` of the
 *     `volume.snapshot` events) and any node.suspect/node.dead published meanwhile;
 *  2. a 1 GiB volume (random data) and a 1 MiB one, both served by an httpd replica on the same
 *     node: the first copy of the 1 GiB to a peer against a plain Node file → TCP → file copy of
 *     the same bytes (the anchor), a 1% change as scattered 4 KiB pages replicated to both peers
 *     (time, bytes), then kill -9 of that node's agent and containers and its data dir deleted:
 *     the time until each service answers on its data on another node.
 * Part 2 is void when its owner is declared dead while it lives and another node takes its volumes
 * over (seen with a 1 GiB seed on this 2-core machine): the events are reported in
 * `volumes.big_attempts_void` and `volumes.suspect_events`, and part 2 is tried once more on new
 * services (WARREN_BENCH_VOLUME_TRIES, default 2); its figures are NaN (null in results.json)
 * when no attempt held. WARREN_BENCH_VOLUME_MIB sizes the big volume (default 1024),
 * WARREN_BENCH_RISK_WINDOW_S the writer's window (default 60).
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, type AgentHandle } from '../test/helpers/agents.ts';
import { admission, voterIds } from '../test/helpers/cluster.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../test/helpers/images.ts';
import { adminHeaders, postService, serviceView, startCluster, waitServing } from '../test/helpers/services.ts';
import { removeNodesDocker } from '../test/helpers/stacks.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { percentile, type Metric } from './results.ts';
import {
  ClusterEvents, httpProbe, MiB, plainCopyMs, scatterPages, sentBytesTotal, sha256File, snapshotNow, suspicions, volumeLine, writeRandomFile,
} from './volumes-cluster-lib.ts';

const IPS = ['127.75.13.1', '127.75.13.2', '127.75.13.3'];
/** the anchor copy's receiver listens here */
const ANCHOR_HOST = '127.75.13.9';
const BIG_MIB = Number(process.env.WARREN_BENCH_VOLUME_MIB ?? 1024);
const SMALL_MIB = 1;
const SAMPLE_EVERY_MS = 250;
const WINDOW_MS = Number(process.env.WARREN_BENCH_RISK_WINDOW_S ?? 60) * 1000;
const WRITER_SVC = 'vbench-writer';
/** attempts at the 1 GiB part (one whose owner is declared dead meanwhile is void) */
const BIG_TRIES = Number(process.env.WARREN_BENCH_VOLUME_TRIES ?? 2);
const SMALL_SVC = 'vbench-small';
const BIG_SVC = 'vbench-big';
const vol = (service: string) => `${service}_data`;
const liveDir = (a: AgentHandle, service: string) => join(a.dataDir, 'volume-data', vol(service));

// as test/integration/volumes-failover.test.ts: a counter line every ~10 ms
const WRITER = 'n=0; while :; do n=$((n+1)); echo "$n" >> /data/counter; busybox usleep 10000; done';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.log(`  volumes-cluster: ${line}`);

async function nodeName(a: AgentHandle): Promise<string> {
  return (await a.health()).body.node.name as string;
}

async function setDrain(a: AgentHandle, node: string, on: boolean): Promise<void> {
  const res = await fetch(`${a.api}/v1/nodes/${node}/${on ? 'drain' : 'activate'}`, { method: 'POST', headers: await adminHeaders(a) });
  if (!res.ok) throw new Error(`${on ? 'drain' : 'activate'} ${node}: ${res.status} ${await res.text()}`);
}

async function createService(a: AgentHandle, body: Record<string, unknown>): Promise<void> {
  const created = await postService(a, { image: HTTPD_IMAGE, ...body });
  if (created.status !== 201) throw new Error(`creating ${String(body.name)}: ${created.status} ${JSON.stringify(created.body)}`);
}

async function removeService(a: AgentHandle, name: string): Promise<void> {
  await fetch(`${a.api}/v1/services/${name}`, { method: 'DELETE', headers: await adminHeaders(a) });
  await waitFor(`${name} containers gone`, async () => (await docker('ps', '-aq', '--filter', `label=warren.service=${name}`)).trim() === '', 30_000, 100);
}

/** Sets a volume's snapshot interval (undefined: back to the default) and waits until its owner `a` has it. */
async function volumeInterval(a: AgentHandle, volume: string, intervalMs: number | undefined): Promise<void> {
  const url = `${a.api}/v1/volumes/${volume}/policy`;
  const res = await fetch(url, { method: 'PUT', headers: { ...(await adminHeaders(a)), 'content-type': 'application/json' }, body: JSON.stringify(intervalMs === undefined ? { reset: true } : { intervalMs }) });
  if (!res.ok) throw new Error(`the policy of ${volume}: ${res.status} ${await res.text()}`);
  await waitFor(`${volume}'s policy on its owner`, async () => {
    const view = (await (await fetch(url)).json()) as { policy: { intervalMs: number }; defaults: string[] };
    return (intervalMs === undefined ? view.defaults.includes('intervalMs') : view.policy.intervalMs === intervalMs) || undefined;
  }, 10_000, 100);
}

async function runningNode(a: AgentHandle, service: string): Promise<string | undefined> {
  const v = await serviceView(a, service).catch(() => undefined);
  return v?.replicas.find((r) => r.state === 'running')?.nodeId ?? undefined;
}

const lineCount = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean).length;

/** 1. the writer: data at risk, snapshot pauses, suspicions. */
async function writerPhase(agents: AgentHandle[], ids: string[], events: ClusterEvents) {
  await createService(agents[0]!, { name: WRITER_SVC, command: ['sh', '-c', WRITER], volumes: ['data:/data'] });
  const owner = agents[ids.indexOf(await waitFor('the writer running', () => runningNode(agents[0]!, WRITER_SVC), 60_000, 100))]!;
  await waitFor('3 copies of the writer\'s volume, data at risk known', async () => {
    const v = await volumeLine(agents[0]!, vol(WRITER_SVC));
    return v && v.copies.length === 3 && v.atRiskMs !== null;
  }, 60_000, 250);
  log(`writer running on ${await nodeName(owner)}; sampling data at risk every ${SAMPLE_EVERY_MS} ms for ${WINDOW_MS / 1000} s`);
  const counter = join(liveDir(owner, WRITER_SVC), 'counter');
  const lines0 = lineCount(counter);
  const from = Date.now();
  const samples: number[] = [];
  let missing = 0;
  for (let k = 1; Date.now() - from < WINDOW_MS; k++) {
    const v = await volumeLine(agents[k % agents.length]!, vol(WRITER_SVC)).catch(() => undefined);
    if (typeof v?.atRiskMs === 'number') samples.push(v.atRiskMs);
    else missing++;
    await sleep(Math.max(0, from + k * SAMPLE_EVERY_MS - Date.now())); // the sampling cadence
  }
  const to = Date.now();
  const rate = (lineCount(counter) - lines0) / ((to - from) / 1000);
  const pauses = events.list((e) => e.name === 'volume.snapshot' && e.payload?.volume === vol(WRITER_SVC) && e.time >= from && e.time <= to).map((e) => Number(e.payload.pauseMs));
  const suspects = suspicions(events, from, to);
  log(`data at risk p99 ${(percentile(samples, 99) / 1000).toFixed(2)} s over ${samples.length} samples; ${pauses.length} snapshots, pause p99 ${pauses.length ? percentile(pauses, 99) : NaN} ms; writer ${rate.toFixed(0)} lines/s; ${suspects.count} suspect/dead events`);
  await removeService(agents[0]!, WRITER_SVC);
  return { samples, missing, pauses, suspects, rate };
}

/** The owner was declared dead and its volume taken over while it lived: this attempt's figures are void. */
class Disrupted extends Error {
  constructor(readonly stage: string, readonly detail: { count: number; about: string[]; error?: string }) {
    super(`${stage}: ${detail.error ?? ''} (${detail.about.join('; ')})`);
  }
}
const MOVED = Symbol('moved');

/** 2. the 1 GiB and 1 MiB volumes: seed against the anchor, 1% change, failover of both. */
async function bigPhase(agents: AgentHandle[], ids: string[], events: ClusterEvents, work: string, attempt: number) {
  const bigBytes = BIG_MIB * MiB;
  const [SMALL, BIG] = [`${SMALL_SVC}${attempt}`, `${BIG_SVC}${attempt}`];
  // the services go to a node that is not the etcd leader (failover, not an election), both on it
  const leader = (await admission(agents[0]!)).leader as string;
  const owner = agents.find((_, i) => ids[i] !== leader)!;
  const ownerId = ids[agents.indexOf(owner)]!;
  const ownerName = await nodeName(owner);
  const others = agents.filter((a) => a !== owner);
  for (const a of others) await setDrain(owner, await nodeName(a), true);
  await createService(owner, { name: SMALL, ports: ['80'], volumes: ['data:/www'] });
  await createService(owner, { name: BIG, ports: ['80'], volumes: ['data:/www'] });
  for (const s of [SMALL, BIG]) await waitServing(owner, s, 1, 60_000);
  for (const a of others) await setDrain(owner, await nodeName(a), false);
  log(`${SMALL} and ${BIG} serving on ${ownerName}`);
  const from = Date.now();
  // another node took a volume over while its owner was alive (it was declared dead)
  const movedOff = async () => {
    for (const s of [SMALL, BIG]) if ((await volumeLine(others[0]!, vol(s)).catch(() => undefined))?.node !== ownerName) return true;
    return false;
  };
  const disrupted = (stage: string, err?: unknown) => new Disrupted(stage, { ...suspicions(events, from, Date.now()), ...(err ? { error: (err as Error).message } : {}) });
  /** polls `check`, giving up at once when the volumes moved off their owner */
  const until = async <T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> => {
    const r = await waitFor(what, async () => (await check()) ?? ((await movedOff()) ? MOVED : undefined), timeoutMs, 100);
    if (r === MOVED) throw disrupted(what);
    return r as T;
  };
  const guard = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof Disrupted || !(await movedOff())) throw err;
      throw disrupted(stage, err);
    }
  };
  const applied = (s: string, id: string, timeoutMs: number) => until(`3 copies of ${vol(s)} at ${id}`, async () => {
    const v = await volumeLine(owner, vol(s));
    return v && v.copies.filter((c: any) => c.snapshot === id && c.applied).length === 3 ? true : undefined;
  }, timeoutMs);

  // the 1 MiB volume: its data, on the 3 nodes
  writeRandomFile(join(liveDir(owner, SMALL), 'data'), SMALL_MIB * MiB);
  writeFileSync(join(liveDir(owner, SMALL), 'gen'), '1\n');
  const small = await guard('the 1 MiB snapshot', () => snapshotNow(owner, vol(SMALL)));
  await applied(SMALL, small.snapshot.id, 60_000);
  const smallHash = sha256File(join(liveDir(owner, SMALL), 'data'));

  // the 1 GiB: written aside, copied by the anchor, then moved into the live copy at once
  const src = join(work, 'big.src');
  const copy = join(work, 'big.copy');
  log(`writing ${BIG_MIB} MiB of random data`);
  writeRandomFile(src, bigBytes);
  const anchorMs = await plainCopyMs(ANCHOR_HOST, src, copy);
  rmSync(src);
  log(`anchor: plain Node copy file → TCP → file (fsync) of ${BIG_MIB} MiB in ${Math.round(anchorMs)} ms`);
  const seedFrom = Date.now();
  const sent0 = await sentBytesTotal(owner);
  writeFileSync(join(liveDir(owner, BIG), 'gen'), '1\n');
  renameSync(copy, join(liveDir(owner, BIG), 'data'));
  // a snapshot now (the next tick may take it first: the seed is the first snapshot holding it all)
  const seeded = await guard('the seed snapshot', () => snapshotNow(owner, vol(BIG)));
  const seedSnap = await until('the seed snapshot event', () => events.list((e) => e.name === 'volume.snapshot' && e.payload?.volume === vol(BIG) && e.time >= seedFrom && e.payload.sizeBytes >= bigBytes)[0], 60_000);
  const seedCopies = await until('the seed on both peers', () => {
    const r = events.list((e) => e.name === 'volume.replicated' && e.payload?.snapshot === seedSnap.payload.snapshot);
    return r.length >= 2 ? r : undefined;
  }, 180_000);
  const firstPeerMs = seedCopies[0].time - seedFrom;
  const pushMs = seedCopies[0].time - seedSnap.time;
  const sent1 = await sentBytesTotal(owner);
  log(`seed: on the first peer ${firstPeerMs} ms after the data was in place (capture ${seedSnap.time - seedFrom} ms, push ${pushMs} ms), on both ${seedCopies[1].time - seedFrom} ms`);
  await applied(BIG, seeded.snapshot.id, 300_000);
  const appliedMs = Date.now() - seedFrom;
  log(`seed applied to both warm copies ${appliedMs} ms after the data was in place`);

  // 1% of the big file as scattered 4 KiB pages → on both peers. The volume's schedule is held off
  // meanwhile: the bench writes from outside the container, which no freeze pauses, so a scheduled
  // cycle that froze during those writes made the ask wait for it and then capture again (19.7 s
  // once, against ~6.5 s): a figure of that collision, not of shipping an incremental.
  await volumeInterval(owner, vol(BIG), 3_600_000);
  const incFrom = Date.now();
  const sent2 = await sentBytesTotal(owner);
  writeFileSync(join(liveDir(owner, BIG), 'gen'), '2\n');
  const changed = scatterPages(join(liveDir(owner, BIG), 'data'), bigBytes, 0.01);
  const t0 = performance.now();
  const askAt = Date.now();
  const inc = await guard('the 1% change', () => snapshotNow(owner, vol(BIG)));
  const incMs = performance.now() - t0;
  if (inc.replicated.length < 2) throw (await movedOff()) ? disrupted('the 1% change') : new Error(`the 1% change reached ${inc.replicated.length} peer(s)`);
  const sent3 = await sentBytesTotal(owner);
  await until('the change\'s replicated events', () => events.list((e) => e.name === 'volume.replicated' && e.payload?.snapshot === inc.snapshot.id).length >= 2 || undefined, 10_000);
  const perPeer = new Map<string, number>();
  for (const e of events.list((x) => x.name === 'volume.replicated' && x.payload?.volume === vol(BIG) && x.time >= incFrom)) perPeer.set(e.payload.to, (perPeer.get(e.payload.to) ?? 0) + Number(e.payload.sentBytes));
  // where the time went: the owner's snapshot event ends the capture; each peer's replicated event its push
  const incSnapAt = events.list((e) => e.name === 'volume.snapshot' && e.payload?.snapshot === inc.snapshot.id)[0]?.time;
  const incPeersAt = events.list((e) => e.name === 'volume.replicated' && e.payload?.snapshot === inc.snapshot.id).map((e) => e.time - askAt);
  log(`1% change (${changed} bytes in 4 KiB pages): on both peers in ${Math.round(incMs)} ms (captured at +${incSnapAt === undefined ? '?' : incSnapAt - askAt} ms, on the peers at +${incPeersAt.join(' and +')} ms), sent ${[...perPeer.values()].join(' + ')} bytes`);
  await applied(BIG, inc.snapshot.id, 120_000);
  await volumeInterval(owner, vol(BIG), undefined);
  const bigHash = sha256File(join(liveDir(owner, BIG), 'data'));
  const heavy = suspicions(events, from, Date.now());

  // kill -9 of the node's agent and containers, its disk gone
  log(`kill -9 of ${ownerName} (agent and containers), its data dir deleted`);
  const kill0 = performance.now();
  await owner.stop('SIGKILL', 5000);
  await removeNodesDocker([ownerId]);
  const gone = rm(owner.dataDir, { recursive: true, force: true });
  const back = async (service: string, gen: string, bytes: number) => {
    const r = await waitFor(`${service} answering on its data on another node`, async () => {
      const view = await serviceView(others[0]!, service);
      const rep = view.replicas.find((x) => x.state === 'running' && x.nodeId && x.nodeId !== ownerId && x.ports.length);
      if (!rep) return undefined;
      const base = `http://${rep.addr}:${rep.ports[0]!.hostPort}`;
      if ((await httpProbe(`${base}/gen`)) !== gen) return undefined;
      return (await httpProbe(`${base}/data`, true)) === String(bytes) ? rep : undefined;
    }, 120_000, 50);
    return { ms: performance.now() - kill0, node: r.nodeId! };
  };
  const [smallBack, bigBack] = await Promise.all([back(SMALL, '1', SMALL_MIB * MiB), back(BIG, '2', bigBytes)]);
  await gone;
  const verified = {
    small: sha256File(join(liveDir(agents[ids.indexOf(smallBack.node)]!, SMALL), 'data')) === smallHash,
    big: sha256File(join(liveDir(agents[ids.indexOf(bigBack.node)]!, BIG), 'data')) === bigHash,
  };
  log(`failover: ${SMALL_MIB} MiB answering after ${Math.round(smallBack.ms)} ms, ${BIG_MIB} MiB after ${Math.round(bigBack.ms)} ms (data verified: ${JSON.stringify(verified)})`);
  return {
    anchorMs, firstPeerMs, pushMs, bothPeersMs: seedCopies[1].time - seedFrom, captureMs: seedSnap.time - seedFrom, appliedMs, seedSentBytes: sent1 - sent0,
    incMs, changed, perPeer: [...perPeer.values()], incMetricBytes: sent3 - sent2, incNewBytes: inc.snapshot.newBytes,
    smallMs: smallBack.ms, bigMs: bigBack.ms, verified, heavy,
  };
}

/** Before another attempt: the last one's services gone, every agent healthy and the 3 voters back. */
async function resetAfter(agents: AgentHandle[], attempt: number): Promise<void> {
  for (const s of [`${SMALL_SVC}${attempt}`, `${BIG_SVC}${attempt}`]) await removeService(agents[0]!, s).catch(() => undefined);
  await waitFor('every agent healthy, 3 voters', async () => {
    const ok = await Promise.all(agents.map((a) => a.health().then((h) => h.status === 200, () => false)));
    return ok.every(Boolean) && (await voterIds(agents[0]!)).length === 3;
  }, 120_000, 500);
}

export async function benchVolumesCluster(): Promise<Record<string, Metric>> {
  await ensureHttpdImage();
  const work = mkdtempSync(join(tmpdir(), 'warren-volbench-'));
  let events: ClusterEvents | undefined;
  let ids: string[] = [];
  try {
    log(`starting 3 agents on ${IPS.join(', ')}`);
    const cluster = await startCluster(IPS, ['--log-level', process.env.WARREN_BENCH_LOG_LEVEL ?? 'info']);
    ids = cluster.ids;
    events = await ClusterEvents.follow(cluster.agents, ['node.suspect', 'node.dead', 'volume.snapshot', 'volume.replicated']);
    const w = await writerPhase(cluster.agents, ids, events);
    // a 1 GiB seed that gets its owner declared dead voids the attempt (reported); one more is made
    const failed: { attempt: number; stage: string; count: number; about: string[]; error?: string }[] = [];
    let b: Awaited<ReturnType<typeof bigPhase>> | undefined;
    for (let attempt = 1; attempt <= BIG_TRIES && !b; attempt++) {
      try {
        b = await bigPhase(cluster.agents, ids, events, work, attempt);
      } catch (err) {
        if (!(err instanceof Disrupted)) throw err;
        failed.push({ attempt, stage: err.stage, ...err.detail });
        log(`attempt ${attempt} void: the owner was declared dead and its volumes taken over while it lived (at ${err.stage}; ${err.detail.about.join('; ')})`);
        if (attempt < BIG_TRIES) await resetAfter(cluster.agents, attempt);
      }
    }
    const s = (xs: number[], p: number) => (xs.length ? percentile(xs, p) : NaN);
    const mibs = (ms: number) => Math.round((BIG_MIB / (ms / 1000)) * 10) / 10;
    const voided = failed.reduce((n, f) => n + f.count, 0);
    return {
      'volumes.at_risk_s': {
        value: s(w.samples, 99) / 1000, unit: 's', goal: '<= 5', p50: s(w.samples, 50) / 1000, max: s(w.samples, 100) / 1000,
        samples: w.samples.length, unanswered: w.missing, everyMs: SAMPLE_EVERY_MS, windowS: WINDOW_MS / 1000, writerLinesPerS: Math.round(w.rate), snapshotIntervalMs: 2000,
      },
      'volumes.pause_p99_ms': { value: s(w.pauses, 99), unit: 'ms', goal: '<= 250', p50: s(w.pauses, 50), max: s(w.pauses, 100), snapshots: w.pauses.length },
      'volumes.suspect_events': {
        value: w.suspects.count + (b?.heavy.count ?? 0) + voided, unit: 'events', goal: '0',
        underWriter: w.suspects.count, underSeedAndChange: b?.heavy.count ?? null, inVoidAttempts: voided,
        seen: [...w.suspects.about, ...(b?.heavy.about ?? []), ...failed.flatMap((f) => f.about)],
      },
      'volumes.big_attempts_void': { value: failed.length, unit: 'tries', goal: '0', failed },
      'volumes.failover_ms_1gib': { value: b?.bigMs ?? NaN, unit: 'ms', goal: '<= 6000', fileMiB: BIG_MIB, verified: b?.verified.big ?? null },
      'volumes.failover_ms_1mib': { value: b?.smallMs ?? NaN, unit: 'ms', goal: '<= 6000, as the 1 GiB (same kill)', fileMiB: SMALL_MIB, verified: b?.verified.small ?? null },
      'volumes.replicated_incremental_ms': { value: b?.incMs ?? NaN, unit: 'ms', goal: '<= 5000', changedBytes: b?.changed ?? null, fileMiB: BIG_MIB, note: 'snapshot now → on both peers (the wait for the next interval not included)' },
      'volumes.replicated_incremental_bytes': {
        value: b ? Math.max(...b.perPeer) : NaN, unit: 'bytes', goal: '<= 64 MiB (to one peer)', perPeer: b?.perPeer ?? null, metricsDeltaBothPeers: b?.incMetricBytes ?? null, newBytesStored: b?.incNewBytes ?? null, changedBytes: b?.changed ?? null,
      },
      'volumes.seed_ratio': b
        ? {
          value: b.anchorMs / b.firstPeerMs, unit: 'x', goal: '>= 0.8', anchorMs: Math.round(b.anchorMs), warrenFirstPeerMs: b.firstPeerMs,
          anchorMiBs: mibs(b.anchorMs), warrenMiBs: mibs(b.firstPeerMs), warrenCaptureMs: b.captureMs, warrenPushMs: b.pushMs, ratioPushOnly: b.anchorMs / b.pushMs,
          warrenBothPeersMs: b.bothPeersMs, warrenAppliedOnBothMs: b.appliedMs, sentBytesBothPeers: b.seedSentBytes, fileMiB: BIG_MIB,
        }
        : { value: NaN, unit: 'x', goal: '>= 0.8', fileMiB: BIG_MIB },
    };
  } finally {
    await events?.stop();
    await cleanupAll();
    await removeNodesDocker(ids);
    rmSync(work, { recursive: true, force: true });
  }
}
