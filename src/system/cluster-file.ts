import { readFile, writeFile, rm, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError, messageOf } from '../core/errors.ts';
import type { NodeRole } from '../core/admission-plan.ts';

/** What a node remembers about its cluster, so a restart rejoins with its old role without the queue. */
export interface ClusterMembership {
  version: 1;
  clusterId: string;
  role: NodeRole;
  /** etcd client URLs of the voters, as last known */
  endpoints: string[];
  admittedAt: number;
  /** the other members' HTTP APIs, as last known: a node that was once a member re-enters
   * through them and never founds a cluster of its own */
  peers?: string[];
  /** the quorum-recovery candidate this node endorsed (src/core/quorum-recovery.ts): kept so a
   * restart never endorses another one, nor starts an etcd member it stopped for it */
  recovery?: { voters: string[]; candidate: string; memberStopped?: boolean };
}

export const CLUSTER_FILE = 'cluster.json';

export async function readClusterFile(dataDir: string): Promise<ClusterMembership | undefined> {
  const file = join(dataDir, CLUSTER_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError('bad_data_dir', `cannot read ${file}: ${messageOf(err)}`);
  }
  try {
    const c = JSON.parse(text) as ClusterMembership;
    if (c.version !== 1 || typeof c.clusterId !== 'string' || !['voter', 'client'].includes(c.role) || !Array.isArray(c.endpoints)) throw new Error('unknown format');
    return c;
  } catch (err) {
    throw new UserError('bad_data_dir', `${file} belongs to another agent version or is damaged (${messageOf(err)}): restore it or choose another --data-dir`);
  }
}

/**
 * Written atomically: a crash mid-write must not leave a node that forgot its cluster. One write
 * at a time per data dir (the caller serialises them: consensus/cluster-file-writer.ts).
 */
export async function writeClusterFile(dataDir: string, c: ClusterMembership): Promise<void> {
  const file = join(dataDir, CLUSTER_FILE);
  const tmp = `${file}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

export async function removeClusterFile(dataDir: string): Promise<void> {
  await rm(join(dataDir, CLUSTER_FILE), { force: true });
}
