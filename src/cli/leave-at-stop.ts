import type { Command } from 'commander';
import { UserError, messageOf } from '../core/errors.ts';
import { defaultDataDir, readRuntimeInfo } from '../system/data-dir.ts';
import { writeFinalStopMarker } from '../system/final-stop-file.ts';

/**
 * `warren leave --at-stop`: marks the running agent's next stop as final (core/membership/
 * final-stop.ts), so that the stop drains and leaves instead of announcing a restart. Local only:
 * it writes into the data dir, which only the agent's own user can.
 */
export async function markFinalStop(cmd: Command): Promise<void> {
  const dataDir = cmd.optsWithGlobals<{ dataDir?: string }>().dataDir ?? process.env.WARREN_DATA_DIR ?? defaultDataDir();
  const running = await readRuntimeInfo(dataDir);
  if (!running) {
    // a marker would be stale by the next start anyway (it counts only within the run it was written in)
    console.log(`no agent runs on ${dataDir}: nothing to mark`);
    return;
  }
  try {
    await writeFinalStopMarker(dataDir);
  } catch (err) {
    throw new UserError('write_failed', `cannot mark the stop as final in ${dataDir}: ${messageOf(err)}`);
  }
  console.log(`the agent (pid ${running.pid}) will leave the cluster when it is next stopped, instead of restarting`);
}
