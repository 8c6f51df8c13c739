import { join } from 'node:path';
import type { AgentConfig } from '../../core/agent-config.ts';
import { CLUSTER_EVENT_NAMES, clusterEventTopic } from '../../core/topics.ts';
import type { GossipService } from '../../gossip/gossip-service.ts';
import { Hooks, SYSTEM_HOOKS_DIR } from '../../system/hooks.ts';
import type { Logger } from '../../system/logger.ts';

/**
 * Hooks: executables in DATA_DIR/hooks and /etc/warren/hooks run on every cluster event
 * ($WARREN_SYSTEM_HOOKS_DIR replaces the latter, for tests).
 */
export function startHooks(config: AgentConfig, self: { id: string; apiUrl: string }, gossip: GossipService, log: Logger): Hooks {
  const hooks = new Hooks({
    dirs: [join(config.dataDir, 'hooks'), process.env.WARREN_SYSTEM_HOOKS_DIR ?? SYSTEM_HOOKS_DIR],
    logger: log.child({ component: 'hooks' }),
    limits: { timeoutMs: config.hookTimeoutMs },
    env: { WARREN_NODE: config.name, WARREN_NODE_ID: self.id, WARREN_API: self.apiUrl },
  });
  // the hub deduplicates: a node.dead seen by every member runs the hooks once here
  gossip.subscribe(CLUSTER_EVENT_NAMES.map(clusterEventTopic), (e) => hooks.onEvent(e));
  return hooks;
}
