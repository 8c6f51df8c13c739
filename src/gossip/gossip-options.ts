import type { Logger } from 'pino';
import type { DetectorConfig } from '../core/membership.ts';
import type { EtcdRole, HealthFigures, NodeState } from '../core/views.ts';
import type { P2PNode } from './libp2p-node.ts';

/* What the gossip driver (gossip-service.ts) is built from and what it tells the layers above. */

export interface SelfInfo {
  name: string;
  addr: string;
  api: string;
  version: string;
  role: EtcdRole;
}

export type { Liveness } from '../core/views.ts';

export interface GossipServiceOptions {
  p2p: P2PNode;
  logger: Logger;
  self: () => SelfInfo;
  collectHealth: () => Promise<HealthFigures>;
  /** figures read afresh for every heartbeat (the volumes' data at risk moves by the second) */
  liveHealth?: () => Partial<HealthFigures>;
  detector?: Partial<DetectorConfig>;
  /** this start's incarnation, higher than any earlier start's (system/incarnation-file.ts); default the wall clock */
  incarnation?: number;
  heartbeatIntervalMs?: number;
  /** Only admitted peers may change membership, health or events (admission sets this). */
  isAdmitted?: (peerId: string) => boolean;
  /** Asks `helper` (by its API URL) to ping `target`; true when the helper reached it. */
  indirectPing: (helperApi: string, target: string, timeoutMs: number) => Promise<boolean>;
  tickMs?: number;
  /** Messages on warren/admission (the only topic unadmitted nodes may use), size-checked. */
  onAdmission?: (signer: string, value: Record<string, unknown>) => void;
}
