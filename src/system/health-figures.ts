import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { statfs } from 'node:fs/promises';
import type { HealthFigures } from '../core/views.ts';
import { monoNow } from './clock.ts';

/**
 * The machine's figures for the health heartbeat; `containers` comes from the runtime layer.
 * `startedAt` is on the local clock (monoNow): on the wall clock a step back made the uptime
 * negative, and the peers dropped every heartbeat as malformed until they held the node dead.
 */
export async function collectHealthFigures(dataDir: string, startedAt: number, containers: () => number = () => 0): Promise<HealthFigures> {
  let diskFreeBytes = 0;
  try {
    const s = await statfs(dataDir);
    diskFreeBytes = s.bavail * s.bsize;
  } catch {
    // data dir momentarily unreadable: report 0 rather than skip the heartbeat
  }
  const total = totalmem();
  return {
    cpuLoad: Math.round((loadavg()[0]! / Math.max(1, cpus().length)) * 100) / 100,
    memUsedBytes: total - freemem(),
    memTotalBytes: total,
    diskFreeBytes,
    containers: containers(),
    uptimeMs: Math.round(monoNow() - startedAt),
  };
}
