/**
 * What etcd holds about Warren volumes: small records only (never manifests or data).
 *
 *   /warren/volume-meta/<volume>            VolumeMeta: owner node and owner epoch (the owner writes it
 *                                           when it takes the volume, in a transaction on its revision)
 *   /warren/volume-copies/<volume>/<node>   CopyRecord: the complete snapshot that node holds (each
 *                                           node writes only its own)
 *   /warren/volume-policy/<volume>          VolumePolicyRecord (volume-policy.ts): the volume's own snapshot
 *                                           interval and retention, fields left out are the defaults (no
 *                                           key: every default); `PUT /v1/volumes/:name/policy` writes it
 *
 * A service's named volume is a Warren volume unless its spec says `local`; each replica slot has
 * its own (slot 0 keeps the plain name, so a one-replica service's volume is `<service>_<name>`).
 */
import type { VolumeSpec } from '../service-types.ts';

export const VOLUME_KEYS = {
  metaPrefix: '/warren/volume-meta/',
  copyPrefix: '/warren/volume-copies/',
  policyPrefix: '/warren/volume-policy/',
} as const;

export interface VolumeMeta {
  name: string;
  service: string;
  slot: number;
  /** the volume's name in the service spec */
  volume: string;
  /** the node whose copy is live (runs the service on it) */
  owner: string;
  /** +1 on every change of owner: a snapshot of an older epoch never overwrites a newer lineage */
  epoch: number;
  since: number;
  /** `warren volume rm`: a tombstone (every node deletes its copy when it sees one); a new owner clears it */
  removed?: number;
}

export interface CopyRecord {
  volume: string;
  node: string;
  snapshot: string;
  seq: number;
  epoch: number;
  /** when the snapshot was taken (on its owner) */
  createdAt: number;
  sizeBytes: number;
  /** the snapshot is applied to this node's warm copy (or is the live copy's newest snapshot) */
  applied: boolean;
  updatedAt: number;
}

/** The Warren volume name of a service's volume in one replica slot (a valid store name). */
export function warrenVolumeName(service: string, volume: string, slot: number): string {
  return slot === 0 ? `${service}_${volume}` : `${service}_${volume}_${slot}`;
}

export const replicated = (v: VolumeSpec): boolean => v.local !== true;

/** The replicated volumes of a spec, with their Warren names for one slot. */
export function warrenVolumes(service: string, slot: number, volumes: readonly VolumeSpec[]): { name: string; spec: VolumeSpec }[] {
  return volumes.filter(replicated).map((spec) => ({ name: warrenVolumeName(service, spec.name, slot), spec }));
}
