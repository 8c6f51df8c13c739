import { Readable } from 'node:stream';
import { UserError } from '../core/errors.ts';
import { opsRoute } from '../core/volumes/ops-route.ts';
import type { NodeState } from '../core/views.ts';
import type { CallAuth } from '../volumes/replication.ts';
import type { Catalog } from './catalog.ts';
import type { VolumeOps } from './volume-ops.ts';
import type { CloneResult, ExportStream, ImportResult, RestoreResult } from './volume-ops-results.ts';

export interface VolumeOpsApiDeps {
  catalog: Catalog;
  ops: VolumeOps;
  selfId: string;
  liveness: () => Record<string, { state: NodeState } | undefined>;
  sign: Exclude<CallAuth, string>;
}

/** the member-only routes another node's API calls (src/http/routes/volume-ops.ts) */
export const opsPath = (volume: string, op: 'restore' | 'clone' | 'export') => `/v1/volume-sync/${encodeURIComponent(volume)}/${op}`;

/**
 * `warren volume restore|clone|export|import` as any node answers them: each is carried out on the
 * node that can (core/volumes/ops-route.ts): a restore on the volume's owner, a clone or an export
 * on a node holding the snapshot, over member-signed calls; an import where the tar arrives.
 */
export class VolumeOpsApi {
  constructor(private readonly d: VolumeOpsApiDeps) {}

  private route(name: string, kind: 'restore' | 'read', snapshot: string | undefined): string[] {
    const m = this.d.ops.meta(name);
    if (!m) throw new UserError('not_found', `no volume "${name}" (see warren volume ls)`, 404);
    const live = this.d.liveness();
    const selfHolds = snapshot !== undefined && this.d.ops.holds(name, snapshot);
    const copies = [...this.d.catalog.maps.volumeCopies.values()].map((v) => v.value).filter((c) => c.volume === name && this.d.catalog.maps.nodes.has(c.node));
    const order = opsRoute({ kind, self: this.d.selfId, owner: m.owner, selfHolds, ...(snapshot !== undefined ? { snapshot } : {}), copies, alive: (n) => live[n]?.state === 'alive' });
    if (order.length === 0) throw new UserError('no_live_copy', `volume ${name}: no live node holds a copy`, 503);
    return order;
  }

  private api(node: string): string {
    const api = this.d.catalog.maps.nodes.get(node)?.value.api;
    if (!api) throw new UserError('node_unknown', `node ${node} is not a known member`, 503);
    return api;
  }

  /**
   * Tries each node in order: this one directly, others over a signed call; the next is tried when
   * one lacks the snapshot (404) or does not answer. The last error is the answer.
   */
  private async each<T>(order: string[], here: () => Promise<T>, there: (api: string) => Promise<T>): Promise<T> {
    let last: unknown;
    for (const node of order) {
      try {
        return node === this.d.selfId ? await here() : await there(this.api(node));
      } catch (err) {
        last = err;
        const status = (err as UserError).status;
        if (status !== 404 && status !== 503) throw err;
      }
    }
    throw last;
  }

  async restore(name: string, snapshot: string): Promise<RestoreResult> {
    const body = JSON.stringify({ snapshot });
    return this.each(this.route(name, 'restore', snapshot), () => this.d.ops.restore(name, snapshot), async (api) => (await this.call(api, 'POST', opsPath(name, 'restore'), body)).json() as Promise<RestoreResult>);
  }

  async clone(name: string, snapshot: string | undefined, to: string): Promise<CloneResult> {
    const body = JSON.stringify({ name: to, ...(snapshot !== undefined ? { snapshot } : {}) });
    return this.each(this.route(name, 'read', snapshot), () => this.d.ops.clone(name, snapshot, to), async (api) => (await this.call(api, 'POST', opsPath(name, 'clone'), body)).json() as Promise<CloneResult>);
  }

  async export(name: string, snapshot: string | undefined): Promise<ExportStream> {
    return this.each(this.route(name, 'read', snapshot), async () => this.d.ops.exportTar(name, snapshot), async (api) => {
      const path = opsPath(name, 'export');
      const res = await this.call(api, 'GET', path, undefined, snapshot === undefined ? '' : `?snapshot=${encodeURIComponent(snapshot)}`);
      return { snapshot: res.headers.get('x-warren-snapshot') ?? '', sizeBytes: Number(res.headers.get('x-warren-size') ?? 0), body: Readable.fromWeb(res.body! as never) };
    });
  }

  importTar(name: string, input: Readable, announcedBytes?: number): Promise<ImportResult> {
    return this.d.ops.importTar(name, input, announcedBytes);
  }

  /** A member-signed call; a non-2xx answer becomes the same error here (its code and status). */
  private async call(api: string, method: string, path: string, body?: string, query = ''): Promise<Response> {
    const headers = { ...(await this.d.sign(method, path, body)), ...(body ? { 'content-type': 'application/json' } : {}) };
    // an export streams for as long as it takes; the others answer within minutes
    const signal = method === 'GET' ? undefined : AbortSignal.timeout(600_000);
    const res = await fetch(`${api}${path}${query}`, { method, headers, ...(body ? { body } : {}), ...(signal ? { signal } : {}) }).catch((err: Error) => {
      throw new UserError('node_unreachable', `the node at ${api} did not answer: ${err.message}`, 503);
    });
    if (res.ok) return res;
    const out = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
    throw new UserError(out.error?.code ?? 'node_failed', out.error?.message ?? `HTTP ${res.status}`, res.status);
  }
}
