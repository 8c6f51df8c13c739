/**
 * A stack's volumes across deploys and `stack rm --volumes`. Pure.
 *
 * Stacks deployed before a stack's named volumes were Warren volumes kept them as per-node Docker
 * volumes (`warren-stack_<stack>_<volume>`): their data is there, so on a re-deploy those volumes
 * stay Docker volumes (with a warning) rather than start as new, empty Warren volumes.
 */
import type { Problem } from './diagnostics.ts';
import type { StackModel } from './model.ts';
import { stackDockerVolumeName } from './to-services.ts';
import { stackVolumeName } from '../volumes/stack-volumes.ts';
import type { VolumePolicyRecord } from '../volumes/volume-policy.ts';

/** What the stack record says about its volumes (an old record has only `volumes`). */
export interface StackVolumeRecord {
  /** the Docker volumes the stack made (local and legacy ones) */
  volumes: string[];
  /** set by every deploy since a stack's volumes are Warren volumes */
  volumeFormat?: 2;
  /** named volumes kept as Docker volumes because the stack had them before that */
  legacyVolumes?: string[];
}

/** The compose names of the volumes that stay Docker volumes, given the record before this deploy. */
export function legacyVolumesOf(stack: string, before: StackVolumeRecord | undefined): string[] {
  if (!before) return [];
  if (before.volumeFormat === 2) return [...(before.legacyVolumes ?? [])];
  const prefix = stackDockerVolumeName(stack, '');
  return before.volumes.filter((v) => v.startsWith(prefix)).map((v) => v.slice(prefix.length));
}

/** The record's volume fields after deploying `model`, and a warning per legacy volume it uses. */
export function stackVolumeRecord(model: StackModel, before: StackVolumeRecord | undefined): { record: StackVolumeRecord; legacy: Set<string>; warnings: Problem[] } {
  const legacy = new Set(legacyVolumesOf(model.name, before).filter((n) => model.volumes.some((v) => v.name === n && !v.external)));
  const docker = model.volumes.filter((v) => !v.external && (v.local || legacy.has(v.name))).map((v) => stackDockerVolumeName(model.name, v.name));
  const warnings = [...legacy].sort().map((n) => ({
    path: `volumes.${n}`,
    message: `stays a per-node Docker volume (${stackDockerVolumeName(model.name, n)}): the stack was deployed with it before a stack's volumes were replicated. To make it a Warren volume, copy its data out, run warren stack rm ${model.name} --volumes, deploy again and copy the data in`,
  }));
  return { record: { volumes: [...new Set([...(before?.volumes ?? []), ...docker])], volumeFormat: 2, legacyVolumes: [...legacy].sort() }, legacy, warnings };
}

/** The Warren volumes of a stack, among the volume names etcd has records of (see core/volumes/stack-volumes.ts for the naming). */
export function warrenVolumesOfStack(stack: string, names: Iterable<string>): string[] {
  return [...names].filter((n) => n.startsWith(`${stack}.`) && !n.includes('.fenced-')).sort();
}

/**
 * The policies a deploy writes: for each Warren volume of the stack whose `x-warren` gives one,
 * every volume its services' slots mount (a service of N replicas mounts `<stack>.<v>`,
 * `<stack>.<v>.1`, ...). A volume no service mounts gets none (no volume, no record).
 */
export function stackVolumePolicies(model: StackModel, desired: readonly { name: string; replicas?: number; options?: { stackVolumes?: { name: string }[] } }[]): { volume: string; policy: VolumePolicyRecord }[] {
  const out = new Map<string, VolumePolicyRecord>();
  for (const v of model.volumes) {
    if (!v.policy) continue;
    const base = stackVolumeName(model.name, v.name);
    for (const s of desired) {
      if (!s.options?.stackVolumes?.some((m) => m.name === base)) continue;
      for (let slot = 0; slot < Math.max(1, s.replicas ?? 1); slot++) out.set(stackVolumeName(model.name, v.name, slot), v.policy);
    }
  }
  return [...out].map(([volume, policy]) => ({ volume, policy }));
}
