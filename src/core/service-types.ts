/**
 * The runtime's shared vocabulary: what a service is, where its replicas are assigned and what
 * each replica reports. Stored in etcd as JSON (keys in src/consensus/cluster-store.ts), read by
 * the scheduler (leader), the reconciler (every node), the HTTP API, the CLI and the routing layer.
 */

export type RestartPolicy = 'always' | 'on-failure' | 'no';

export interface PortSpec {
  container: number;
  protocol: 'tcp' | 'udp';
  /** a fixed host port on the node's address (stacks' "8080:80"); absent: Docker picks one */
  published?: number;
  /** the host address to bind instead of the node's (stacks' "127.0.0.1:8080:80") */
  hostIp?: string;
  /**
   * a stack's `ports: ["80"]` (or a host range): published on the node's address at a host port
   * Docker picks, for anyone, as compose publishes it. A stack's other container ports (`expose:`,
   * EXPOSE, the container side of "8080:80") are reached by members only (core/mesh/guard-plan.ts).
   */
  anyHostPort?: true;
}

export interface VolumeSpec {
  /** a named volume (DNS-label-like name), never a host path */
  name: string;
  /** absolute path inside the container */
  path: string;
  /** `NAME:/path:local`: not replicated; starts empty on another node (caches, thumbnails) */
  local?: true;
}

/** `node=NAME` or `label=K=V` (the node's `--label K=V`). */
export type Constraint = { kind: 'node'; value: string } | { kind: 'label'; key: string; value: string };

/**
 * The container options compose files need (stacks: src/core/compose/to-service.ts). All optional,
 * so specs written before they existed stay valid.
 */
export interface ContainerOptions {
  entrypoint?: string[];
  user?: string;
  workingDir?: string;
  hostname?: string;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  readOnly?: boolean;
  devices?: { host: string; container: string; permissions: string }[];
  shmSizeBytes?: number;
  /** container path → tmpfs mount options (e.g. "size=65536k") */
  tmpfs?: Record<string, string>;
  ulimits?: { name: string; soft: number; hard: number }[];
  sysctls?: Record<string, string>;
  /** "host:ip" */
  extraHosts?: string[];
  securityOpt?: string[];
  labels?: Record<string, string>;
  stopSignal?: string;
  stopGracePeriodMs?: number;
  /** false: no init process (Warren runs one by default) */
  init?: boolean;
  /** Docker's healthcheck; test ["NONE"] disables the image's own */
  healthcheck?: { test: string[]; intervalMs?: number; timeoutMs?: number; retries?: number; startPeriodMs?: number };
  /** joins the stack's network on its node, reachable there under these names */
  network?: { stack: string; aliases: string[] };
  /** the node's own network (compose's network_mode: host): no published ports, no stack network */
  hostNetwork?: boolean;
  /**
   * with hostNetwork: the node's ports the service listens on ("8123/tcp", from its compose ports
   * and expose); the scheduler places no two replicas holding one of them on the same node
   */
  hostPorts?: string[];
  /**
   * with hostNetwork in a stack: the names the stack's other services reach it by (compose name,
   * container_name, Warren name). It is on no stack network, so the mesh answers them on each
   * node's network and forwards to its node's ports (core/mesh/forward-plan.ts).
   */
  meshNames?: string[];
  pidsLimit?: number;
  memoryReservationBytes?: number;
  /** host paths (they stay on the node; a stack pins such a service to its node) */
  binds?: { source: string; target: string; readOnly: boolean }[];
  /** Docker volumes named directly (a stack's external and `x-warren: {local: true}` volumes, shared by its services on a node) */
  volumes?: { name: string; target: string; readOnly: boolean }[];
  /** a stack's replicated named volumes: Warren volumes (name `<stack>.<volume>`, core/volumes/stack-volumes.ts), shared by its services */
  stackVolumes?: { name: string; target: string; readOnly: boolean }[];
  /** container paths given an anonymous volume */
  anonymousVolumes?: string[];
  /** compose's depends_on: a replica's first container waits until these hold (src/core/depends-gate.ts) */
  dependsOn?: { service: string; condition: 'service_started' | 'service_healthy' | 'service_completed_successfully'; required: boolean }[];
}

