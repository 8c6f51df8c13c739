import type { Etcd3 } from 'etcd3';
import { Readable } from 'node:stream';
import { KEYS } from '../consensus/cluster-store.ts';
import { UserError } from '../core/errors.ts';
import { applyPatch, newServiceSpec, type ServiceInputParsed, type ServicePatch } from '../core/service-spec.ts';
import type { DrainMark, ServiceSpec, ServiceView } from '../core/service-types.ts';
import type { Catalog } from './catalog.ts';
import type { DockerEngine } from './docker-engine.ts';
import { serviceView } from './service-views.ts';

export interface ServiceManagerDeps {
  catalog: Catalog;
  client: () => Etcd3 | undefined;
  engine: DockerEngine;
  selfId: string;
}

/** The etcd client once this node is connected and its catalog loaded; else a clear 503. */
export function readyClient(d: { client: () => Etcd3 | undefined; catalog: { ready: boolean } }): Etcd3 {
  const client = d.client();
  if (!client || !d.catalog.ready) throw new UserError('not_ready', 'this node is not connected to a cluster yet; try again in a moment', 503);
  return client;
}

import { apiEtcdCall } from '../consensus/etcd-client.ts';
import { monoNow } from '../system/clock.ts';
export { apiEtcdCall };

/** The API's side of services: specs in etcd (transactions, never lost updates), views, logs, drain. */
export class ServiceManager {
  constructor(private readonly d: ServiceManagerDeps) {}

  private etcd(): Etcd3 {
    return readyClient(this.d);
  }

  list(): ServiceView[] {
    this.etcd();
    return this.d.catalog.services().map((s) => serviceView(this.d.catalog, s));
  }

  get(name: string): ServiceView | undefined {
    this.etcd();
    const spec = this.d.catalog.service(name);
    return spec && serviceView(this.d.catalog, spec);
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return apiEtcdCall(what, fn);
  }

  async create(input: ServiceInputParsed): Promise<ServiceView> {
    const client = this.etcd();
    const spec = newServiceSpec(input, Date.now());
    const key = KEYS.servicePrefix + spec.name;
    const res = await this.call('create the service', () => client.if(key, 'Create', '==', 0).then(client.put(key).value(JSON.stringify(spec))).commit());
    // a retry after an ambiguous error ("leader changed", a deadline) can find this very write
    // committed by the first attempt: that is a success, not "already exists"
    if (!res.succeeded && (await this.call('read the service', () => client.get(key).string())) !== JSON.stringify(spec)) throw new UserError('service_exists', `a service named "${spec.name}" already exists (see warren service inspect ${spec.name}; change it with warren service update)`, 409);
    return this.viewAfterWrite(spec);
  }

  async update(name: string, patch: ServicePatch): Promise<ServiceView> {
    const client = this.etcd();
    const key = KEYS.servicePrefix + name;
    // read-modify-write under a revision compare: concurrent updates never overwrite each other
    for (let attempt = 0; attempt < 5; attempt++) {
      const res = await this.call('read the service', () => client.get(key).exec());
      const kv = res.kvs[0];
      if (!kv) throw notFound(name);
      const next = applyPatch(JSON.parse(kv.value.toString()) as ServiceSpec, patch, Date.now());
      const txn = await this.call('update the service', () => client.if(key, 'Mod', '==', kv.mod_revision).then(client.put(key).value(JSON.stringify(next))).commit());
      if (txn.succeeded) return this.viewAfterWrite(next);
    }
    throw new UserError('conflict', `service "${name}" is being changed by someone else; try again`, 409);
  }

  /**
   * Removes the service; false when etcd has no such service. The answer rests on a read, then a
   * delete of the very revision read: a delete retried after an ambiguous error (by us, or by the
   * etcd client's own retry on another member, which we never see) finds that revision gone and
   * still means "removed". Counting deleted keys said 404 for a service the first attempt had
   * removed (chaos seed 47: an etcd pause beside a partition).
   */
  async remove(name: string): Promise<boolean> {
    const client = this.etcd();
    const key = KEYS.servicePrefix + name;
    for (let attempt = 0; attempt < 5; attempt++) {
      const kv = (await this.call('read the service', () => client.get(key).exec())).kvs[0];
      // gone after our own delete was sent (or a concurrent remove won): removed all the same
      if (!kv) return attempt > 0;
      const txn = await this.call('remove the service', () => client.if(key, 'Mod', '==', kv.mod_revision).then(client.delete().key(key)).commit());
      if (txn.succeeded) return true;
    }
    throw new UserError('conflict', `service "${name}" is being changed by someone else; try again`, 409);
  }

