import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { newestSnapshot } from '../core/volumes/copy-choice.ts';
import { DEFAULT_RETENTION, planRetention, type RetentionPolicy } from '../core/volumes/retention.ts';
import { effectivePolicy, type EffectivePolicy, type VolumePolicyRecord } from '../core/volumes/volume-policy.ts';
import type { SnapshotRecord, VolumeStore } from '../volumes/volume-store.ts';
import type { Catalog } from './catalog.ts';

/*
 * The volume driver's upkeep of this node's store (volume-driver.ts): retention, and an old
 * owner's writes kept aside before its copy is rebuilt.
 */

/** registers an old owner's kept writes as a volume of their own (volume-fenced.ts) */
export type KeptFenced = (name: string, rec: SnapshotRecord) => Promise<void>;

/**
 * Automatic snapshots come every few seconds: every one of the last 10 minutes is kept, then the
 * default's hourly/daily/weekly/monthly ones (core/volumes/retention.ts).
 */
export const AGENT_RETENTION: RetentionPolicy = { ...DEFAULT_RETENTION, keepAllWithinMs: 600_000 };

/**
 * The policy this node runs a volume on: its `/warren/volume-policy/` record's fields over the
 * defaults (`intervalMs`: the agent's `--snapshot-interval-ms`; retention: AGENT_RETENTION).
 */
export function volumePolicy(catalog: Catalog, name: string, intervalMs: number): EffectivePolicy {
  return agentPolicy(catalog.maps.volumePolicies.get(name)?.value, intervalMs);
}

/** A policy record's fields (none: undefined) over this agent's defaults, as `volumePolicy` reads them. */
export function agentPolicy(record: VolumePolicyRecord | undefined, intervalMs: number): EffectivePolicy {
  return effectivePolicy(record, { intervalMs, retention: AGENT_RETENTION });
}

/**
 * Deletes the snapshots retention does not keep (the newest of the lineage and the one applied
 * here always stay): each volume by its own policy (`volumePolicy`), so every node holding a copy
 * keeps the same ones.
 */
export async function retainSnapshots(store: VolumeStore, catalog: Catalog, selfId: string, keptFenced?: KeptFenced): Promise<void> {
  for (const name of store.volumes()) {
    const list = store.list(name);
    const newest = newestSnapshot(list);
    if (name.includes('.fenced-')) {
      // an old owner's writes: kept until someone removes them; listed once etcd has a record
      // (one made while etcd was out of reach is registered here)
      if (newest && !catalog.maps.volumeMeta.has(name)) await keptFenced?.(name, newest);
      continue;
    }
    const mine = catalog.maps.volumeCopies.get(`${name}/${selfId}`)?.value.snapshot;
    const keep = planRetention(list.map((r) => ({ id: r.id, time: r.createdAt, pinned: r.id === newest?.id || r.id === mine || (r.keepUntil ?? 0) > Date.now() })), Date.now(), volumePolicy(catalog, name, 0).retention); // (its interval plays no part here)
    const drop = list.filter((r) => !keep.has(r.id)).map((r) => r.id);
    if (drop.length) await store.deleteMany(name, drop);
  }
}

/** `warren volume rm` left a tombstone: this node's snapshots of the volume and its copy go. */
export async function deleteCopy(store: VolumeStore, name: string, dir: string): Promise<void> {
  await store.deleteMany(name, store.list(name).map((r) => r.id));
  rmSync(join(store.dataDir, 'volumes', name), { recursive: true, force: true });
  for (const path of [dir, `${dir}.warren-state.json`, `${dir}.warren-owner.json`]) rmSync(path, { recursive: true, force: true });
}

/**
 * A copy this node owned before (it was fenced or cut off) may hold writes no other node has:
 * they are kept as a snapshot of their own volume, `NAME.fenced-e<EPOCH>-<node>`, never merged
 * into the new lineage, before the copy is rebuilt from it.
 */
export async function keepFencedWrites(store: VolumeStore, selfId: string, logger: Logger, name: string, dir: string, keptFenced?: KeptFenced): Promise<void> {
  const marker = `${dir}.warren-owner.json`;
  if (!existsSync(marker)) return;
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    const { epoch } = JSON.parse(readFileSync(marker, 'utf8')) as { epoch: number };
    const fenced = `${name}.fenced-e${epoch}-${selfId.slice(-8).toLowerCase()}`;
    const rec = await store.snapshot(fenced, dir, { epoch });
    logger.warn({ volume: name, snapshot: `${fenced}@${rec.id}` }, 'this node owned the volume before: its writes since are kept as a separate snapshot, not merged');
    await keptFenced?.(fenced, rec).catch((err: unknown) => logger.warn({ volume: fenced, err: (err as Error).message }, 'registering the kept writes failed; retention tries again'));
  }
  rmSync(marker, { force: true });
}
