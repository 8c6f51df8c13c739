import type { Etcd3 } from 'etcd3';
import { UserError } from '../core/errors.ts';
import { VOLUME_KEYS, type VolumeMeta } from '../core/volumes/volume-records.ts';
import { slotVolumes, stackOfVolume, volumeUsers } from '../core/volumes/stack-volumes.ts';
import { volumeView, type ViewNode, type VolumeView } from '../core/volumes/volume-view.ts';
import { ownerSafeAgoMs, type VolumeWord } from '../core/volumes/owner-safe-ago.ts';
import { checkPolicy, type EffectivePolicy } from '../core/volumes/volume-policy.ts';
import type { RetentionPolicy } from '../core/volumes/retention.ts';
import type { NodeState } from '../core/views.ts';
import type { CallAuth } from '../volumes/replication.ts';
import type { Catalog } from './catalog.ts';
import type { VolumeDriver } from './volume-driver.ts';
import type { Transfer } from './volume-replicate.ts';
import { safeAgoSources } from './volume-risk.ts';
import { agentPolicy } from './volume-upkeep.ts';
import { monoNow } from '../system/clock.ts';

/** One line of `warren volume snapshots`. */
export interface SnapshotListItem {
  id: string;
  seq: number;
  epoch: number;
  time: number;
  sizeBytes: number;
  newBytes: number;
  pauseMs: number;
  /** nodes whose newest complete copy is this snapshot */
  copies: number;
}

/** `GET|PUT /v1/volumes/:name/policy`: the policy the volume runs on, and which of its fields are the defaults. */
export interface PolicyView {
  volume: string;
  policy: { intervalMs: number; retention: RetentionPolicy };
  /** `intervalMs`, `retention.hourly`, ...: not set for this volume (the agent's default) */
  defaults: string[];
}

const policyView = (volume: string, p: EffectivePolicy): PolicyView => ({ volume, policy: { intervalMs: p.intervalMs, retention: p.retention }, defaults: p.defaults });

export interface VolumeApiDeps {
  catalog: Catalog;
  driver: VolumeDriver;
  selfId: string;
  liveness: () => Record<string, { state: NodeState } | undefined>;
  /** another owner's word on its volumes, from its heartbeats (GossipService.volumeWord) */
  volumeWord: (node: string) => VolumeWord | undefined;
  sign: Exclude<CallAuth, string>;
}

/**
 * What `GET /v1/volumes...` and `warren volume` answer: views from the etcd records (any node),
 * snapshot lists from the store of the node that owns the volume (asked over the member-signed
 * internal routes when that is another node).
 */
export class VolumeApi {
  constructor(private readonly d: VolumeApiDeps) {}

  private nodes(): Map<string, ViewNode> {
    const live = this.d.liveness();
    return new Map(this.d.catalog.nodes().map((n) => [n.id, { name: n.name, alive: n.id === this.d.selfId || live[n.id]?.state === 'alive' }]));
  }

  list(): VolumeView[] {
    const nodes = this.nodes();
    const copies = [...this.d.catalog.maps.volumeCopies.values()].map((v) => v.value);
    const now = Date.now();
    // the owner's own word on an idle volume: here, or from its heartbeats
    const sources = safeAgoSources(this.d.driver, this.d.selfId, now, this.d.volumeWord);
    const safeAgo = (m: VolumeMeta) => ownerSafeAgoMs(m.name, m.owner, sources);
    const services = this.d.catalog.services();
    return [...this.d.catalog.maps.volumeMeta.values()].filter((v) => !v.value.removed).map((v) => {
      const view = volumeView(v.value, copies, nodes, now, safeAgo(v.value));
      // a stack's volume: every service of the stack that mounts it (kept after its stack is removed without --volumes)
      const stack = stackOfVolume(view.name);
      if (stack === undefined) return view;
      const users = [...new Set(volumeUsers(view.name, services).map((u) => u.service))];
      return { ...view, stack, service: users.length ? users.join(',') : view.service };
    }).sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): VolumeView {
    const v = this.list().find((x) => x.name === name);
    if (!v) throw new UserError('not_found', `no volume "${name}" (see warren volume ls)`, 404);
    return v;
  }

  /** `warren volume inspect`: the view and the volume's policy */
  inspect(name: string): VolumeView & { policy: PolicyView } {
    return { ...this.get(name), policy: this.policy(name) };
  }

  policy(name: string): PolicyView {
    this.get(name);
    return policyView(name, this.d.driver.policy(name));
  }

  /**
   * `PUT /v1/volumes/:name/policy`: writes the volume's policy record (a whole record: `{}` or
   * `{ "reset": true }` deletes it, every field back to its default), in a transaction on the
   * volume's record (a volume removed meanwhile gets none). Answers once this node's catalog has
   * it, so a read here right after sees it.
   */
  async setPolicy(name: string, body: unknown, client: Etcd3 | undefined): Promise<PolicyView> {
    this.get(name);
    const check = checkPolicy(body);
    if (!check.ok) throw new UserError('bad_policy', check.message, 400);
    if (!client) throw new UserError('not_ready', 'this node has no etcd connection', 503);
    const key = VOLUME_KEYS.policyPrefix + name;
    const empty = Object.keys(check.record).length === 0;
    for (let attempt = 0; ; attempt++) {
      const meta = this.d.catalog.maps.volumeMeta.get(name);
      if (!meta || meta.value.removed) throw new UserError('not_found', `no volume "${name}" (see warren volume ls)`, 404);
      const write = empty ? client.delete().key(key) : client.put(key).value(JSON.stringify(check.record));
      const res = await client.if(VOLUME_KEYS.metaPrefix + name, 'Mod', '==', meta.modRevision).then(write).commit();
      if (res.succeeded) {
        await this.caughtUp(name, empty ? undefined : BigInt(res.header.revision));
        break;
      }
      if (attempt === 2) throw new UserError('conflict', `volume ${name} changed meanwhile: try again`, 409);
      await this.d.catalog.reload(); // its owner changed meanwhile (a take-over): read it again
    }
    return policyView(name, agentPolicy(empty ? undefined : check.record, this.d.driver.d.intervalMs));
  }

