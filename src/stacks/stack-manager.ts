/**
 * The agent's side of stacks: deploy (validate the project again here, plan, then create /
 * update / remove the stack's Warren services through the service manager), list, show, remove.
 * The stack's record (its compose project, as deployed) lives in etcd under /warren/stacks/<name>.
 */
import type { Etcd3 } from 'etcd3';
import { KEYS } from '../consensus/cluster-store.ts';
import { UserError } from '../core/errors.ts';
import type { Problem } from '../core/compose/diagnostics.ts';
import { parseDeployBody, type DeployBody } from '../core/compose/deploy-body.ts';
import { loadStack } from '../core/compose/project.ts';
import { stackVolumePolicies, stackVolumeRecord, warrenVolumesOfStack, type StackVolumeRecord } from '../core/compose/stack-volumes-plan.ts';
import { VOLUME_KEYS } from '../core/volumes/volume-records.ts';
import { planStack, portClashes, stackServices, type StackStep } from '../core/compose/to-services.ts';
import { applyRangeChoices, choosePortsInRanges } from '../core/compose/port-ranges.ts';
import type { ReservedPort } from '../core/compose/validate.ts';
import type { ServiceView } from '../core/service-types.ts';
import { valuesOf, type Catalog } from '../runtime/catalog.ts';
import type { DockerEngine } from '../runtime/docker-engine.ts';
import { apiEtcdCall, readyClient, type ServiceManager } from '../runtime/service-manager.ts';
import { tombstoneVolume } from '../runtime/volume-api.ts';
import { monoNow } from '../system/clock.ts';
import { nanoid } from 'nanoid';
import { removalProgress, type LocalVolumeRemoval } from '../core/compose/local-volume-removal.ts';
import type { NodeState } from '../core/views.ts';

export interface StackRecord extends StackVolumeRecord {
  name: string;
  project: Omit<DeployBody, 'dryRun'>;
  services: string[];
  deployedFrom: { id: string; name: string };
  createdAt: number;
  updatedAt: number;
}

export interface DeployResult {
  stack: string;
  dryRun: boolean;
  plan: StackStep[];
  warnings: Problem[];
}

export interface StackView {
  name: string;
  createdAt: number;
  updatedAt: number;
  services: ServiceView[];
}

export interface StackManagerDeps {
  services: ServiceManager;
  catalog: Catalog;
  engine: DockerEngine;
  client: () => Etcd3 | undefined;
  clusterId: () => string | null;
  self: { id: string; name: string };
  /** the host ports the cluster's agents hold, refused to a stack (cluster-ports.ts), with warnings */
  reservedPorts: () => Promise<{ ports: ReservedPort[]; warnings: string[] }>;
  /** gossip's view of the members (stack rm --volumes waits for the ones that are up) */
  liveness?: () => Readonly<Record<string, { state: NodeState } | undefined>>;
  /** a cluster event (gossip) */
  event?: (name: 'stack.deployed' | 'stack.removed', payload: Record<string, unknown>) => void;
}

/** How long stack rm --volumes waits for the stack's containers on this node to go and the nodes that are up to remove its Docker volumes. */
const VOLUME_WAIT_MS = 30_000;

/** Where a per-node Docker volume of a removed stack stands (node names). */
export interface LocalVolumeReport {
  volume: string;
  /** the nodes that had one and removed it */
  removedOn: string[];
  /** the nodes that have not answered yet: down ones remove theirs when they are back */
  pending: { node: string; state: string }[];
}

export interface StackRemoval {
  stack: string;
  services: string[];
  /** the Warren volumes removed and the Docker volumes ordered removed */
  volumes: string[];
  /** with --volumes: the per-node Docker volumes, node by node */
  localVolumes?: LocalVolumeReport[];
}

export class StackManager {
  constructor(private readonly d: StackManagerDeps) {}

  private etcd(): Etcd3 {
    return readyClient(this.d);
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return apiEtcdCall(what, fn);
  }

  private async records(): Promise<StackRecord[]> {
    const client = this.etcd();
    const all = await this.call('read the stacks', () => client.getAll().prefix(KEYS.stackPrefix).strings());
    return Object.values(all).map((v) => JSON.parse(v) as StackRecord).sort((a, b) => a.name.localeCompare(b.name));
  }

  private async record(name: string): Promise<StackRecord | undefined> {
    const client = this.etcd();
    const text = await this.call('read the stack', () => client.get(KEYS.stackPrefix + name).string());
    return text === null ? undefined : (JSON.parse(text) as StackRecord);
  }

  /** A stack removed without --volumes: the volume fields of its last record. */
  private async keptVolumes(name: string): Promise<StackVolumeRecord | undefined> {
    const client = this.etcd();
    const text = await this.call('read the stack', () => client.get(KEYS.stackKeptVolumesPrefix + name).string());
    return text === null ? undefined : (JSON.parse(text) as StackVolumeRecord);
  }

