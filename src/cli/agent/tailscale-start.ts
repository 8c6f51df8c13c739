import type { AgentConfig } from '../../core/agent-config.ts';
import { TailscaleDiscovery } from '../../gossip/tailscale-discovery.ts';
import { DEFAULT_TAILSCALE_SOCKET } from '../../gossip/tailscale-localapi.ts';
import type { Logger } from '../../system/logger.ts';

/**
 * Tailscale discovery (when its LocalAPI socket exists, or --tailscale on). Without --bind the
 * agent binds and advertises its tailnet address, so it waits for the tailnet first. `started`
 * gets the discovery as soon as it runs: the agent stops it even when that wait fails.
 */
export async function startTailscale(config: AgentConfig, logger: Logger, started: (ts: TailscaleDiscovery) => void): Promise<void> {
  if (config.tailscale === 'off') return;
  const ts = new TailscaleDiscovery({
    mode: config.tailscale,
    socketPath: process.env.WARREN_TAILSCALE_SOCKET ?? DEFAULT_TAILSCALE_SOCKET,
    port: config.ports.http,
    logger: logger.child({ component: 'tailscale' }),
  });
  if (!(await ts.start())) return;
  started(ts);
  if (!config.bindExplicit) {
    logger.info('waiting for the tailnet (Tailscale) to be up');
    config.bind = await ts.waitReady(60_000);
    logger.info({ bind: config.bind }, 'binding to the tailnet address');
  }
}
