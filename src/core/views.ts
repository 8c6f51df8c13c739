/** Shapes the HTTP API returns and the CLI reads: one definition for both sides. */

export type EtcdRole = 'voter' | 'learner' | 'client' | 'none';

export interface NodeRef {
  id: string;
  name: string;
  addr: string;
}

export interface HealthReport {
  status: 'ok' | 'unhealthy';
  node: NodeRef;
  etcd: { role: EtcdRole; healthy: boolean };
  /** the node's copy of the cluster's records (services, assignments) is loaded: its API can serve */
  catalog: { ready: boolean };
  uptimeMs: number;
  version: string;
  /** the reverse proxy's port (services as NAME.<domain>) */
  proxy?: { port: number };
  /** HTTPS for services (NAME.<domain>), certificates from the cluster CA */
  https?: { port: number };
  dns?: { domain: string; port: number };
  /** the host ports the agent holds (as bound), which no stack may publish; absent from older agents */
  ports?: WarrenPort[];
}

/** A host port an agent holds: `what` says which and `flag` how to move it. */
export interface WarrenPort {
  port: number;
  protocol: 'tcp' | 'udp';
  what: string;
  flag: string;
}

export interface HealthFigures {
  cpuLoad: number;
  memUsedBytes: number;
  memTotalBytes: number;
  diskFreeBytes: number;
  containers: number;
  uptimeMs: number;
  /**
   * The data at risk of each volume this node owns, as of the heartbeat that carries it: ms since
   * its last snapshot cycle that a peer holds too (an idle volume's unchanged cycles count, which
   * its copies' ages cannot show). Absent from older agents.
   */
  volumesSafeAgoMs?: Record<string, number>;
}

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/**
 * A member's state as the agent reports it: gossip's MemberState, or 'restarting' while the node
 * announced a graceful stop and is within its restart grace (src/core/membership/restart-hold.ts):
 * its replicas stay assigned to it and its voter seat is kept.
 */
export type NodeState = MemberState | 'restarting';

/** A member's state for the layers above gossip, and since when (ms) it has held it. */
export interface Liveness {
  state: NodeState;
  since: number;
}

/** Every member's Liveness, by node id. */
export type LivenessMap = Record<string, Liveness | undefined>;

/**
 * Whether a node in `state` runs none of its replicas: dead, left, or restarting (a restarting
 * node stopped its containers; they stay assigned to it, but nothing may be routed to them).
 */
export function runsNoReplicas(state: NodeState | 'pending'): boolean {
  return state === 'dead' || state === 'left' || state === 'restarting';
}

export interface MemberView extends NodeRef {
  /** 'pending': asked to join, not admitted yet (see GET /v1/admission) */
  state: NodeState | 'pending';
  role: EtcdRole;
  /** ms since anything was last heard from it; 0 for this node */
  lastHeardMs: number;
  self: boolean;
  /** its HTTP API base URL (the web UI carries on through another member's) */
  api?: string;
  version?: string;
  health?: HealthFigures;
}

export interface ApiErrorBody {
  error: { code: string; message: string };
}
