import { checkRisk, riskOf } from '../core/volumes/at-risk-alarm.ts';
import { messageOf } from '../core/errors.ts';
import type { VolumeView } from '../core/volumes/volume-view.ts';
import type { VolumeDriver } from './volume-driver.ts';

/**
 * The data at risk of a volume this node owns: since its last cycle captured the live copy into a
 * snapshot a peer holds too (an idle volume's unchanged cycles count: its copies' age is not its
 * risk), else the cluster view's figure.
 */
export function ownerRisk(driver: VolumeDriver, v: VolumeView, ownedSince: number, now: number): number {
  const safeAt = driver.counters.safeAt.get(v.name);
  const viewed = riskOf(v.atRiskMs, ownedSince, now);
  return safeAt === undefined ? viewed : Math.min(viewed, Math.max(0, now - safeAt));
}

/**
 * ms since the last cycle that a peer holds too, of each volume this node owns (what its
 * heartbeats carry, so every node's `volume ls` shows an idle volume as safe).
 */
export function ownedSafeAgoMs(driver: VolumeDriver, selfId: string, now: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, at] of driver.counters.safeAt) {
    if (driver.d.catalog.maps.volumeMeta.get(name)?.value.owner === selfId) out[name] = Math.max(0, now - at);
  }
  return out;
}

/** `volume.at_risk` is raised past this many snapshot intervals of data at risk. */
export const AT_RISK_INTERVALS = 3;

/**
 * Watches the data at risk of the volumes this node owns (a service runs on their live copy here)
 * and emits `volume.at_risk` `{ volume, service, atRisk, atRiskMs, thresholdMs, node }` when it
 * crosses 3 snapshot intervals, and once more (`atRisk: false`) when it is back under
 * (core/volumes/at-risk-alarm.ts). Only the owner reports a volume: one event, not one per node.
 */
export class VolumeRiskWatch {
  private readonly raised = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly driver: VolumeDriver, private readonly views: () => VolumeView[]) {}

  start(): void {
    this.timer = setInterval(() => {
      try {
        this.check(Date.now());
      } catch (err) {
        this.driver.d.logger.debug({ err: messageOf(err) }, 'data-at-risk check failed');
      }
    }, Math.max(250, Math.min(this.driver.d.intervalMs, 5_000)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  check(now: number): void {
    const d = this.driver.d;
    const thresholdMs = AT_RISK_INTERVALS * d.intervalMs;
    const samples = [];
    for (const v of this.views()) {
      const m = d.catalog.maps.volumeMeta.get(v.name)?.value;
      if (!m || m.removed || m.owner !== d.selfId || !d.catalog.service(m.service)) continue;
      samples.push({ volume: v.name, riskMs: ownerRisk(this.driver, v, m.since, now), thresholdMs });
    }
    for (const c of checkRisk(this.raised, samples)) {
      const service = d.catalog.maps.volumeMeta.get(c.volume)?.value.service;
      d.event('volume.at_risk', { volume: c.volume, service, atRisk: c.atRisk, atRiskMs: Math.round(c.riskMs), thresholdMs: c.thresholdMs, node: d.selfId });
      d.logger[c.atRisk ? 'warn' : 'info']({ volume: c.volume, atRiskMs: Math.round(c.riskMs), thresholdMs: c.thresholdMs }, c.atRisk ? 'volume data at risk above its threshold' : 'volume data at risk back under its threshold');
    }
  }
}
