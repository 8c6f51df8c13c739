import { prng } from '../../test/helpers/prng.ts';

export interface NetworkConfig {
  /** probability that one message to one receiver is lost */
  loss: number;
  /** one-way latency, uniform in [min, max] ms */
  latencyMs: [number, number];
  seed: number;
}

/**
 * The network between simulated nodes: seeded loss and latency, and partitions as groups (a
 * message crosses only within a group). Loss is applied end to end per receiver, i.e. without
 * gossipsub's redundant mesh paths: a pessimistic model.
 */
export class Network {
  readonly random: () => number;
  private group = new Map<number, number>();

  constructor(readonly config: NetworkConfig) {
    this.random = prng(config.seed);
  }

  latency(): number {
    const [lo, hi] = this.config.latencyMs;
    return lo + (hi - lo) * this.random();
  }

  /** Whether a message from `a` reaches `b` (partition, then loss). */
  delivers(a: number, b: number): boolean {
    return this.connected(a, b) && this.random() >= this.config.loss;
  }

  connected(a: number, b: number): boolean {
    if (this.group.size === 0) return true;
    return (this.group.get(a) ?? 0) === (this.group.get(b) ?? 0);
  }

  /** Puts `nodes` in a group of their own (0 is everybody else); heal() joins all again. */
  partition(nodes: number[], group = 1): void {
    for (const n of nodes) this.group.set(n, group);
  }

  heal(): void {
    this.group.clear();
  }
}
