import { isUserError, messageOf } from '../core/errors.ts';
import { satisfies } from '../core/scheduler-place.ts';
import { choosePeers } from '../core/volumes/peer-choice.ts';
import { peerGroup, volumeUsers } from '../core/volumes/stack-volumes.ts';
import type { CopyRecord, VolumeMeta } from '../core/volumes/volume-records.ts';
import { httpTransport, pushSnapshot } from '../volumes/replication.ts';
import type { SnapshotRecord } from '../volumes/volume-store.ts';
import type { VolumeDriver } from './volume-driver.ts';

/** A peer the last push of a volume's snapshot did not reach, and why (a refusal's own words). */
export interface PushFailure {
  node: string;
  /** the node's name, for people */
  name: string;
  /** the peer's answer ('insufficient_storage': its disk would fill), or 'unreachable' */
  code: string;
  reason: string;
}

/** A push under way to one peer (`GET /v1/volumes/:name/transfers`; the CLI's progress). */
export interface Transfer {
  node: string;
  name: string;
  snapshot: string;
  /** chunk bytes sent so far, of what the peer asked for so far */
  sentBytes: number;
  totalBytes: number;
  startedAt: number;
}

/** The owner's account of its pushes: those under way, and the peers the last push of a volume did not reach. */
export class PushLedger {
  readonly failures = new Map<string, PushFailure[]>();
  private readonly running = new Map<string, Map<Transfer, true>>();

  /** the pushes of the volume under way, oldest first */
  transfers(volume: string): Transfer[] {
    return [...(this.running.get(volume)?.keys() ?? [])].map((t) => ({ ...t }));
  }

  /** runs `push` with a transfer listed meanwhile (`progress` keeps its figures current) */
  async track<T>(volume: string, t: Transfer, push: (progress: (sent: number, total: number) => void) => Promise<T>): Promise<T> {
    const mine = this.running.get(volume) ?? new Map<Transfer, true>();
    this.running.set(volume, mine.set(t, true));
    try {
      return await push((sent, total) => {
        t.sentBytes = sent;
        t.totalBytes = total;
      });
    } finally {
      mine.delete(t);
      if (mine.size === 0 && this.running.get(volume) === mine) this.running.delete(volume);
    }
  }
}

/** a push that sent nothing for this long no longer holds back the next peer's */
export const PUSH_STALL_MS = 2000;

/** a push whose data is at most this much goes to the next peer at the same time (no turn to wait) */
export const SMALL_PUSH_BYTES = 64 * 2 ** 20;

/**
 * A push known to be small before any offer: the peer holds the owner's snapshot before this one,
 * and this one stored at most SMALL_PUSH_BYTES of new chunks, so the peer lacks about those. It
 * goes beside the other peer's at once (otherwise the next waits for the first push's data-phase
 * offer, whose answer, on the peer, decodes the whole manifest: ~0.5-1 s for a 1 GiB file).
 */
export function knownSmall(rec: SnapshotRecord, prev: SnapshotRecord | undefined, held: CopyRecord | undefined): boolean {
  return !!prev && held?.snapshot === prev.id && rec.newBytes <= SMALL_PUSH_BYTES;
}

/**
 * Runs `run` for each item, one after another: the next starts when the one before settles, or
 * when it has not called its `progressed` for `stallMs` (a peer that stopped reading, or never
 * answers, holds up no one), or called it with `release` (a small push: nothing to gain by waiting).
 * Pushes to two peers at once share the sender's bandwidth (and, on a
 * small machine, its core): in turn, the first copy of a large change is whole in about half the
 * time, and the data is on two machines from then on. `run` must not reject.
 */
export async function inTurn<T>(items: T[], stallMs: number, run: (item: T, progressed: (release?: boolean) => void) => Promise<void>): Promise<void> {
  const all: Promise<void>[] = [];
  for (const item of items) {
    let timer: NodeJS.Timeout | undefined;
    let released = false;
    await new Promise<void>((resolve) => {
      const next = () => {
        released = true;
        clearTimeout(timer);
        resolve();
      };
      const progressed = (release?: boolean) => {
        if (released) return;
        clearTimeout(timer);
        if (release) next();
        else timer = setTimeout(next, stallMs);
      };
      progressed();
      all.push(run(item, progressed).finally(next));
    });
  }
  await Promise.all(all);
}