/** Everything that decides how a replica's container is made: a change here means a new container. */
export interface ContainerSpec {
  image: string;
  command: string[];
  env: Record<string, string>;
  ports: PortSpec[];
  volumes: VolumeSpec[];
  restart: RestartPolicy;
  /** CPU limit in cores (e.g. 0.5) */
  cpus?: number;
  memoryBytes?: number;
  options?: ContainerOptions;
}

/** A service as stored under /warren/services/<name>. */
export interface ServiceSpec extends ContainerSpec {
  name: string;
  /** the stack it belongs to (created by warren deploy), if any */
  stack?: string;
  replicas: number;
  constraints: Constraint[];
  /** plain HTTP requests through the proxy are redirected (308) to HTTPS; absent = false */
  httpsRedirect?: boolean;
  /** bumped whenever the ContainerSpec part changes (replicas/constraints do not bump it) */
  generation: number;
  createdAt: number;
  updatedAt: number;
}

/** One replica's place: which node runs it, with which spec generation. */
export interface Slot {
  index: number;
  /** null: not placed (see `reason`) */
  nodeId: string | null;
  generation: number;
  /** when this slot got its current node (ms) */
  since: number;
  /** why it is not placed, or why it was moved last */
  reason?: string;
  /** nodes that failed to run it for a node-specific reason (image missing there): try others first */
  avoid?: string[];
}

/**
 * A service's assignments, under /warren/assignments/<name>; written only by the leader, in a
 * transaction that compares the key's revision as the leader read it.
 */
export interface AssignmentRecord {
  service: string;
  /** container specs by generation, for every generation some slot still runs */
  specs: Record<string, ContainerSpec>;
  slots: Slot[];
}

export type ReplicaState = 'pending' | 'pulling' | 'starting' | 'running' | 'exited' | 'failed' | 'stopped';

/** Why a replica failed: 'image' (missing and not pullable there) lets the scheduler try another node. */
export type FailureKind = 'image' | 'create' | 'crash' | 'fenced';

/** What the node running a replica reports, under /warren/status/<service>/<slot>. */
export interface ReplicaStatus {
  service: string;
  slot: number;
  nodeId: string;
  generation: number;
  state: ReplicaState;
  reason?: string;
  failure?: FailureKind;
  /** e.g. "12 MB / 40 MB" while pulling */
  progress?: string;
  /** the node's bind address: where the published ports listen */
  addr: string;
  ports: { container: number; protocol: 'tcp' | 'udp'; hostPort: number }[];
  containerId?: string;
  /** Docker's healthcheck state of a running container that has one */
  health?: ContainerHealth;
  restarts: number;
  updatedAt: number;
}

export type ContainerHealth = 'starting' | 'healthy' | 'unhealthy';

/** A node as the runtime sees it (registered by the node itself under /warren/runtime-nodes/<id>). */
export interface RuntimeNode {
  id: string;
  name: string;
  addr: string;
  labels: Record<string, string>;
  /**
   * host device path → whether this node has it, for the devices the cluster's services ask for
   * (src/runtime/device-watch.ts); a path not listed is not checked yet
   */
  devices?: Record<string, boolean>;
}

/** The node's drain mark, /warren/drain/<id>. */
export interface DrainMark {
  nodeId: string;
  since: number;
}

/** One replica as GET /v1/services shows it. */
export interface ReplicaView {
  slot: number;
  nodeId: string | null;
  nodeName?: string;
  generation: number;
  /** 'unassigned': no node can take it (see `reason`) */
  state: ReplicaState | 'unassigned';
  reason?: string;
  progress?: string;
  addr?: string;
  ports: ReplicaStatus['ports'];
  health?: ContainerHealth;
  restarts: number;
  /** when the slot got its node */
  since: number;
}

/** A service as GET /v1/services and GET /v1/services/:name return it. */
export interface ServiceView {
  spec: ServiceSpec;
  desired: number;
  running: number;
  /** why some replica cannot be placed, when one cannot */
  pending?: string;
  replicas: ReplicaView[];
}
