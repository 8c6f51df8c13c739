import { readClusterFile, removeClusterFile, writeClusterFile, type ClusterMembership } from '../system/cluster-file.ts';

/**
 * Every write (and the removal) of a node's cluster.json goes through here, one after another in
 * the order asked for: a change runs when the previous one is on disk, so a read-modify-write
 * never brings back what a newer write replaced.
 */
export class ClusterFileWriter {
  /** the change in flight (the next one chains on it) */
  private changes: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataDir: string) {}

  /** `next` runs when the previous change is on disk; returning undefined writes nothing. */
  change(next: () => Promise<ClusterMembership | undefined>): Promise<void> {
    const run = this.changes.then(async () => {
      const c = await next();
      if (c) await writeClusterFile(this.dataDir, c);
    });
    this.changes = run.catch(() => undefined);
    return run;
  }

  /** Fields of the cluster file as it is on disk now (nothing when there is no file). */
  update(fields: Partial<ClusterMembership>): Promise<void> {
    return this.change(async () => {
      const current = await readClusterFile(this.dataDir);
      return current && { ...current, ...fields };
    });
  }

  remove(): Promise<void> {
    return this.change(async () => {
      await removeClusterFile(this.dataDir);
      return undefined;
    });
  }
}
