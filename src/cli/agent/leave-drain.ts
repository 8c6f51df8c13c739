import type { Runtime } from '../../runtime/runtime.ts';
import type { Logger } from '../../system/logger.ts';
import { monoNow } from '../../system/clock.ts';

/** Before leaving: drain this node (one replica at a time) so its services keep running elsewhere. */
export async function moveReplicasAway(rt: Runtime | undefined, self: string, logger: Logger, timeoutMs: number): Promise<void> {
  if (!rt?.catalog.ready || rt.services.assignedTo(self) === 0) return;
  logger.info({ replicas: rt.services.assignedTo(self) }, 'moving this node\'s replicas to other nodes before leaving');
  await rt.services.drain(self, true);
  const deadline = monoNow() + timeoutMs;
  while (rt.services.assignedTo(self) > 0) {
    if (monoNow() > deadline) {
      logger.warn({ replicas: rt.services.assignedTo(self) }, 'some replicas found no other node; leaving anyway (they move once this node is gone)');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
