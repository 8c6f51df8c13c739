import { messageOf } from '../core/errors.ts';
import { satisfies } from '../core/scheduler-place.ts';
import { choosePeers } from '../core/volumes/peer-choice.ts';
import { peerGroup, volumeUsers } from '../core/volumes/stack-volumes.ts';
import type { VolumeMeta } from '../core/volumes/volume-records.ts';
import { httpTransport, pushSnapshot } from '../volumes/replication.ts';
import type { SnapshotRecord } from '../volumes/volume-store.ts';
import type { VolumeDriver } from './volume-driver.ts';

/**
 * The owner's push of a snapshot (VolumeDriver.replicate): to the 2 peers core/volumes/peer-choice.ts
 * picks among the live nodes the volume's services may run on; only the chunks a peer lacks travel.
 * The peers that hold it afterwards (a failed push is retried with the next snapshot).
 */
export async function replicateSnapshot(driver: VolumeDriver, m: VolumeMeta, rec: SnapshotRecord): Promise<string[]> {
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
  await Promise.all(peers.map(async (peer) => {
    if (holders.get(peer)?.snapshot === rec.id) return void done.push(peer);
    const api = d.catalog.maps.nodes.get(peer)?.value.api;
    if (!api) return;
    try {
      const res = await pushSnapshot(driver.store, rec, httpTransport(api, d.sign, { timeoutMs: 60_000 }));
      driver.counters.sentBytes += res.sentBytes;
      done.push(peer);
      d.event('volume.replicated', { volume: m.name, service: m.service, snapshot: rec.id, seq: rec.seq, from: d.selfId, to: peer, sentBytes: res.sentBytes });
    } catch (err) {
      d.logger.info({ volume: m.name, peer, err: messageOf(err) }, 'snapshot replication to a peer failed; retried with the next snapshot');
    }
  }));
  return done;
}