  /** The catalog learns of a write within milliseconds through its watch; answer with what was written. */
  private async viewAfterWrite(spec: ServiceSpec): Promise<ServiceView> {
    const deadline = monoNow() + 1000;
    while (this.d.catalog.service(spec.name)?.updatedAt !== spec.updatedAt && monoNow() < deadline) await new Promise((r) => setTimeout(r, 10));
    return serviceView(this.d.catalog, this.d.catalog.service(spec.name) ?? spec);
  }

  /** Marks a node draining (its replicas move off, one at a time) or active again. */
  async drain(nameOrId: string, drain: boolean): Promise<{ nodeId: string; name: string; draining: boolean }> {
    const client = this.etcd();
    const node = this.d.catalog.nodes().find((n) => n.id === nameOrId || n.name === nameOrId);
    if (!node) throw new UserError('not_found', `no admitted node named "${nameOrId}" (see warren members)`, 404);
    const key = KEYS.drainPrefix + node.id;
    const mark: DrainMark = { nodeId: node.id, since: Date.now() };
    await this.call<unknown>('mark the node', () => (drain ? client.put(key).value(JSON.stringify(mark)).exec() : client.delete().key(key).exec()));
    return { nodeId: node.id, name: node.name, draining: drain };
  }

  /** How many replicas are still assigned to a node (drain and leave wait for 0). */
  assignedTo(nodeId: string): number {
    let n = 0;
    for (const v of this.d.catalog.maps.assignments.values()) n += v.value.slots.filter((s) => s.nodeId === nodeId).length;
    return n;
  }

  /**
   * A replica's container log, from whichever node runs it: this node's Docker directly, another
   * node's through its API (`local=1` there, so it never forwards again).
   */
  async logs(name: string, opts: { follow: boolean; tail: number; replica?: number; local?: boolean }, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    const view = this.get(name);
    if (!view) throw notFound(name);
    const candidates = view.replicas.filter((r) => (opts.replica === undefined ? r.nodeId !== null : r.slot === opts.replica));
    if (opts.replica !== undefined && !candidates.length) throw new UserError('not_found', `service "${name}" has no replica ${opts.replica} (it has ${view.desired})`, 404);
    const r = candidates.find((c) => c.state === 'running') ?? candidates.find((c) => c.nodeId !== null);
    if (!r?.nodeId) throw new UserError('no_replica', `service "${name}" has no replica placed on a node yet`, 409);
    if (r.nodeId === this.d.selfId) {
      const containerId = this.d.catalog.status(name, r.slot)?.containerId;
      if (!containerId) throw new UserError('no_replica', `replica ${r.slot} of "${name}" has no container yet (${r.state})`, 409);
      return this.d.engine.logs(containerId, opts);
    }
    if (opts.local) throw new UserError('not_here', `replica ${r.slot} of "${name}" does not run on this node`, 409);
    const api = this.d.catalog.nodes().find((n) => n.id === r.nodeId)?.api;
    if (!api) throw new UserError('no_replica', `the node running replica ${r.slot} of "${name}" is unknown`, 409);
    const q = new URLSearchParams({ follow: opts.follow ? '1' : '0', tail: String(opts.tail), replica: String(r.slot), local: '1' });
    const res = await fetch(`${api}/v1/services/${encodeURIComponent(name)}/logs?${q}`, { signal }).catch(() => undefined);
    if (!res?.ok || !res.body) throw new UserError('node_unreachable', `could not read the log from ${r.nodeName ?? r.nodeId} (${api})`, 502);
    return Readable.fromWeb(res.body as never);
  }
}

const notFound = (name: string) => new UserError('not_found', `no service named "${name}" (see warren service ls)`, 404);
