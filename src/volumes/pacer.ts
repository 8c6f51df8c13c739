import { setImmediate as yieldLoop } from 'node:timers/promises';

/**
 * Long loops of synchronous file calls (a scan of 100k paths, thousands of small files chunked)
 * would hold the agent's event loop for seconds, and with it the gossip heartbeats. A pacer is
 * awaited in such loops: it gives the event loop a turn (timers, sockets) once `sliceMs` of work
 * has passed. An `await` of a settled promise alone does not: it only runs microtasks.
 */
export function pacer(sliceMs = 10): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < sliceMs) return;
    await yieldLoop();
    since = performance.now();
  };
}
