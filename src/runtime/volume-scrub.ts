import { messageOf } from '../core/errors.ts';
import { MAX_CHUNKS_PER_ASK, volumeSyncPost } from '../volumes/replication.ts';
import { scrubChunks } from '../volumes/scrub.ts';
import type { VolumeDriver } from './volume-driver.ts';

/** What one scrub of this node's chunk store found and mended (`warren volume scrub`). */
export interface ScrubReport {
  node: string;
  startedAt: number;
  ms: number;
  checked: number;
  bytes: number;
  /** chunks whose bytes did not match their name */
  bad: number;
  /** of those, fetched again whole from a peer */
  repaired: number;
  /** still missing here (no live peer held them good): the next snapshot of a volume whose files still hold them stores them again */
  unrepaired: string[];
}

/**
 * The periodic scrub of this node's chunk store (issue 13): every stored chunk re-hashed
 * (src/volumes/scrub.ts), a bad one dropped and fetched again from the live members that hold it
 * good (`POST /v1/volume-sync/chunks/get`, member-signed; each chunk re-hashed on arrival). One at
 * a time; `run()` while one is under way answers that one.
 */
export class VolumeScrub {
  private running: Promise<ScrubReport> | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly counters = { bad: 0, repaired: 0 };
  last: ScrubReport | undefined;

  constructor(
    private readonly driver: VolumeDriver,
    private readonly everyMs: number,
  ) {}

  start(): void {
    if (this.everyMs <= 0) return;
    this.timer = setInterval(() => void this.run().catch((err: unknown) => this.driver.d.logger.warn({ err: messageOf(err) }, 'chunk scrub failed')), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  run(): Promise<ScrubReport> {
    this.running ??= this.scrub().finally(() => (this.running = undefined));
    return this.running;
  }

  private async scrub(): Promise<ScrubReport> {
    const d = this.driver.d;
    const startedAt = Date.now();
    const found = await scrubChunks(this.driver.store.chunks);
    const unrepaired = found.bad.length ? await this.repair(found.bad) : [];
    const report: ScrubReport = { node: d.selfId, startedAt, ms: Date.now() - startedAt, checked: found.checked, bytes: found.bytes, bad: found.bad.length, repaired: found.bad.length - unrepaired.length, unrepaired };
    this.counters.bad += report.bad;
    this.counters.repaired += report.repaired;
    this.last = report;
    const fields = { checked: report.checked, bytes: report.bytes, bad: report.bad, repaired: report.repaired, unrepaired: unrepaired.length, ms: report.ms };
    if (report.bad) d.logger.warn(fields, 'chunk scrub found chunks whose bytes no longer match their hash');
    else d.logger.info(fields, 'chunk scrub: every chunk good');
    return report;
  }

  /** Asks each live member in turn for the chunks still missing; the hashes none had good. */
  private async repair(hashes: string[]): Promise<string[]> {
    const d = this.driver.d;
    const chunks = this.driver.store.chunks;
    const live = d.liveness();
    let missing = hashes;
    for (const node of d.catalog.nodes()) {
      const api = d.catalog.maps.nodes.get(node.id)?.value.api;
      if (node.id === d.selfId || !api || live[node.id]?.state !== 'alive') continue;
      for (let i = 0; i < missing.length; i += MAX_CHUNKS_PER_ASK) {
        const body = JSON.stringify({ hashes: missing.slice(i, i + MAX_CHUNKS_PER_ASK) });
        const path = '/v1/volume-sync/chunks/get';
        try {
          const res = await volumeSyncPost(api, d.sign, path, { body, headers: { 'content-type': 'application/json' } }, body, 120_000);
          if (!res.body) throw new Error('an empty answer');
          await this.driver.receiver.receive(res.body as unknown as AsyncIterable<Uint8Array>);
        } catch (err) {
          d.logger.info({ peer: node.name, err: messageOf(err) }, 'a peer did not give the chunks a scrub asked for; asking the next');
        }
      }
      missing = missing.filter((h) => !chunks.has(h));
      if (missing.length === 0) break;
    }
    return missing;
  }
}
