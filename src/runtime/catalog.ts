import { EventEmitter } from 'node:events';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { KEYS, type NodeRecord } from '../consensus/cluster-store.ts';
import type { AssignmentRecord, DrainMark, ReplicaStatus, RuntimeNode, ServiceSpec } from '../core/service-types.ts';
import { VOLUME_KEYS, type CopyRecord, type VolumeMeta } from '../core/volumes/volume-records.ts';
import type { VolumePolicyRecord } from '../core/volumes/volume-policy.ts';
import type { LocalVolumeRemoval, LocalVolumeRemovalAck } from '../core/compose/local-volume-removal.ts';
import { monoNow } from '../system/clock.ts';

/** A value with the etcd revision it was last modified at (the scheduler's transactions compare it). */
export interface Versioned<T> {
  value: T;
  modRevision: string;
}

/** A catalog map's values without their revisions (what the pure planners take). */
export function valuesOf<T>(m: ReadonlyMap<string, Versioned<T>>): Map<string, T> {
  return new Map([...m].map(([k, v]) => [k, v.value]));
}

const WATCHED: { prefix: string; map: keyof CatalogMaps }[] = [
  { prefix: KEYS.servicePrefix, map: 'services' },
  { prefix: KEYS.assignmentPrefix, map: 'assignments' },
  { prefix: KEYS.statusPrefix, map: 'statuses' },
  { prefix: KEYS.runtimeNodePrefix, map: 'runtimeNodes' },
  { prefix: KEYS.drainPrefix, map: 'drains' },
  { prefix: KEYS.nodePrefix, map: 'nodes' },
  { prefix: VOLUME_KEYS.metaPrefix, map: 'volumeMeta' },
  { prefix: VOLUME_KEYS.copyPrefix, map: 'volumeCopies' },
  { prefix: VOLUME_KEYS.policyPrefix, map: 'volumePolicies' },
  { prefix: KEYS.localVolumeRemovalPrefix, map: 'localVolumeRemovals' },
  { prefix: KEYS.localVolumeAckPrefix, map: 'localVolumeAcks' },
];

interface CatalogMaps {
  services: Map<string, Versioned<ServiceSpec>>;
  assignments: Map<string, Versioned<AssignmentRecord>>;
  /** keyed "<service>/<slot>" */
  statuses: Map<string, Versioned<ReplicaStatus>>;
  runtimeNodes: Map<string, Versioned<RuntimeNode>>;
  drains: Map<string, Versioned<DrainMark>>;
  nodes: Map<string, Versioned<NodeRecord>>;
  /** replicated volumes (core/volumes/volume-records.ts): by volume name, and by "<volume>/<node>" */
  volumeMeta: Map<string, Versioned<VolumeMeta>>;
  volumeCopies: Map<string, Versioned<CopyRecord>>;
  /** a volume's own snapshot interval and retention, by volume name (core/volumes/volume-policy.ts) */
  volumePolicies: Map<string, Versioned<VolumePolicyRecord>>;
  /** stack rm --volumes of per-node Docker volumes: orders by volume name, acks by "<volume>/<node>" */
  localVolumeRemovals: Map<string, Versioned<LocalVolumeRemoval>>;
  localVolumeAcks: Map<string, Versioned<LocalVolumeRemovalAck>>;
}

/**
 * This node's cached copy of the runtime's keys in etcd, kept current by one watch (changes
 * arrive within milliseconds) plus a check every few seconds that covers a watch that missed
 * something while etcd reconfigured: it reads etcd's revision (one request) and reads everything
 * again only if the revision moved since the last full read. Idle, nothing moves it, and the 8
 * reads (and the 'change' that made the reconciler and the scheduler run) every 5 s were most of
 * an idle member's etcd requests. Emits 'change' after every update, with the name of the map a
 * watched change touched (none after a full read).
 */
export class Catalog extends EventEmitter {
  readonly maps: CatalogMaps = {
    services: new Map(),
    assignments: new Map(),
    statuses: new Map(),
    runtimeNodes: new Map(),
    drains: new Map(),
    nodes: new Map(),
    volumeMeta: new Map(),
    volumeCopies: new Map(),
    volumePolicies: new Map(),
    localVolumeRemovals: new Map(),
    localVolumeAcks: new Map(),
  };
  /** when the last successful full read started: the catalog knows etcd as of then (0: never with the current client) */
  loadedAt = 0;
  private client: Etcd3 | undefined;
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  /** etcd's revision as of the last full read (the lowest of its reads): undefined before one */
  private readRevision: bigint | undefined;
  /** keys the watch deleted, by the delete's revision: a full read older than that must not bring them back */
  private readonly deletedAt = new Map<string, bigint>();

  constructor(private readonly logger: Logger, private readonly recheckMs = 5000) {
    super();
  }

  get ready(): boolean {
    return this.client !== undefined && this.loadedAt > 0;
  }

