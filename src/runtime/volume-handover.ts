import { messageOf } from '../core/errors.ts';
import type { VolumeMeta } from '../core/volumes/volume-records.ts';
import type { VolumeDriverDeps } from './volume-driver.ts';

/** A hand-over (stop, last snapshot, push) that takes longer is given up: the move goes on without. */
export const HANDOVER_MS = 20_000;

/**
 * On the node about to take a volume over (the driver's take-over, before it claims the epoch):
 * when the owner is alive, it is asked to stop its replica and send this node a final snapshot,
 * so a drain, a leave or a constraint change loses no writes. Anything failing (the owner fenced,
 * slow, gone) leaves the take-over as it was without: on the newest copy here. The owner's side
 * is VolumeOps.handOver (src/runtime/volume-ops.ts).
 */
export async function askHandover(d: VolumeDriverDeps, name: string, meta: VolumeMeta): Promise<void> {
  if (d.liveness()[meta.owner]?.state !== 'alive') return;
  const api = d.catalog.maps.nodes.get(meta.owner)?.value.api;
  if (!api) return;
  const path = `/v1/volume-sync/${encodeURIComponent(name)}/handover`;
  const body = JSON.stringify({ to: d.selfId });
  const t0 = performance.now();
  try {
    const res = await fetch(`${api}${path}`, { method: 'POST', headers: { ...(await d.sign('POST', path, body)), 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(HANDOVER_MS) });
    const out = (await res.json().catch(() => ({}))) as { snapshot?: string; error?: { message: string } };
    if (!res.ok) throw new Error(out.error?.message ?? `HTTP ${res.status}`);
    d.logger.info({ volume: name, from: meta.owner, snapshot: out.snapshot, ms: Math.round(performance.now() - t0) }, 'the old owner handed its last snapshot over');
  } catch (err) {
    d.logger.info({ volume: name, from: meta.owner, err: messageOf(err) }, 'no hand-over from the old owner: taking the volume over on the newest copy here');
  }
}