  private viewOf(rec: StackRecord): StackView {
    const services = this.d.services.list().filter((v) => v.spec.stack === rec.name);
    return { name: rec.name, createdAt: rec.createdAt, updatedAt: rec.updatedAt, services };
  }

  async list(): Promise<StackView[]> {
    return (await this.records()).map((r) => this.viewOf(r));
  }

  async get(name: string): Promise<StackView | undefined> {
    const rec = await this.record(name);
    return rec && this.viewOf(rec);
  }

  /** Creates or updates a stack: only the services whose spec changed are touched. */
  async deploy(raw: unknown): Promise<DeployResult> {
    const { dryRun, ...project } = parseDeployBody(raw);
    const reserved = await this.d.reservedPorts();
    const { model, warnings } = loadStack({ ...project, reservedPorts: reserved.ports });
    warnings.push(...reserved.warnings.map((message) => ({ message })));
    const ranges = choosePortsInRanges(model, this.d.catalog.services(), reserved.ports);
    if (ranges.errors.length) throw new UserError('port_taken', ranges.errors.join('\n'), 409);
    warnings.push(...applyRangeChoices(ranges.choices));
    this.etcd();
    // a stack removed without --volumes and deployed again: its volumes are the same ones
    const prior = await this.record(model.name);
    const before = prior ?? (await this.keptVolumes(model.name));
    const vols = stackVolumeRecord(model, before);
    warnings.push(...vols.warnings);
    const desired = stackServices(model, { nodeName: this.d.self.name, legacyVolumes: vols.legacy });
    const plan = planStack(model.name, desired, this.d.catalog.services());
    const clashes = portClashes(model.name, desired, this.d.catalog.services(), (n) => model.services.find((s) => s.warrenName === n)?.name);
    if (clashes.length) throw new UserError('port_taken', clashes.join('\n'), 409);
    if (dryRun) return { stack: model.name, dryRun, plan, warnings };
    // a volume's x-warren policy is set at each deploy, before its first snapshot (a volume without one keeps what it has)
    const client = this.etcd();
    for (const { volume, policy } of stackVolumePolicies(model, desired)) {
      await this.call('set a volume\'s policy', () => client.put(VOLUME_KEYS.policyPrefix + volume).value(JSON.stringify(policy)).exec());
    }
    for (const step of plan) {
      const input = desired.find((s) => s.name === step.service);
      if (step.action === 'create') await this.d.services.create(input!);
      else if (step.action === 'update') {
        const { name: _name, ...rest } = input!;
        await this.d.services.update(step.service, { ...rest, cpus: rest.cpus ?? null, memoryBytes: rest.memoryBytes ?? null, options: rest.options ?? null });
      } else if (step.action === 'remove') await this.d.services.remove(step.service);
    }
    const now = Date.now();
    const rec: StackRecord = {
      name: model.name,
      project,
      services: desired.map((s) => s.name),
      ...vols.record,
      deployedFrom: this.d.self,
      createdAt: prior?.createdAt ?? now,
      updatedAt: now,
    };
    await this.call('write the stack', () => client.if(KEYS.stackPrefix + model.name, 'Version', '>', -1).then(client.put(KEYS.stackPrefix + model.name).value(JSON.stringify(rec)), client.delete().key(KEYS.stackKeptVolumesPrefix + model.name)).commit());
    const changed = (a: StackStep['action']) => plan.filter((s) => s.action === a).map((s) => s.service);
    this.d.event?.('stack.deployed', { stack: model.name, created: changed('create'), updated: changed('update'), removed: changed('remove'), unchanged: changed('unchanged') });
    return { stack: model.name, dryRun, plan, warnings };
  }

