/**
 * Each chaos node's data dir on a disk of its own: a 512 MiB ext4 filesystem in an image file,
 * mounted through a loop device. The fill-disk fault fills that disk and no other; the slow-disk
 * fault throttles that loop device's I/O (the kernel's blkio throttle, cgroup v1, or io.max on
 * cgroup v2) so every write and fsync there (etcd's WAL, the volume store, the agent's files)
 * waits as on a failing SD card. Root only, as the rest of the chaos run.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/agents.ts';

const execFileP = promisify(execFile);

export interface OwnDisk {
  dir: string;
  image: string;
  /** the loop device's "major:minor" */
  device: string;
  /** the throttle files written for it (emptied again by unthrottle) */
  throttled: string[];
}

/** the disks mounted and not yet unmounted (Ctrl-C unmounts them too) */
const mounted = new Set<OwnDisk>();

function majorMinor(dev: number): string {
  return `${(dev >> 8) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
}

export async function ownDisk(): Promise<OwnDisk> {
  const base = await tempDir('warren-chaos-');
  const dir = join(base, 'data');
  const image = join(base, 'disk.img');
  await mkdir(dir);
  await execFileP('truncate', ['-s', '512M', image]);
  // -m 0: no blocks kept for root (the agent runs as root: the disk must really fill)
  await execFileP('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
  // mount's own loop device is detached again when it is unmounted
  await execFileP('mount', ['-o', 'loop', image, dir]);
  await execFileP('chmod', ['0700', dir]);
  const disk: OwnDisk = { dir, image, device: majorMinor(statSync(dir).dev), throttled: [] };
  mounted.add(disk);
  return disk;
}

/** The throttle files of process `pid`'s cgroup: blkio (v1) or io.max (v2). */
function throttleFiles(pid: number): { v1: string[] } | { v2: string } | undefined {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:([^:]*,)?blkio(,[^:]*)?:/.test(l));
  if (v1) {
    const path = join('/sys/fs/cgroup/blkio', v1.slice(v1.lastIndexOf(':') + 1));
    return { v1: ['read_iops', 'write_iops'].map((k) => join(path, `blkio.throttle.${k}_device`)) };
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  return v2 ? { v2: join('/sys/fs/cgroup', v2.slice(3), 'io.max') } : undefined;
}

/**
 * Limits the disk to `iops` reads and as many writes a second for the processes in agent `pid`'s
 * cgroup (only this node uses this device). Returns why it could not, or undefined.
 */
export function throttle(disk: OwnDisk, pid: number, iops: number): string | undefined {
  try {
    const files = throttleFiles(pid);
    if (!files) return 'no cgroup to throttle in';
    if ('v1' in files) {
      for (const f of files.v1) {
        writeFileSync(f, `${disk.device} ${iops}`);
        disk.throttled.push(f);
      }
    } else {
      writeFileSync(files.v2, `${disk.device} riops=${iops} wiops=${iops}`);
      disk.throttled.push(files.v2);
    }
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export function unthrottle(disk: OwnDisk): void {
  for (const f of disk.throttled.splice(0)) {
    try {
      writeFileSync(f, f.endsWith('io.max') ? `${disk.device} riops=max wiops=max` : `${disk.device} 0`);
    } catch {
      // the cgroup went with its processes
    }
  }
}

/**
 * How long three 4 KiB writes, each with its fsync, take on the disk now (ms): what etcd's WAL
 * sees. Three, as the throttle lets a first few through at full speed.
 */
export async function fsyncMs(disk: OwnDisk): Promise<number> {
  const t0 = performance.now();
  const f = await open(join(disk.dir, 'chaos-fsync-probe'), 'w');
  try {
    for (let i = 0; i < 3; i++) {
      await f.write(Buffer.alloc(4096, i + 1), 0, 4096, i * 4096);
      await f.sync();
    }
  } finally {
    await f.close();
  }
  return Math.round(performance.now() - t0);
}

export async function unmountAll(say: (line: string) => void): Promise<void> {
  for (const disk of mounted) {
    unthrottle(disk);
    // lazily: the agents may still hold files there until cleanupAll kills them; the dir is then a plain dir
    await execFileP('umount', ['-l', disk.dir]).then(
      () => {
        mounted.delete(disk);
        return rm(disk.image, { force: true });
      },
      (err: Error) => say(`chaos: umount ${disk.dir}: ${err.message}`),
    );
  }
}
