/**
 * Where other nodes reach this node's stack containers (container port → host port), as the
 * mesh's guards listen for them (core/mesh/guard-plan.ts): the mesh writes it after each pass,
 * the reconciler reports it as the replicas' host ports. Emits 'change' when it changes.
 */
import { EventEmitter } from 'node:events';
import type { ReplicaStatus } from '../core/service-types.ts';

export class StackHostPorts extends EventEmitter {
  private byContainer = new Map<string, ReplicaStatus['ports']>();
  private key = '';

  /** A stack container's host ports; undefined: the mesh has not listed it (yet). */
  get(containerId: string): ReplicaStatus['ports'] | undefined {
    return this.byContainer.get(containerId);
  }

  /** Replaces the whole table (every running stack container of this node the mesh knows). */
  set(next: ReadonlyMap<string, ReplicaStatus['ports']>): void {
    const key = JSON.stringify([...next].sort(([a], [b]) => (a < b ? -1 : 1)));
    if (key === this.key) return;
    this.key = key;
    this.byContainer = new Map(next);
    this.emit('change');
  }
}
