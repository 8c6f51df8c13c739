import { TOPICS } from '../core/topics.ts';

/**
 * User topics (`warren/user/...`) are joined on gossip only while a local subscriber listens:
 * the first subscriber of a topic joins it, the last one to go leaves it.
 */
export class UserTopicRefs {
  private readonly refs = new Map<string, number>();

  constructor(private readonly join: (topic: string) => void, private readonly leave: (topic: string) => void) {}

  add(topics: string[]): void {
    for (const t of topics.filter((t) => t.startsWith(TOPICS.userPrefix))) {
      const n = this.refs.get(t) ?? 0;
      if (n === 0) this.join(t);
      this.refs.set(t, n + 1);
    }
  }

  remove(topics: string[]): void {
    for (const t of topics.filter((t) => t.startsWith(TOPICS.userPrefix))) {
      const n = (this.refs.get(t) ?? 1) - 1;
      if (n <= 0) {
        this.refs.delete(t);
        this.leave(t);
      } else this.refs.set(t, n);
    }
  }
}
