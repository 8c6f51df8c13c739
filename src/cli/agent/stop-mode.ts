import { messageOf } from '../../core/errors.ts';
import { stopModeFor } from '../../core/membership/final-stop.ts';
import { readFinalStopMarker } from '../../system/final-stop-file.ts';
import type { Agent } from './agent.ts';

/**
 * Stops the agent on a signal: a restart (the cluster holds its replicas for --restart-grace-ms),
 * unless `warren leave --at-stop` marked this stop final (the package's prerm on remove): then it
 * drains and leaves the cluster first, as `warren leave` does, so its services move at once.
 */
export async function stopOnSignal(agent: Agent): Promise<void> {
  const mode = stopModeFor(await readFinalStopMarker(agent.config.dataDir), agent.startedAt, Date.now());
  if (mode === 'leave') {
    agent.logger.info('this stop is final (warren leave --at-stop): draining and leaving the cluster');
    // a failed leave still stops, announcing the leave: the other nodes move the replicas anyway
    await agent.depart().catch((err: unknown) => agent.logger.error({ err: messageOf(err) }, 'leave failed; stopping anyway'));
  }
  await agent.stop(mode);
}
