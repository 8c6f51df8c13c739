import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { DesiredReplica } from '../core/reconcile-plan.ts';
import { VOLUME_KEYS, type VolumeMeta } from '../core/volumes/volume-records.ts';
import { takeBlocked } from '../core/volumes/stack-volumes.ts';
import type { VolumeDriver } from './volume-driver.ts';
import { keepFencedWrites } from './volume-upkeep.ts';

/**
 * Makes this node the volume's owner with its newest copy in place; a string says why it cannot. The
 * reconciler's prepare (volume-driver.ts) calls it, one taker of a volume at a time.
 */
export async function takeVolume(v: VolumeDriver, name: string, r: DesiredReplica): Promise<string | undefined> {
  const self = v.d.selfId;
  const dir = v.liveDir(name);
  const m = v.meta(name);
  if (m?.value.owner === self && v.owned.get(name) === m.value.epoch) return undefined;
  const client = v.d.client();
  if (!client) return 'no etcd client';
  // a planned move (drain, leave): the old owner, alive, stops its replica and sends a last snapshot
  if (m && m.value.owner && m.value.owner !== self && v.handover) await v.handover(name, m.value);
  await v.applying.get(name); // a warm apply under way ends before the copy goes live
  const mine = v.newestLocal(name, m?.value.epoch ?? Infinity);
  let epoch: number;
  const owner = m?.value.owner;
  const users = v.users(name);
  const blocked = takeBlocked({
    volume: name, self, owner, ownerAlive: owner !== undefined && v.d.liveness()[owner]?.state === 'alive', ownerName: (owner && v.d.catalog.nodeName(owner)) ?? owner ?? '',
    assigned: new Map(users.map((u) => [`${u.service}/${u.slot}`, v.d.catalog.assignment(u.service)?.slots.find((s) => s.index === u.slot)?.nodeId ?? null])),
    users: users.filter((u) => u.service !== r.service || u.slot !== r.slot),
  });
  if (blocked) return blocked;
  if (m?.value.owner !== self) {
    const elsewhere = v.copies(name).filter((c) => c.node !== self);
    if (!mine && elsewhere.length) return `volume ${name}: this node holds no copy of it (copies on ${elsewhere.map((c) => v.d.catalog.nodeName(c.node) ?? c.node).join(', ')})`;
    // claim it: a new epoch, so a snapshot of the old owner's can never be taken in after ours
    epoch = (m?.value.epoch ?? 0) + 1;
    const meta: VolumeMeta = { name, service: r.service, slot: r.slot, volume: name, owner: self, epoch, since: Date.now() };
    const key = VOLUME_KEYS.metaPrefix + name;
    const raw = v.d.catalog.maps.volumeMeta.get(name); // a tombstone is replaced like a record
    const txn = raw ? client.if(key, 'Mod', '==', raw.modRevision) : client.if(key, 'Create', '==', 0);
    const res = await txn.then(client.put(key).value(JSON.stringify(meta))).commit();
    if (!res.succeeded) {
      await v.d.catalog.reload();
      return `volume ${name}: its owner changed meanwhile; trying again`;
    }
    v.d.logger.info({ volume: name, epoch, from: m?.value.owner, snapshot: mine?.id }, mine ? 'taking the volume over on its newest copy here' : 'new volume: starts empty');
    await keepFencedWrites(v.store, v.d.selfId, v.d.logger, name, dir, v.keptFenced);
    if (mine) await v.store.applyTo(name, mine.id, dir);
  } else {
    // owner already, in an earlier run of this agent: a copy that became live has writes no
    // snapshot holds (keep it); one whose take-over did not complete still has its warm-copy
    // state file (redo the apply: it is redo-only)
    epoch = m.value.epoch;
    if (mine && (existsSync(`${dir}.warren-state.json`) || !existsSync(dir))) await v.store.applyTo(name, mine.id, dir);
  }
  mkdirSync(dir, { recursive: true });
  v.owned.set(name, epoch);
  // from now on the live copy changes under the app: a later warm apply must rebuild it whole
  rmSync(`${dir}.warren-state.json`, { force: true });
  writeFileSync(`${dir}.warren-owner.json`, JSON.stringify({ epoch }));
  if (mine) await v.record(name, mine, true);
  return undefined;
}
