import { EventEmitter } from 'node:events';
import type { WarrenEvent } from '../core/gossip-messages.ts';

/**
 * Local fan-out of events to subscribers (SSE streams), deduplicated: the same fact may arrive
 * from several nodes (every node reports what it saw), and gossip may deliver twice.
 */
export class EventHub {
  private readonly emitter = new EventEmitter();
  private readonly seen = new Map<string, number>();
  private readonly ttlMs = 60_000;

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Delivers an event once per id and once per fact key within a minute. */
  deliver(event: WarrenEvent, factKey?: string): boolean {
    const now = Date.now();
    if (this.seen.size > 10_000) {
      for (const [k, t] of this.seen) if (now - t > this.ttlMs) this.seen.delete(k);
    }
    for (const key of [`id:${event.id}`, factKey && `fact:${factKey}`]) {
      if (!key) continue;
      const at = this.seen.get(key);
      if (at !== undefined && now - at < this.ttlMs) return false;
    }
    this.seen.set(`id:${event.id}`, now);
    if (factKey) this.seen.set(`fact:${factKey}`, now);
    this.emitter.emit(event.topic, event);
    return true;
  }

  subscribe(topics: string[], listener: (e: WarrenEvent) => void): () => void {
    for (const t of topics) this.emitter.on(t, listener);
    return () => {
      for (const t of topics) this.emitter.off(t, listener);
    };
  }
}
