import type { DockerEngine } from './docker-engine.ts';

/** the longest a removal waits for a graceful stop before it kills (see stopGracefully) */
const STOP_WAIT_MS = 30_000;

/**
 * SIGTERM (or the image's stop signal) and the container's grace before it goes. The pass waits
 * (a replacement may need its port or volume), but never longer than STOP_WAIT_MS: a replica
 * arriving here in a failover must not wait out a long stop_grace_period; past it the removal kills.
 */
export async function stopGracefully(engine: DockerEngine, containerId: string): Promise<void> {
  const c = engine.docker.getContainer(containerId);
  // a paused container cannot take a signal: Docker's stop would wait out the grace, then kill
  await c.unpause().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)));
  await Promise.race([engine.stop(containerId).catch(() => undefined), cap]);
  clearTimeout(timer);
}
