import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cutChunks } from '../src/core/volumes/fastcdc.ts';
import { ChunkPool } from '../src/volumes/chunk-pool.ts';
import { VolumeStore } from '../src/volumes/volume-store.ts';
import { prng } from '../test/helpers/prng.ts';
import { median, type Metric } from './results.ts';

const MiB = 2 ** 20;
/** the volume's big file (the benchmark: 1 GiB); WARREN_BENCH_VOLUME_MIB makes it smaller */
const FILE_MIB = Number(process.env.WARREN_BENCH_VOLUME_MIB ?? 1024);

/** Writes `mib` MiB of random data in 16 MiB pieces (no 1 GiB buffer). */
function writeRandomFile(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  for (let done = 0; done < mib; done += 16) writeSync(fd, randomBytes(16 * MiB).subarray(0, Math.min(16, mib - done) * MiB));
  closeSync(fd);
}

/**
 * Local volume store figures: chunker throughput (the pure chunker on the main thread, and chunk +
 * SHA-256 of a file in a worker), the bytes a 1% scattered change stores against what fixed 1 MiB
 * and 4 MiB chunks (restic/borg-sized) would have to send, and the time of a snapshot when nothing
 * changed. Replication over the network: volumes-cluster.ts (the same group).
 */
export async function benchVolumes(): Promise<Record<string, Metric>> {
  const dir = mkdtempSync(join(tmpdir(), 'volumes-bench-'));
  const pool = new ChunkPool(1);
  try {
    // 1. the chunker alone, 256 MiB in memory, best of 3
    const buf = randomBytes(256 * MiB);
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      cutChunks(buf, 0, buf.length, true);
      runs.push(256 / ((performance.now() - t) / 1000));
    }
    const big = join(dir, 'vol');
    mkdirSync(big);
    writeRandomFile(join(big, 'db'), FILE_MIB);
    // a few thousand small files beside the big one (what an unchanged scan walks)
    for (let d = 0; d < 50; d++) {
      mkdirSync(join(big, `d${d}`));
      for (let f = 0; f < 100; f++) writeFileSync(join(big, `d${d}`, `f${f}`), randomBytes(1 + (f * 97) % 5000));
    }
    // 2. chunk + hash of the big file in a worker thread
    let t = performance.now();
    await pool.chunk(join(big, 'db'), false);
    const workerMiBs = FILE_MIB / ((performance.now() - t) / 1000);

    const store = new VolumeStore(join(dir, 'store'), { pool });
    // the agent's event loop must keep turning during a snapshot (gossip heartbeats every 250 ms)
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    t = performance.now();
    const first = await store.snapshot('bench', big);
    const firstMs = performance.now() - t;
    loop.disable();
    // 3. unchanged: median of 5
    const unchanged: number[] = [];
    let unchangedNew = 0;
    for (let i = 0; i < 5; i++) {
      t = performance.now();
      unchangedNew += (await store.snapshot('bench', big)).newBytes;
      unchanged.push(performance.now() - t);
    }
    // 4. 1% of the big file as scattered 4 KiB pages
    const rand = prng(1);
    const pages = Math.round((FILE_MIB * MiB * 0.01) / 4096);
    const touched1 = new Set<number>(), touched4 = new Set<number>();
    const fd = openSync(join(big, 'db'), 'r+');
    for (let i = 0; i < pages; i++) {
      const off = Math.floor(rand() * ((FILE_MIB * MiB) / 4096)) * 4096;
      writeSync(fd, randomBytes(4096), 0, 4096, off);
      touched1.add(Math.floor(off / MiB));
      touched4.add(Math.floor(off / (4 * MiB)));
    }
    closeSync(fd);
    t = performance.now();
    const inc = await store.snapshot('bench', big);
    const incMs = performance.now() - t;
    await store.close();
    return {
      'volumes.chunker_mib_s': { value: Math.max(...runs), unit: 'MiB/s', goal: '>= 300 (STACK-NOTES: plain TS FastCDC)', runs },
      'volumes.chunk_hash_worker_mib_s': { value: workerMiBs, unit: 'MiB/s', fileMiB: FILE_MIB },
      'volumes.first_snapshot_ms': { value: firstMs, unit: 'ms', fileMiB: FILE_MIB, newBytes: first.newBytes },
      'volumes.snapshot_loop_delay_max_ms': { value: loop.max / 1e6, unit: 'ms', goal: 'well under 250 (a heartbeat)', p99: loop.percentile(99) / 1e6 },
      'volumes.unchanged_snapshot_ms': { value: median(unchanged), unit: 'ms', goal: '<= 500', runs: unchanged, files: first.files, newBytes: unchangedNew },
      'volumes.incremental_ms': { value: incMs, unit: 'ms', goal: '<= 5000 (local capture only; over the network: volumes.replicated_incremental_ms)', pauseMs: inc.pauseMs },
      'volumes.incremental_bytes': {
        value: inc.newBytes, unit: 'bytes', goal: '<= 64 MiB for 1 GiB',
        changedBytes: pages * 4096, fixed1MiBBytes: touched1.size * MiB, fixed4MiBBytes: touched4.size * 4 * MiB, fileBytes: FILE_MIB * MiB,
      },
      'volumes.pause_ms': { value: inc.pauseMs, unit: 'ms', goal: '<= 250 (p99 under a writer: volumes.pause_p99_ms)' },
    };
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
