/**
 * One piece of work at a time per volume: a scheduled snapshot cycle, `warren volume snapshot`,
 * an operation (restore, clone, export...), forgetting a removed volume. Scheduled cycles give
 * way: while anyone waits for a volume, no scheduled cycle starts on it. On a loaded machine
 * cycles longer than the interval follow each other at once, and a waiter that polled for a free
 * moment never saw one (`warren volume snapshot` timed out after 30 s under heavy writes: ci65).
 * Waiters are woken when the volume is released, not by polling.
 */
export class VolumeLock {
  private readonly held = new Set<string>();
  /** waiters per volume: each is woken (and tries again) at a release */
  private readonly waiters = new Map<string, Set<() => void>>();

  /** how many volumes are held now */
  get size(): number {
    return this.held.size;
  }

  isHeld(name: string): boolean {
    return this.held.has(name);
  }

  /** May a scheduled cycle start on it: free, and nobody waits for it. */
  mayStart(name: string): boolean {
    return !this.held.has(name) && !this.waiters.has(name);
  }

  /** Takes it if it is free (a scheduled cycle asks mayStart first); false when held. */
  tryTake(name: string): boolean {
    if (this.held.has(name)) return false;
    this.held.add(name);
    return true;
  }

  release(name: string): void {
    this.held.delete(name);
    for (const wake of this.waiters.get(name) ?? []) wake();
  }

  /** Waits until it is free, then takes it; false (not taken) when `timeoutMs` passed first. */
  async take(name: string, timeoutMs = Infinity): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    let set = this.waiters.get(name);
    if (!set) this.waiters.set(name, (set = new Set()));
    let wake: (() => void) | undefined;
    try {
      while (this.held.has(name)) {
        const left = until - performance.now();
        if (left <= 0) return false;
        await new Promise<void>((resolve) => {
          const timer = Number.isFinite(left) ? setTimeout(() => resolve(), left) : undefined;
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
          set.add(wake);
        });
        set.delete(wake!);
      }
      this.held.add(name);
      return true;
    } finally {
      if (wake) set.delete(wake);
      if (set.size === 0 && this.waiters.get(name) === set) this.waiters.delete(name);
    }
  }
}
