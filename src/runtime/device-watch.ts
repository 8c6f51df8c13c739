/**
 * Which of the host devices the cluster's services ask for this node has (RuntimeNode.devices):
 * checked when the services change and every few seconds (a device plugged in or out), and
 * published to this node's runtime record when the answer changes, so that the scheduler places a
 * service with devices only on nodes that have them all (core/scheduler-place.ts).
 */
import { statSync } from 'node:fs';
import { devicesOf } from '../core/scheduler-place.ts';
import type { ServiceSpec } from '../core/service-types.ts';

/** What Docker's `--device` takes: a device node, or a directory of them (/dev/dri); links are followed (/dev/serial/by-id/...). */
export function hasDevice(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isCharacterDevice() || st.isBlockDevice() || st.isDirectory();
  } catch {
    return false;
  }
}

/** The devices `services` ask for → whether this node has each. */
export function checkDevices(services: readonly Pick<ServiceSpec, 'options'>[], has: (path: string) => boolean = hasDevice): Record<string, boolean> {
  const paths = [...new Set(services.flatMap((s) => devicesOf(s)))].sort();
  return Object.fromEntries(paths.map((p) => [p, has(p)]));
}

export interface DeviceWatchDeps {
  services: () => ServiceSpec[];
  /** the catalog is read and a client is attached */
  ready: () => boolean;
  /** writes the answer to this node's runtime record; false: not written (tried again at the next check) */
  publish: (devices: Record<string, boolean>) => Promise<boolean>;
  intervalMs: number;
}

export class DeviceWatch {
  private timer: NodeJS.Timeout | undefined;
  /** the answer last written (JSON); undefined: none since the last client change */
  private written: string | undefined;
  /** the check under way (every write goes through it, so that an older answer never lands after a newer one) */
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly d: DeviceWatchDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.d.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** A new etcd client: the record is written afresh at the next check. */
  forget(): void {
    this.written = undefined;
  }

  /** Whether the record holds the current answer (as of the last check). */
  get published(): boolean {
    return this.written !== undefined;
  }

  /** Checks, and writes the answer if it changed; resolves once the record holds what was found. */
  check(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
    return this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      if (!this.d.ready()) return;
      const next = checkDevices(this.d.services());
      const key = JSON.stringify(next);
      if (key !== this.written && (await this.d.publish(next))) this.written = key;
    } while (this.again);
  }
}