  /**
   * Follows a new etcd client (or none, while this node is not a member). `sameCluster`: it
   * replaces a working client to the same etcd cluster (the voters changed), so what the catalog
   * holds stays true as of when it was read, and the catalog stays ready while it reads again
   * (it went unready for the reconnect, and the node's API answered 503 meanwhile).
   */
  async attach(client: Etcd3 | undefined, sameCluster = false): Promise<void> {
    const gen = ++this.generation;
    this.detachCurrent();
    const keep = sameCluster && client !== undefined && this.client !== undefined;
    this.client = client;
    if (!keep) {
      this.loadedAt = 0;
      this.readRevision = undefined;
    }
    if (!client) return;
    this.timer = setInterval(() => void this.recheck(gen), this.recheckMs);
    try {
      const watcher = await client.watch().prefix('/warren/').create();
      if (gen !== this.generation) return void watcher.cancel().catch(() => undefined);
      this.watcher = watcher;
      watcher.on('put', (kv: IKeyValue) => this.apply(kv.key.toString(), kv.value.toString(), kv.mod_revision));
      watcher.on('delete', (kv: IKeyValue) => this.apply(kv.key.toString(), null, kv.mod_revision));
      watcher.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'catalog watch error'));
      // a reconnected watch may have missed changes: read everything again
      watcher.on('connected', () => void this.reload(gen));
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'catalog watch failed; relying on periodic reads');
    }
    await this.reload(gen);
  }

  private detachCurrent(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    void this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
  }

  stop(): void {
    this.generation++;
    this.detachCurrent();
    this.client = undefined;
  }

  /** The periodic check: a full read only if etcd's revision moved since the last one. */
  private async recheck(gen: number): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (this.readRevision !== undefined) {
      try {
        // linearizable (the default): the revision as of now, whichever member answers
        const res = await client.get(KEYS.servicePrefix).exec();
        if (gen !== this.generation) return;
        if (BigInt(res.header.revision) === this.readRevision) return;
      } catch (err) {
        this.logger.debug({ err: (err as Error).message }, 'catalog revision read failed');
        return;
      }
    }
    await this.reload(gen);
  }

  /**
   * Reads every watched prefix again and replaces the maps with what it read, except what the
   * watch brought meanwhile: a read answered before a change whose watch event came in while the
   * other reads were under way must not put the older value back. (It did: a new volume owner's
   * catalog went back to the old owner's record, so it let the old owner's stale snapshot in and
   * set its own writes aside as "fenced".)
   */
  async reload(gen = this.generation): Promise<void> {
    const client = this.client;
    if (!client) return;
    const startedAt = monoNow();
    try {
      const results = await Promise.all(WATCHED.map((w) => client.getAll().prefix(w.prefix).exec()));
      if (gen !== this.generation) return;
      const revisions = results.map((r) => BigInt(r.header.revision));
      this.readRevision = revisions.reduce((a, b) => (b < a ? b : a));
      WATCHED.forEach((w, i) => {
        const map = this.maps[w.map] as Map<string, Versioned<unknown>>;
        const read = new Map<string, Versioned<unknown>>();
        for (const kv of results[i]!.kvs) {
          const key = kv.key.toString();
          if ((this.deletedAt.get(key) ?? -1n) > revisions[i]!) continue; // deleted since this read
          const value = this.parse(key, kv.value.toString());
          if (value !== undefined) read.set(key.slice(w.prefix.length), { value, modRevision: kv.mod_revision });
        }
        // newer than this read (the watch brought it meanwhile): kept
        for (const [id, held] of map) {
          const got = read.get(id);
          if (BigInt(held.modRevision) > (got ? BigInt(got.modRevision) : revisions[i]!)) read.set(id, held);
        }
        map.clear();
        for (const [id, v] of read) map.set(id, v);
      });
      for (const [key, rev] of this.deletedAt) if (rev <= this.readRevision) this.deletedAt.delete(key);
      this.loadedAt = startedAt;
      this.emit('change');
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'catalog read failed');
    }
  }

  private parse(key: string, value: string): unknown {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      this.logger.warn({ key }, 'ignoring a value that is not JSON');
      return undefined;
    }
  }

  /** A change the watch brought (never one older than what the map holds). */
  private apply(key: string, value: string | null, modRevision: string): void {
    const w = WATCHED.find((x) => key.startsWith(x.prefix));
    if (!w) return;
    const id = key.slice(w.prefix.length);
    const map = this.maps[w.map] as Map<string, Versioned<unknown>>;
    const held = map.get(id);
    if (held && BigInt(held.modRevision) > BigInt(modRevision)) return;
    if (value === null) {
      map.delete(id);
      this.deletedAt.set(key, BigInt(modRevision));
    } else {
      const parsed = this.parse(key, value);
      if (parsed !== undefined) map.set(id, { value: parsed, modRevision });
    }
    // which map changed, for listeners that care about one (a full read names none: everything may have)
    this.emit('change', w.map);
  }

  services(): ServiceSpec[] {
    return [...this.maps.services.values()].map((v) => v.value).sort((a, b) => a.name.localeCompare(b.name));
  }
  service(name: string): ServiceSpec | undefined {
    return this.maps.services.get(name)?.value;
  }
  assignment(name: string): AssignmentRecord | undefined {
    return this.maps.assignments.get(name)?.value;
  }
  statuses(): ReplicaStatus[] {
    return [...this.maps.statuses.values()].map((v) => v.value);
  }
  status(service: string, slot: number): ReplicaStatus | undefined {
    return this.maps.statuses.get(`${service}/${slot}`)?.value;
  }
  nodes(): NodeRecord[] {
    return [...this.maps.nodes.values()].map((v) => v.value);
  }
  nodeName(id: string): string | undefined {
    return this.maps.nodes.get(id)?.value.name ?? this.maps.runtimeNodes.get(id)?.value.name;
  }
  runtimeNode(id: string): RuntimeNode | undefined {
    return this.maps.runtimeNodes.get(id)?.value;
  }
  draining(id: string): boolean {
    return this.maps.drains.has(id);
  }
}
