import type { PrivateKey } from '@libp2p/interface';
import type { Etcd3 } from 'etcd3';
import { NODE_AUTH_HEADER, nodeAuthHeader, requireMember } from '../../http/node-auth.ts';
import type { VolumeRouteDeps } from '../../http/routes/volumes.ts';
import type { NodeState } from '../../core/views.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import { importDockerVolume } from '../../runtime/volume-docker-import.ts';
import { VolumeOpsApi } from '../../runtime/volume-ops-api.ts';
import { heldChunkRecords } from '../../volumes/replication.ts';

/** The agent's replicated-volume parts, built from its identity and runtime (kept out of agent.ts). */
export const volumeAgentParts = {
  /** signs this node's calls to other members' volume routes */
  signer(identity: { id: string; privateKey: PrivateKey }) {
    return async (method: string, path: string, body?: string) => ({ [NODE_AUTH_HEADER]: await nodeAuthHeader(identity.privateKey, identity.id, method, path, body) });
  },

  /** the /metrics figures of replicated volumes (data at risk: the view's, owner's word included) */
  metrics(runtime: Runtime) {
    const driver = runtime.volumes;
    const api = runtime.volumeApi();
    if (!driver || !api) return {};
    const atRisk = api.list().map((v) => ({ volume: v.name, ms: v.atRiskMs }));
    return { volumes: { atRisk, pauseMs: driver.counters.pauseMs, applyMs: driver.counters.applyMs, sentBytes: driver.counters.sentBytes, receivedBytes: driver.counters.receivedBytes, ...(runtime.volumeScrub ? { scrub: runtime.volumeScrub.counters } : {}) } };
  },

  routes(runtime: Runtime, identity: { id: string; privateKey: PrivateKey }, isAdmitted: (id: string) => boolean | Promise<boolean>, liveness: () => Record<string, { state: NodeState } | undefined>, client: () => Etcd3 | undefined): VolumeRouteDeps | undefined {
    const driver = runtime.volumes;
    if (!driver) return undefined;
    const api = runtime.volumeApi(volumeAgentParts.signer(identity))!;
    const ops = runtime.volumeOps!;
    const opsApi = new VolumeOpsApi({ catalog: runtime.catalog, ops, selfId: identity.id, liveness, sign: volumeAgentParts.signer(identity) });
    return {
      list: () => api.list(),
      get: (name) => api.inspect(name),
      policy: (name) => api.policy(name),
      setPolicy: (name, body) => api.setPolicy(name, body, client()),
      remove: (name) => api.remove(name, client()),
      snapshots: (name) => api.snapshots(name),
      localSnapshots: (name) => api.localSnapshots(name),
      transfers: (name) => api.transfers(name),
      localTransfers: (name) => driver.pushes.transfers(name),
      snapshot: (name, wait) => api.snapshot(name, wait),
      snapshotHere: (name, wait) => driver.snapshotNow(name, wait),
      sync: { receiver: driver.receiver, commit: (rec) => driver.commit(rec), held: (hashes) => heldChunkRecords(driver.store.chunks, hashes) },
      scrub: () => runtime.volumeScrub!.run(),
      ops: {
        restore: (name, snapshot) => opsApi.restore(name, snapshot),
        restoreHere: (name, snapshot) => ops.restore(name, snapshot),
        clone: (name, snapshot, to) => opsApi.clone(name, snapshot, to),
        cloneHere: (name, snapshot, to) => ops.clone(name, snapshot, to),
        export: (name, snapshot) => opsApi.export(name, snapshot),
        exportHere: (name, snapshot) => ops.exportTar(name, snapshot),
        importTar: (name, body, announced) => opsApi.importTar(name, body, announced),
        importDocker: (name, dockerVolume) => importDockerVolume(ops, driver, driver.d.engine, name, dockerVolume),
        handoverHere: (name, to) => ops.handOver(name, to),
      },
      member: { json: requireMember(isAdmitted, { bodyHash: true }), stream: requireMember(isAdmitted) },
    };
  },
};