  /**
   * Until the catalog's watch brought the policy written at `revision` (undefined: deleted).
   * Bounded: a watch that missed it is covered by the catalog's periodic read.
   */
  private async caughtUp(name: string, revision: bigint | undefined): Promise<void> {
    const deadline = monoNow() + 2000;
    for (;;) {
      const held = this.d.catalog.maps.volumePolicies.get(name);
      if (revision === undefined ? !held : held && BigInt(held.modRevision) >= revision) return;
      if (monoNow() > deadline) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * `warren volume rm`: refused while a service's spec mounts it; leaves a tombstone in etcd (every
   * node then deletes its copy and snapshots) and deletes the copy records.
   */
  async remove(name: string, client: Etcd3 | undefined): Promise<{ removed: string }> {
    this.get(name);
    for (const svc of this.d.catalog.services()) {
      for (let slot = 0; slot < svc.replicas; slot++) {
        if (slotVolumes(svc.name, slot, svc).some((v) => v.name === name)) throw new UserError('volume_in_use', `volume ${name} is used by service ${svc.name}: remove the service (or its volume) first`, 409);
      }
    }
    if (!client) throw new UserError('not_ready', 'this node has no etcd connection', 503);
    if (!(await tombstoneVolume(client, this.d.catalog, name))) throw new UserError('conflict', `volume ${name} changed meanwhile: try again`, 409);
    return { removed: name };
  }

  /** This node's snapshots of the volume (the owner's are the whole lineage). */
  localSnapshots(name: string): SnapshotListItem[] {
    const copies = [...this.d.catalog.maps.volumeCopies.values()].map((v) => v.value).filter((c) => c.volume === name);
    return this.d.driver.store.list(name).map((r) => ({
      id: r.id, seq: r.seq, epoch: r.epoch ?? 0, time: r.createdAt, sizeBytes: r.sizeBytes, newBytes: r.newBytes, pauseMs: r.pauseMs,
      copies: copies.filter((c) => c.snapshot === r.id).length,
    }));
  }

  async snapshots(name: string): Promise<SnapshotListItem[]> {
    return this.ownersList(name, 'snapshots', () => this.localSnapshots(name));
  }

  /** the owner's pushes of the volume under way (a node that is not the owner asks it) */
  async transfers(name: string): Promise<Transfer[]> {
    return this.ownersList(name, 'transfers', () => this.d.driver.pushes.transfers(name));
  }

  /** a list only the volume's owner holds: this node's own when it owns the volume, else the owner's */
  private async ownersList<T>(name: string, what: 'snapshots' | 'transfers', here: () => T[]): Promise<T[]> {
    this.get(name);
    const owner = this.ownerApi(name);
    if (!owner) return here();
    return ((await this.call(owner, 'GET', `/v1/volume-sync/${encodeURIComponent(name)}/${what}`)) as Record<string, T[]>)[what] ?? [];
  }

  async snapshot(name: string, wait: boolean): Promise<unknown> {
    this.get(name);
    const owner = this.ownerApi(name);
    if (!owner) return this.d.driver.snapshotNow(name, wait);
    return this.call(owner, 'POST', `/v1/volume-sync/${encodeURIComponent(name)}/snapshot`, JSON.stringify({ wait }));
  }

  /** the owner's API URL when it is another node (undefined: this one) */
  private ownerApi(name: string): string | undefined {
    const owner = this.d.catalog.maps.volumeMeta.get(name)?.value.owner;
    if (!owner || owner === this.d.selfId) return undefined;
    const api = this.d.catalog.maps.nodes.get(owner)?.value.api;
    if (!api) throw new UserError('owner_unknown', `volume ${name}: its owner ${owner} is not a known member`, 503);
    return api;
  }

  private async call(api: string, method: string, path: string, body?: string): Promise<unknown> {
    const headers = { ...(await this.d.sign(method, path, body)), ...(body ? { 'content-type': 'application/json' } : {}) };
    const res = await fetch(`${api}${path}`, { method, headers, ...(body ? { body } : {}), signal: AbortSignal.timeout(120_000) }).catch((err: Error) => {
      throw new UserError('owner_unreachable', `the volume's owner at ${api} did not answer: ${err.message}`, 503);
    });
    const out = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
    if (!res.ok) throw new UserError(out.error?.code ?? 'owner_failed', out.error?.message ?? `HTTP ${res.status}`, res.status);
    return out;
  }
}

/**
 * Leaves a removal's tombstone for the volume in etcd (every node then deletes its copy and
 * snapshots) and deletes its copy records and policy (a later volume of that name starts on the
 * defaults). False: no record, already removed, or it changed meanwhile.
 */
export async function tombstoneVolume(client: Etcd3, catalog: Catalog, name: string): Promise<boolean> {
  const meta = catalog.maps.volumeMeta.get(name);
  if (!meta || meta.value.removed) return false;
  const key = VOLUME_KEYS.metaPrefix + name;
  const res = await client.if(key, 'Mod', '==', meta.modRevision)
    .then(client.put(key).value(JSON.stringify({ ...meta.value, removed: Date.now() })), client.delete().prefix(`${VOLUME_KEYS.copyPrefix}${name}/`), client.delete().key(VOLUME_KEYS.policyPrefix + name))
    .commit();
  return res.succeeded;
}
