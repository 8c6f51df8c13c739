import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { KEYS } from '../consensus/cluster-store.ts';
import { replicaKey, type ActualContainer, type DesiredReplica, type ReplicaMemory } from '../core/reconcile-plan.ts';
import type { ReplicaStatus } from '../core/service-types.ts';
import { messageOf } from '../core/errors.ts';
import type { Catalog } from './catalog.ts';
import type { EngineIdentity } from './docker-engine.ts';
import type { StackHostPorts } from './host-ports.ts';
import { hostNetworkPorts } from './mesh-container.ts';

/*
 * The reconciler's reports (reconciler.ts): each of this node's replicas' state, written to etcd
 * when it changed, and service.started / service.failed once per transition.
 */

/** What the reconciler knows of a replica besides its container. */
export interface ReplicaFacts {
  memory?: ReplicaMemory;
  /** an image pull under way ('pulling', or Docker's progress line) */
  progress?: string;
  /** why it may not start yet: its depends_on gate, or its volumes' data */
  held?: string;
}

export interface ReplicaReporterDeps {
  catalog: Catalog;
  client: () => Etcd3 | undefined;
  logger: Logger;
  event: (name: 'service.started' | 'service.failed', payload: Record<string, unknown>) => void;
  stackPorts?: StackHostPorts;
  facts: (key: string) => ReplicaFacts;
  /** the ports a host-network container was found listening on (host-listen-ports.ts) */
  listening?: (containerId: string) => ReplicaStatus['ports'] | undefined;
}

export class ReplicaReporter {
  private readonly reported = new Map<string, ReplicaStatus['state']>();

  constructor(private readonly d: ReplicaReporterDeps) {}

  /**
   * Writes each assigned replica's state to etcd when it changed (all pending with `dockerDown`
   * as the reason when the engine does not answer); removes this node's stale reports.
   */
  async report(id: EngineIdentity, desired: DesiredReplica[], actual: ActualContainer[], dockerDown?: string): Promise<void> {
    const client = this.d.client();
    if (!client) return;
    const writes: Promise<unknown>[] = [];
    for (const r of desired) {
      const status = dockerDown ? this.downStatus(r, id, dockerDown) : this.statusOf(r, id, actual);
      const current = this.d.catalog.status(r.service, r.slot);
      if (current && sameStatus(current, status)) continue;
      writes.push(client.put(`${KEYS.statusPrefix}${r.service}/${r.slot}`).value(JSON.stringify(status)).exec());
      this.announce(r, status);
    }
    const mine = new Set(desired.map((r) => `${r.service}/${r.slot}`));
    for (const [key, v] of this.d.catalog.maps.statuses) {
      if (v.value.nodeId !== id.nodeId || mine.has(key)) continue;
      // only if nobody (the slot's new node) wrote it since
      writes.push(client.if(KEYS.statusPrefix + key, 'Mod', '==', v.modRevision).then(client.delete().key(KEYS.statusPrefix + key)).commit());
    }
    await Promise.all(writes.map((w) => w.catch((err: unknown) => this.d.logger.debug({ err: messageOf(err) }, 'status write failed'))));
  }

  private base(r: DesiredReplica, id: EngineIdentity, memory: ReplicaMemory | undefined) {
    return { service: r.service, slot: r.slot, nodeId: id.nodeId, generation: r.generation, addr: id.addr, restarts: memory?.restarts ?? 0, updatedAt: Date.now() };
  }

  private downStatus(r: DesiredReplica, id: EngineIdentity, reason: string): ReplicaStatus {
    return { ...this.base(r, id, this.d.facts(replicaKey(r)).memory), state: 'pending', reason, ports: [] };
  }

  private statusOf(r: DesiredReplica, id: EngineIdentity, actual: ActualContainer[]): ReplicaStatus {
    const key = replicaKey(r);
    const c = actual.find((a) => replicaKey(a) === key);
    const { memory: m, progress, held } = this.d.facts(key);
    const base = this.base(r, id, m);
    if (progress) return { ...base, state: 'pulling', ports: [], ...(progress !== 'pulling' ? { progress } : {}) };
    // paused is running: a volume snapshot freezes the container for its capture (docker pause),
    // and a replica reported 'starting' then would drop out of the routes until the next pass
    if (c?.state === 'running' || c?.state === 'paused') return { ...base, state: 'running', ports: hostNetworkPorts(r.spec, this.d.listening?.(c.id)) ?? (c.stack ? this.d.stackPorts?.get(c.id) : undefined) ?? c.ports, containerId: c.id, ...(c.health ? { health: c.health } : {}) };
    if (held && !c) return { ...base, state: 'pending', reason: held, ports: [] };
    if (m?.failure) return { ...base, state: 'failed', failure: m.failure.kind, reason: m.failure.reason, ports: [] };
    if (c?.state === 'exited') {
      const willRestart = r.spec.restart === 'always' || (r.spec.restart === 'on-failure' && c.exitCode !== 0);
      const reason = `exited with code ${c.exitCode ?? '?'}${willRestart ? '; restarting' : ''}`;
      return { ...base, state: willRestart ? 'failed' : 'exited', ...(willRestart ? { failure: 'crash' as const } : {}), reason, ports: [], containerId: c.id };
    }
    return { ...base, state: c ? 'starting' : 'pending', ports: [], ...(c ? { containerId: c.id } : {}) };
  }

  /** service.started / service.failed, once per transition of this node's replica. */
  private announce(r: DesiredReplica, s: ReplicaStatus): void {
    const key = replicaKey(r);
    const before = this.reported.get(key);
    this.reported.set(key, s.state);
    if (before === s.state) return;
    const payload = { service: r.service, slot: r.slot, node: s.nodeId, generation: r.generation, addr: s.addr, ports: s.ports, ...(s.reason ? { reason: s.reason } : {}) };
    if (s.state === 'running') this.d.event('service.started', payload);
    else if (s.state === 'failed') this.d.event('service.failed', payload);
  }
}

function sameStatus(a: ReplicaStatus, b: ReplicaStatus): boolean {
  return JSON.stringify({ ...a, updatedAt: 0 }) === JSON.stringify({ ...b, updatedAt: 0 });
}