/**
 * The owner's push of a snapshot (VolumeDriver.replicate): to the 2 peers core/volumes/peer-choice.ts
 * picks among the live nodes the volume's services may run on, in turn (inTurn); only the chunks a
 * peer lacks travel.
 * The peers that hold it afterwards (a failed push is retried with the next snapshot). The peers it
 * did not reach are the volume's entry in `failures`; a peer newly failing, or failing for a new
 * reason, is a `volume.replication_failed` event (not one per snapshot while the cause lasts).
 */
export async function replicateSnapshot(driver: VolumeDriver, m: VolumeMeta, rec: SnapshotRecord, ledger: PushLedger): Promise<string[]> {
  const d = driver.d;
  const live = d.liveness();
  const services = d.catalog.services();
  const users = volumeUsers(m.name, services);
  const constraints = users.length ? users.flatMap((u) => u.constraints) : (d.catalog.service(m.service)?.constraints ?? []);
  // a stack's volumes all go to the same peers (those holding most of them first): it moves as a unit
  const group = peerGroup(m.name, services);
  const held = (node: string) => group.filter((v) => d.catalog.maps.volumeCopies.has(`${v}/${node}`)).length;
  const holders = new Map(driver.copies(m.name).map((c) => [c.node, c]));
  const peers = choosePeers(d.selfId, d.catalog.nodes().map((n) => {
    const rt = d.catalog.runtimeNode(n.id);
    const sched = { id: n.id, name: n.name, labels: rt?.labels ?? {}, state: 'alive' as const, draining: false };
    return {
      id: n.id,
      alive: live[n.id]?.state === 'alive',
      eligible: !d.catalog.draining(n.id) && constraints.every((c) => satisfies(sched, c)),
      holds: group.length > 1 ? held(n.id) : holders.has(n.id),
    };
  }));
  const done: string[] = [];
  const failed: PushFailure[] = [];
  const prev = driver.store.list(m.name).filter((r) => r.seq < rec.seq).at(-1);
  await inTurn(peers, PUSH_STALL_MS, async (peer, progressed) => {
    if (holders.get(peer)?.snapshot === rec.id) return void done.push(peer);
    if (knownSmall(rec, prev, holders.get(peer))) progressed(true);
    const api = d.catalog.maps.nodes.get(peer)?.value.api;
    if (!api) return;
    const name = d.catalog.maps.nodes.get(peer)?.value.name ?? peer;
    try {
      const transfer: Transfer = { node: peer, name, snapshot: rec.id, sentBytes: 0, totalBytes: 0, startedAt: Date.now() };
      const res = await ledger.track(m.name, transfer, (onProgress) => pushSnapshot(driver.store, rec, httpTransport(api, d.sign, { timeoutMs: 60_000 }), {
        onProgress: (sent, total, phase) => {
          // a small change (its data known: the data phase's ask) goes to the next peer at once
          progressed(phase === 'data' && total <= SMALL_PUSH_BYTES);
          onProgress(sent, total);
        },
      }));
      driver.counters.sentBytes += res.sentBytes;
      d.logger.debug({ volume: m.name, snapshot: rec.id, peer, sentBytes: res.sentBytes, ms: Date.now() - transfer.startedAt, offerMs: res.offerMs, sendMs: res.sendMs, commitMs: res.commitMs }, 'snapshot pushed to a peer');
      done.push(peer);
      d.event('volume.replicated', { volume: m.name, service: m.service, snapshot: rec.id, seq: rec.seq, from: d.selfId, to: peer, sentBytes: res.sentBytes });
    } catch (err) {
      const code = isUserError(err) ? err.code : 'unreachable';
      failed.push({ node: peer, name, code, reason: messageOf(err) });
      d.logger[code === 'insufficient_storage' ? 'warn' : 'info']({ volume: m.name, peer, err: messageOf(err) }, 'snapshot replication to a peer failed; retried with the next snapshot');
    }
  });
  const failures = ledger.failures;
  const before = failures.get(m.name) ?? [];
  for (const f of failed) {
    if (before.some((b) => b.node === f.node && b.code === f.code)) continue;
    d.event('volume.replication_failed', { volume: m.name, service: m.service, snapshot: rec.id, from: d.selfId, to: f.node, toName: f.name, code: f.code, reason: f.reason });
  }
  if (failed.length) failures.set(m.name, failed);
  else failures.delete(m.name);
  return done;
}
