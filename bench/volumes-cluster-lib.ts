/**
 * Pieces of the cluster part of the `volumes` benchmark (volumes-cluster.ts): the event log of
 * every agent, the big file and its 1% change, and the anchor (a plain Node file → TCP → file
 * copy of the same bytes, measured beside Warren in the same run).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import type { AgentHandle } from '../test/helpers/agents.ts';
import { followEvents, type EventFollower } from '../test/helpers/events.ts';
import { prng } from '../test/helpers/prng.ts';
import { adminHeaders } from '../test/helpers/services.ts';

export const MiB = 2 ** 20;
export const PAGE = 4096;

/** The events of every agent's stream, once each (a gossiped event reaches every node). */
export class ClusterEvents {
  private readonly followers: EventFollower[] = [];

  static async follow(agents: AgentHandle[], topics: string[]): Promise<ClusterEvents> {
    const all = new ClusterEvents();
    for (const a of agents) all.followers.push(await followEvents(a.api, topics));
    return all;
  }

  /** every event so far, by id, oldest first */
  list(pred: (e: any) => boolean = () => true): any[] {
    const byId = new Map<string, any>();
    for (const f of this.followers) for (const e of f.events) if (!byId.has(e.id)) byId.set(e.id, e);
    return [...byId.values()].filter(pred).sort((a, b) => a.time - b.time);
  }

  async stop(): Promise<void> {
    await Promise.all(this.followers.map((f) => f.stop().catch(() => undefined)));
  }
}

/** node.suspect / node.dead events published in [from, to] (ms since the epoch), with whom they were about. */
export function suspicions(events: ClusterEvents, from: number, to: number): { count: number; about: string[] } {
  const hits = events.list((e) => (e.name === 'node.suspect' || e.name === 'node.dead') && e.time >= from && e.time <= to);
  return { count: hits.length, about: hits.map((e) => `${e.name} ${e.payload?.name ?? e.payload?.node} by ${e.source?.name}`) };
}

/** Writes `bytes` of random data to `path` (16 MiB at a time), fsynced; returns its SHA-256. */
export function writeRandomFile(path: string, bytes: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < bytes; done += 16 * MiB) {
      const buf = randomBytes(Math.min(16 * MiB, bytes - done));
      hash.update(buf);
      writeSync(fd, buf);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Overwrites `fraction` of the file as scattered random 4 KiB pages (seeded), fsynced; the bytes written. */
export function scatterPages(path: string, bytes: number, fraction: number, seed = 13): number {
  const rand = prng(seed);
  const pages = Math.round((bytes * fraction) / PAGE);
  const fd = openSync(path, 'r+');
  try {
    const buf = randomBytes(pages * PAGE);
    for (let i = 0; i < pages; i++) writeSync(fd, buf, i * PAGE, PAGE, Math.floor(rand() * (bytes / PAGE)) * PAGE);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return pages * PAGE;
}

export function sha256File(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(16 * MiB);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** the receiving end of the anchor copy, in a process of its own (as a Warren peer is) */
const RECEIVER = `
const net = require('node:net'), fs = require('node:fs');
const [host, dst] = process.argv.slice(1);
const server = net.createServer((sock) => {
  const fd = fs.openSync(dst, 'w');
  const out = fs.createWriteStream('', { fd, autoClose: false });
  sock.pipe(out);
  out.on('finish', () => { fs.fsyncSync(fd); fs.closeSync(fd); console.log('done'); server.close(); });
  out.on('error', (e) => { console.error(e); process.exit(1); });
});
server.listen(0, host, () => console.log('port ' + server.address().port));
`;

/**
 * The anchor: a plain Node copy of `src` to `dst` through a loopback TCP socket into another
 * process, which fsyncs the file at the end. Milliseconds from the connect to the receiver's fsync.
 */
export async function plainCopyMs(host: string, src: string, dst: string): Promise<number> {
  const child = spawn('/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', process.execPath, '-e', RECEIVER, host, dst], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const first = (await lines.next()).value as string | undefined;
    const port = Number(/^port (\d+)$/.exec(first ?? '')?.[1]);
    if (!port) throw new Error(`anchor receiver said ${first}`);
    const t0 = performance.now();
    const sock = connect(port, host);
    createReadStream(src, { highWaterMark: MiB }).pipe(sock);
    const done = (await lines.next()).value as string | undefined;
    if (done !== 'done') throw new Error(`anchor receiver ended with ${done}`);
    return performance.now() - t0;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** GET /v1/volumes on `a`: the named volume's line, or undefined. */
export async function volumeLine(a: AgentHandle, name: string): Promise<any> {
  const res = await fetch(`${a.api}/v1/volumes`, { signal: AbortSignal.timeout(3000) });
  return ((await res.json()) as { volumes: any[] }).volumes.find((v) => v.name === name);
}

/** POST /v1/volumes/NAME/snapshots (a snapshot now, answered once it is on the peers). */
export async function snapshotNow(a: AgentHandle, name: string): Promise<{ snapshot: { id: string; createdAt: number; newBytes: number; pauseMs: number }; replicated: string[] }> {
  const res = await fetch(`${a.api}/v1/volumes/${name}/snapshots`, { method: 'POST', headers: await adminHeaders(a), body: JSON.stringify({ wait: true }), signal: AbortSignal.timeout(300_000) });
  if (!res.ok) throw new Error(`snapshot of ${name}: ${res.status} ${await res.text()}`);
  return (await res.json()) as any;
}

/** warren_volume_sent_bytes_total of an agent's /metrics. */
export async function sentBytesTotal(a: AgentHandle): Promise<number> {
  const text = await (await fetch(`${a.api}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  return Number(/^warren_volume_sent_bytes_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** GET url: the body when 200 (a few bytes), or the Content-Length only (`lengthOnly`); undefined when it does not answer. */
export async function httpProbe(url: string, lengthOnly = false): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return void (await res.body?.cancel());
    if (lengthOnly) {
      await res.body?.cancel();
      return res.headers.get('content-length') ?? undefined;
    }
    return (await res.text()).trim();
  } catch {
    return undefined;
  }
}
