/**
 * `warren volume import NAME --from-docker VOLUME`: a Docker volume that predates Warren (made by
 * docker compose or docker run -v) becomes a Warren volume, read where Docker keeps it on this
 * node, with every file's metadata (the same capture a snapshot makes). The Docker volume is left
 * as it was. Refused while a running container mounts it: its app would write while it is read.
 */
import { UserError } from '../core/errors.ts';
import { scanTree } from '../volumes/fs-meta.ts';
import type { DockerEngine } from './docker-engine.ts';
import type { VolumeOps } from './volume-ops.ts';
import type { ImportResult } from './volume-ops-results.ts';
import type { VolumeDriver } from './volume-driver.ts';

/** Docker's own rule for volume names */
const DOCKER_VOLUME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export type DockerImportResult = ImportResult & { from: string };

export async function importDockerVolume(ops: VolumeOps, driver: VolumeDriver, engine: DockerEngine, name: string, dockerVolume: unknown): Promise<DockerImportResult> {
  if (typeof dockerVolume !== 'string' || !DOCKER_VOLUME_RE.test(dockerVolume)) {
    throw new UserError('bad_request', `dockerVolume must be a Docker volume's name (see docker volume ls), got ${JSON.stringify(dockerVolume) ?? 'nothing'}`, 400);
  }
  const info = (await engine.docker.getVolume(dockerVolume).inspect().catch((err: { statusCode?: number }) => {
    if (err.statusCode === 404) throw new UserError('not_found', `there is no Docker volume "${dockerVolume}" on this node (see docker volume ls; run the import on the node that has it: --api)`, 404);
    throw err;
  })) as { Driver: string; Mountpoint: string };
  if (info.Driver !== 'local') throw new UserError('unsupported', `Docker volume ${dockerVolume} uses the "${info.Driver}" driver: only local volumes can be read`, 409);
  const users = await engine.docker.listContainers({ filters: { volume: [dockerVolume] } });
  if (users.length) {
    const names = users.map((c) => (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, '')).join(', ');
    throw new UserError('volume_in_use', `Docker volume ${dockerVolume} is mounted by running container(s) ${names}: stop them first (docker stop), so that nothing writes while it is read`, 409);
  }
  const scan = await scanTree(info.Mountpoint);
  const bytes = scan.entries.reduce((sum, e) => sum + (e.type === 'file' ? e.size : 0), 0);
  // the capture copies every file aside before it chunks it: twice the bytes at the peak
  const result = await ops.importWith(name, 2 * bytes, async (_pinning, pinKey) => {
    const { manifest, stats, newBytes } = await driver.store.captureDir(info.Mountpoint, pinKey);
    return { manifest, newBytes, skipped: [...stats.skipped, ...stats.refused] };
  });
  return { ...result, from: dockerVolume };
}
