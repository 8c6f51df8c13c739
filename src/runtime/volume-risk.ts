import { checkRisk, riskOf } from '../core/volumes/at-risk-alarm.ts';
import { ownerSafeAgoMs, type SafeAgoSources, type VolumeWord } from '../core/volumes/owner-safe-ago.ts';
import { messageOf } from '../core/errors.ts';
import type { VolumeView } from '../core/volumes/volume-view.ts';
import type { VolumeDriver } from './volume-driver.ts';
import { volumePolicy } from './volume-upkeep.ts';
import { wallOffset } from '../system/clock.ts';

/**
 * Where the owner safe-ago rule (core/volumes/owner-safe-ago.ts) reads its figures on this node.
 * The driver's safeAt is on the local clock (monoNow: a jump of the wall clock must not make a
 * volume look at risk, or safe); `toWall` puts it on `now`'s clock.
 */
export function safeAgoSources(driver: VolumeDriver, selfId: string, now: number, heard: (node: string) => VolumeWord | undefined = () => undefined, toWall = wallOffset()): SafeAgoSources {
  return { self: selfId, now, ownSafeAt: (volume) => { const at = driver.counters.safeAt.get(volume); return at === undefined ? undefined : at + toWall; }, heard };
}

/**
 * The data at risk of a volume this node owns (the `volume.at_risk` watch): the cluster view's
 * figure, or everything since the take-over while no second node holds any of it, bounded by the
 * owner's own safe-ago (an idle volume's unchanged cycles count: its copies' age is not its risk).
 */
export function ownerRisk(driver: VolumeDriver, v: VolumeView, ownedSince: number, now: number, toWall: number): number {
  const safeAgo = ownerSafeAgoMs(v.name, driver.d.selfId, safeAgoSources(driver, driver.d.selfId, now, undefined, toWall));
  return Math.min(riskOf(v.atRiskMs, ownedSince, now), safeAgo ?? Infinity);
}

/**
 * The owner safe-ago of each volume this node owns (what its heartbeats carry, so every node's
 * `volume ls` shows an idle volume as safe).
 */
export function ownedSafeAgoMs(driver: VolumeDriver, selfId: string, now: number, toWall = wallOffset()): Record<string, number> {
  const out: Record<string, number> = {};
  const sources = safeAgoSources(driver, selfId, now, undefined, toWall);
  for (const name of driver.counters.safeAt.keys()) {
    const owner = driver.d.catalog.maps.volumeMeta.get(name)?.value.owner;
    if (owner === selfId) out[name] = ownerSafeAgoMs(name, owner, sources)!;
  }
  return out;
}

/** `volume.at_risk` is raised past this many snapshot intervals of data at risk. */
export const AT_RISK_INTERVALS = 3;

/**
 * Watches the data at risk of the volumes this node owns (a service runs on their live copy here)
 * and emits `volume.at_risk` `{ volume, service, atRisk, atRiskMs, thresholdMs, node }` when it
 * crosses 3 snapshot intervals (the volume's own interval when its policy sets one), and once more (`atRisk: false`) when it is back under
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

  check(now: number, toWall = wallOffset()): void {
    const d = this.driver.d;
    const samples = [];
    for (const v of this.views()) {
      const m = d.catalog.maps.volumeMeta.get(v.name)?.value;
      if (!m || m.removed || m.owner !== d.selfId || !d.catalog.service(m.service)) continue;
      // the volume's own interval (`warren volume policy`), else the agent's
      const thresholdMs = AT_RISK_INTERVALS * volumePolicy(d.catalog, v.name, d.intervalMs).intervalMs;
      samples.push({ volume: v.name, riskMs: ownerRisk(this.driver, v, m.since, now, toWall), thresholdMs });
    }
    for (const c of checkRisk(this.raised, samples)) {
      const service = d.catalog.maps.volumeMeta.get(c.volume)?.value.service;
      d.event('volume.at_risk', { volume: c.volume, service, atRisk: c.atRisk, atRiskMs: Math.round(c.riskMs), thresholdMs: c.thresholdMs, node: d.selfId });
      d.logger[c.atRisk ? 'warn' : 'info']({ volume: c.volume, atRiskMs: Math.round(c.riskMs), thresholdMs: c.thresholdMs }, c.atRisk ? 'volume data at risk above its threshold' : 'volume data at risk back under its threshold');
    }
  }
}
