import { readFile, writeFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import { LABELS, type EngineIdentity } from './docker-engine.ts';

/**
 * Freezing a volume's writers for a snapshot (docker pause), and thawing them whatever Docker does.
 *
 * Why not only `docker unpause`: a `docker exec` that starts while the container is frozen puts its
 * `runc init` into the frozen cgroup, and containerd's shim then waits for it while the unpause
 * waits behind that exec: neither ever returns, and the app stays frozen for good (seen on Docker
 * 20.10: a user's `docker exec` at the wrong moment would hang their app). So each call is bounded,
 * and a container still frozen after it is thawed through its freezer cgroup directly (the agent
 * runs as root), which lets the exec and the queued unpause finish.
 */
const CALL_MS = 5000;

export interface Frozen {
  id: string;
  /** the container's init pid, read before the pause (an inspect waits on a stuck container too) */
  pid: number;
}

function bounded<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

/** The freezer control file of a process's cgroup: v1 `freezer.state`, v2 `cgroup.freeze`. */
export async function freezerFile(pid: number, procRoot = '/proc', cgroupRoot = '/sys/fs/cgroup'): Promise<{ path: string; thaw: string } | undefined> {
  const text = await readFile(`${procRoot}/${pid}/cgroup`, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controllers!.split(',').includes('freezer')) return { path: `${cgroupRoot}/freezer${path}/freezer.state`, thaw: 'THAWED' };
  }
  const v2 = text.split('\n').find((l) => l.startsWith('0::'));
  return v2 ? { path: `${cgroupRoot}${v2.slice(3)}/cgroup.freeze`, thaw: '0' } : undefined;
}

/** Pauses each container (bounded); returns those that may be frozen now, to give to `thaw`. */
export async function freeze(docker: Docker, ids: readonly string[]): Promise<Frozen[]> {
  const out: Frozen[] = [];
  for (const id of ids) {
    const c = docker.getContainer(id);
    const pid = (await bounded(c.inspect().then((i) => i.State.Pid), CALL_MS).catch(() => 0)) as number | 'timeout';
    if (typeof pid !== 'number' || pid <= 0) continue; // not running, or Docker stuck on it: leave it alone
    const res = await bounded(c.pause().then(() => 'ok' as const), CALL_MS).catch(() => 'failed' as const);
    // a pause that did not answer may still land: thaw it like the others
    if (res !== 'failed') out.push({ id, pid });
  }
  return out;
}

/** Unpauses each container (bounded); one Docker does not thaw in time is thawed through its cgroup. */
export async function thaw(docker: Docker, frozen: readonly Frozen[], onForced: (id: string, how: string) => void = () => undefined): Promise<void> {
  await Promise.all(frozen.map(async ({ id, pid }) => {
    const res = await bounded(docker.getContainer(id).unpause().then(() => 'ok' as const), CALL_MS).catch(() => 'failed' as const);
    if (res !== 'timeout') return; // thawed, or Docker said why not (e.g. it exited meanwhile)
    const file = await freezerFile(pid);
    if (!file) return onForced(id, 'no freezer cgroup found');
    await writeFile(file.path, file.thaw).then(() => onForced(id, `thawed through ${file.path}`), (err: Error) => onForced(id, `could not thaw through ${file.path}: ${err.message}`));
  }));
}

/** The running containers of these replica slots on this node: a volume's writers, paused for its freeze step. */
export async function slotContainers(docker: Docker, id: EngineIdentity, slots: readonly { service: string; slot: number }[]): Promise<string[]> {
  const out: string[] = [];
  for (const u of slots) {
    const list = await docker.listContainers({ filters: { status: ['running'], label: [`${LABELS.cluster}=${id.clusterId}`, `${LABELS.node}=${id.nodeId}`, `${LABELS.service}=${u.service}`, `${LABELS.slot}=${u.slot}`] } });
    out.push(...list.map((c) => c.Id));
  }
  return out;
}
