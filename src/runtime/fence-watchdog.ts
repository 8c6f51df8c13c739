import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Logger } from 'pino';
import { LABELS } from './docker-engine.ts';
import { monoNow } from '../system/clock.ts';

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
 * itself), `docker kill`s the containers labelled with this node. Under systemd, KillMode=mixed
 * kills the watchdog together with a dead agent, so the unit's ExecStopPost runs `warren fence`.
 *
 * It looks twice: a create or start the agent had sent to Docker when it died lands after the
 * first look (Docker finishes a request whose caller is gone), so a second look after
 * FENCE_RECHECK_MS kills what landed. Each agent process labels its containers with its own run id
 * (warren.run) and writes "<pid> <run> <watchdog pid>" to the run file: a look spares the containers of a live
 * later run of this node (a restarted agent), and kills every other one of the node — the dead
 * run's, unlabelled ones of older versions, and older runs' ones the dead run adopted or restarted
 * in place. A restarted agent also waits for its predecessor's watchdog before it starts anything
 * (waitForPredecessor), so no container it restarts in place (labelled with the old run) is killed.
 */
const SCRIPT = `
pid=$1 mark=$2 node=$3 dead=$4 runfile=$5 recheck=$6
tail --pid="$pid" -s 0.2 -f /dev/null 2>/dev/null || while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
if [ -e "$mark" ]; then rm -f "$mark"; exit 0; fi
look() {
  live=
  if read -r lpid lrun lwatch < "$runfile" 2>/dev/null && [ "$lrun" != "$dead" ] && kill -0 "$lpid" 2>/dev/null; then live=$lrun; fi
  ids=$(docker ps --filter "label=${LABELS.node}=$node" --format '{{.ID}} {{.Label "${LABELS.run}"}}' | while read -r id run; do
    if [ -z "$live" ] || [ "$run" != "$live" ]; then echo "$id"; fi
  done)
  [ -n "$ids" ] && docker kill $ids >/dev/null 2>&1
  n=$(echo $ids | wc -w)
  printf '{"level":40,"time":%s000,"component":"fence","node":"%s","run":"%s","msg":"%s"}\\n' "$(date +%s)" "$node" "$dead" "$1 $n of them"
}
look "the agent (pid $pid) died without stopping its containers: killed"
sleep "$recheck"
look "second look, for starts in flight when the agent (pid $pid) died: killed"
`;

/** How long after its first look the watchdog (and `warren fence`) looks again: a create or start in flight lands well within it. */
export const FENCE_RECHECK_MS = 3000;

export interface FenceWatchdog {
  /** the agent stopped its containers itself: nothing to fence when it exits */
  disarm(): Promise<void>;
}

/** The clean-exit mark of one agent process (per pid: a restarted agent has its own). */
export const cleanExitMark = (dataDir: string, pid = process.pid): string => join(dataDir, `clean-exit.${pid}`);

/** "<pid> <run> <its watchdog's pid>" of the agent process that last started on this data dir. */
export const runFile = (dataDir: string): string => join(dataDir, 'agent-run');

/** A fresh run id per agent process start: the label warren.run of every container it creates. */
export const newRunId = (): string => randomBytes(6).toString('hex');

function onPath(cmd: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, cmd)));
}

/** The recheck delay (WARREN_FENCE_RECHECK_MS, for tests that need a wider window; bounded). */
export function fenceRecheckMs(env: NodeJS.ProcessEnv = process.env): number {
  const ms = Number(env.WARREN_FENCE_RECHECK_MS);
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 60_000) : FENCE_RECHECK_MS;
}

/** The watchdog pid the run file names, if that process is still the watchdog of the agent it names (Linux /proc; none elsewhere). */
async function predecessorWatchdog(dataDir: string): Promise<number | undefined> {
  const [agentPid, , watchdog] = (await readFile(runFile(dataDir), 'utf8').catch(() => '')).trim().split(' ');
  if (!watchdog || agentPid === String(process.pid)) return undefined;
  const args = (await readFile(`/proc/${watchdog}/cmdline`, 'utf8').catch(() => '')).split('\0');
  return args.includes('warren-fence') && args.includes(agentPid!) ? Number(watchdog) : undefined;
}

/**
 * A restarted agent waits until the watchdog of the dead one has finished both looks: a container
 * this agent started in place before that (it keeps the old run's label) would be killed.
 */
async function waitForPredecessor(watchdog: number, logger: Logger, boundMs: number): Promise<void> {
  const alive = () => { try { process.kill(watchdog, 0); return true; } catch { return false; } };
  logger.info({ watchdog }, 'waiting for the fence of the previous agent on this data dir');
  const until = monoNow() + boundMs;
  while (alive() && monoNow() < until) await new Promise((r) => setTimeout(r, 100));
  if (alive()) logger.warn({ watchdog }, 'the fence of the previous agent has not finished: starting anyway');
}

/** Starts the watchdog of this agent process; null (with a warning) where it cannot work. */
export async function startFenceWatchdog(opts: { dataDir: string; nodeId: string; run: string; dockerSocket?: string; logger: Logger }): Promise<FenceWatchdog | null> {
  const missing = ['sh', 'tail', 'docker'].filter((c) => !onPath(c));
  if (missing.length > 0) {
    opts.logger.warn({ missing }, 'no fence watchdog: if this agent is killed, its containers keep running while the cluster starts them elsewhere');
    return null;
  }
  const { run } = opts;
  const recheck = fenceRecheckMs();
  const previous = await predecessorWatchdog(opts.dataDir);
  // written before the wait: the previous watchdog's looks spare this run's containers from now on
  await writeFile(runFile(opts.dataDir), `${process.pid} ${run}\n`, { mode: 0o600 });
  if (previous) await waitForPredecessor(previous, opts.logger, recheck + 15_000);
  const mark = cleanExitMark(opts.dataDir);
  await rm(mark, { force: true });
  const env = { ...process.env, ...(opts.dockerSocket ? { DOCKER_HOST: `unix://${opts.dockerSocket}` } : {}) };
  // stdout and stderr stay the agent's (its log, pino JSON lines); detached: a Ctrl-C to the
  // agent's process group does not reach it
  const args = ['-c', SCRIPT, 'warren-fence', String(process.pid), mark, opts.nodeId, run, runFile(opts.dataDir), (recheck / 1000).toFixed(3)];
  const child = spawn('sh', args, { detached: true, stdio: ['ignore', 'inherit', 'inherit'], env });
  child.on('error', (err) => opts.logger.warn({ err: err.message }, 'fence watchdog failed to start'));
  child.unref();
  if (child.pid) await writeFile(runFile(opts.dataDir), `${process.pid} ${run} ${child.pid}\n`, { mode: 0o600 });
  opts.logger.debug({ pid: child.pid, run }, 'fence watchdog started');
  return { disarm: () => writeFile(mark, 'stopped its containers\n', { mode: 0o600 }) };
}
