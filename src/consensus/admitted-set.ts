/**
 * The ids of the admitted nodes as this node last read them from the registry, which node-to-node
 * calls are checked against. A node just admitted has not read them yet: it refused the first
 * snapshot a member pushed to it as "not an admitted member" (ci84). So an id not in the set is
 * confirmed by reading the registry again — one read at a time, whose answer stands for
 * `holdMs` after it, so calls from an id that is truly unknown cost etcd at most one read a second.
 */
export class AdmittedSet extends Set<string> {
  private confirming: Promise<void> | undefined;

  constructor(private readonly holdMs = 1000) {
    super();
  }

  /** The set becomes `ids` (this node's own id is always in it). */
  replace(ids: Iterable<string>, self: string): void {
    const next = new Set(ids);
    next.add(self);
    for (const id of [...this]) if (!next.has(id)) this.delete(id);
    for (const id of next) this.add(id);
  }

  /** Whether `id` is admitted, reading the registry (`read`: undefined while not connected) again if it is not in the set. */
  async confirm(id: string, self: string, read: (() => Promise<string[]>) | undefined): Promise<boolean> {
    if (this.has(id)) return true;
    if (!read) return false;
    this.confirming ??= read()
      .then((ids) => this.replace(ids, self), () => undefined)
      .finally(() => setTimeout(() => (this.confirming = undefined), this.holdMs).unref());
    await this.confirming;
    return this.has(id);
  }
}
