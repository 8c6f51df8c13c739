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