  /**
   * Removes the stack's services and record; with `volumes`, also its Warren volumes everywhere
   * (a tombstone each: every node deletes its copy and snapshots) and its per-node Docker volumes
   * on every node (an order each, core/compose/local-volume-removal.ts): it waits a while for
   * the nodes that are up to remove theirs and says which are left (those down do it when back).
   */
  async remove(name: string, volumes: boolean): Promise<StackRemoval> {
    const rec = await this.record(name);
    const stub = rec ? undefined : await this.keptVolumes(name);
    const services = [...new Set([...(rec?.services ?? []), ...this.d.catalog.services().filter((s) => s.stack === name).map((s) => s.name)])];
    // a stack removed before without --volumes: its Warren volumes are still there to remove
    const kept = volumes ? warrenVolumesOfStack(name, [...this.d.catalog.maps.volumeMeta].filter(([, v]) => !v.value.removed).map(([k]) => k)) : [];
    if (!rec && services.length === 0 && (!volumes || (kept.length === 0 && !stub))) throw new UserError('not_found', `there is no stack named "${name}" (see warren stack ls)`, 404);
    for (const s of services) await this.d.services.remove(s);
    const removed: string[] = [];
    const local = volumes ? ((rec ?? stub)?.volumes ?? []) : [];
    if (volumes) {
      const client = this.etcd();
      for (const v of warrenVolumesOfStack(name, this.d.catalog.maps.volumeMeta.keys())) {
        // a record that changed meanwhile (a snapshot's owner write) is read again
        for (let attempt = 0; attempt < 3 && this.d.catalog.maps.volumeMeta.get(v)?.value.removed === undefined; attempt++) {
          if (await this.call('remove the stack\'s volume', () => tombstoneVolume(client, this.d.catalog, v))) {
            removed.push(v);
            break;
          }
          await this.d.catalog.reload();
        }
      }
      if (local.length) await this.orderLocalRemoval(name, local);
    }
    // the orders hold what the record knew of the stack's Docker volumes: the record can go; kept
    // volumes stay known (a later deploy uses them again, a later rm --volumes removes them)
    const client = this.etcd();
    const keep = !volumes && rec && (rec.volumes.length > 0 || rec.legacyVolumes?.length) ? { volumes: rec.volumes, volumeFormat: rec.volumeFormat, legacyVolumes: rec.legacyVolumes } : undefined;
    const stubKey = KEYS.stackKeptVolumesPrefix + name;
    const stubOp = volumes ? [client.delete().key(stubKey)] : keep ? [client.put(stubKey).value(JSON.stringify(keep))] : [];
    await this.call('remove the stack', () => client.if(stubKey, 'Version', '>', -1).then(client.delete().key(KEYS.stackPrefix + name), ...stubOp).commit());
    // --volumes returns once the stack's containers here are gone and the nodes that are up have
    // removed its Docker volumes, or after VOLUME_WAIT_MS with where things stand (the orders stay)
    const deadline = monoNow() + VOLUME_WAIT_MS;
    if (volumes) await this.waitContainersGone(name, deadline);
    const localVolumes = local.length ? await this.localRemovalReport(local, deadline) : [];
    removed.push(...local);
    this.d.event?.('stack.removed', { stack: name, services, volumes: removed });
    return { stack: name, services, volumes: removed, ...(volumes ? { localVolumes } : {}) };
  }

  /** One order per Docker volume, naming every registered node (each removes its own). */
  private async orderLocalRemoval(stack: string, names: string[]): Promise<void> {
    const client = this.etcd();
    const nodes = [...this.d.catalog.maps.nodes.keys()].sort();
    const ops = names.flatMap((v) => {
      const order: LocalVolumeRemoval = { id: nanoid(), stack, at: Date.now(), by: this.d.self.id, nodes };
      return [client.put(KEYS.localVolumeRemovalPrefix + v).value(JSON.stringify(order)), client.delete().prefix(`${KEYS.localVolumeAckPrefix}${v}/`)];
    });
    await this.call('order the removal of the stack\'s volumes', () => client.if(KEYS.stackPrefix + stack, 'Version', '>', -1).then(...ops).commit());
    await this.d.catalog.reload();
  }

  /** Waits (bounded) for the nodes that are up to answer the orders; where each volume stands. */
  private async waitContainersGone(stack: string, deadline: number): Promise<void> {
    const clusterId = this.d.clusterId();
    while (monoNow() < deadline) {
      const left = await this.d.engine.docker.listContainers({ all: true, filters: { label: [`warren.cluster=${clusterId}`, `warren.stack=${stack}`] } });
      if (left.length === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async localRemovalReport(names: string[], deadline: number): Promise<LocalVolumeReport[]> {
    const view = () => {
      const { localVolumeRemovals, localVolumeAcks } = this.d.catalog.maps;
      return removalProgress(names, valuesOf(localVolumeRemovals), valuesOf(localVolumeAcks), this.d.liveness?.() ?? {}, this.d.self.id);
    };
    let progress = view();
    while (!progress.done && monoNow() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      progress = view();
    }
    const nameOf = (id: string) => this.d.catalog.maps.nodes.get(id)?.value.name ?? id;
    return names.map((volume) => ({
      volume,
      removedOn: (progress.removedOn[volume] ?? []).map(nameOf),
      pending: (progress.pending.find((p) => p.volume === volume)?.nodes ?? []).map((n) => ({ node: nameOf(n.node), state: n.state })),
    }));
  }
}

/** The HTTP API's stack routes, served by a manager (src/http/routes/stacks.ts). */
export function stackDeps(m: StackManager) {
  return {
    listStacks: () => m.list(),
    getStack: (name: string) => m.get(name),
    deployStack: (body: unknown) => m.deploy(body),
    removeStack: (name: string, volumes: boolean) => m.remove(name, volumes),
  };
}
