import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Logger } from 'pino';
import { LABELS } from './docker-engine.ts';

/**
 * Fences this node's containers when its agent dies without stopping them (kill -9, the OOM
 * killer, a crash). The cluster moves a dead agent's replicas elsewhere within seconds; its
 * containers left running here would serve twice (two writers of one volume's lineage, two Home
 * Assistants driving one house). A dead machine takes its containers with it; a dead agent on a
 * live machine must too.
 *
 * The watchdog is a shell (a megabyte, not another Node process), outside the agent's process
 * group and not tied to it by pdeathsig: it waits for the agent's pid to end (`tail --pid`, no
 * polling forks) and, unless the agent left its clean-exit mark (it stopped its containers
 * itself), `docker kill`s every container labelled with this node. Under systemd, KillMode=mixed
 * kills the watchdog together with a dead agent, so the unit's ExecStopPost runs `warren fence`.
 */
const SCRIPT = `
pid=$1 mark=$2 node=$3
tail --pid="$pid" -s 0.2 -f /dev/null 2>/dev/null || while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
if [ -e "$mark" ]; then rm -f "$mark"; exit 0; fi
ids=$(docker ps -q --filter "label=${LABELS.node}=$node")
[ -n "$ids" ] && docker kill $ids >/dev/null 2>&1
n=$(echo $ids | wc -w)
printf '{"level":40,"time":%s000,"component":"fence","node":"%s","msg":"the agent (pid %s) died without stopping its containers: killed %s of them"}\\n' "$(date +%s)" "$node" "$pid" "$n"
`;

export interface FenceWatchdog {
  /** the agent stopped its containers itself: nothing to fence when it exits */
  disarm(): Promise<void>;
}

/** The clean-exit mark of one agent process (per pid: a restarted agent has its own). */
export const cleanExitMark = (dataDir: string, pid = process.pid): string => join(dataDir, `clean-exit.${pid}`);

function onPath(cmd: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, cmd)));
}

/** Starts the watchdog of this agent process; null (with a warning) where it cannot work. */
export async function startFenceWatchdog(opts: { dataDir: string; nodeId: string; dockerSocket?: string; logger: Logger }): Promise<FenceWatchdog | null> {
  const missing = ['sh', 'tail', 'docker'].filter((c) => !onPath(c));
  if (missing.length > 0) {
    opts.logger.warn({ missing }, 'no fence watchdog: if this agent is killed, its containers keep running while the cluster starts them elsewhere');
    return null;
  }
  const mark = cleanExitMark(opts.dataDir);
  await rm(mark, { force: true });
  const env = { ...process.env, ...(opts.dockerSocket ? { DOCKER_HOST: `unix://${opts.dockerSocket}` } : {}) };
  // stdout and stderr stay the agent's (its log, pino JSON lines); detached: a Ctrl-C to the
  // agent's process group does not reach it
  const child = spawn('sh', ['-c', SCRIPT, 'warren-fence', String(process.pid), mark, opts.nodeId], { detached: true, stdio: ['ignore', 'inherit', 'inherit'], env });
  child.on('error', (err) => opts.logger.warn({ err: err.message }, 'fence watchdog failed to start'));
  child.unref();
  opts.logger.debug({ pid: child.pid }, 'fence watchdog started');
  return { disarm: () => writeFile(mark, 'stopped its containers\n', { mode: 0o600 }) };
}
