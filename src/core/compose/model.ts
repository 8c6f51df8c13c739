/**
 * The normalised stack: what `warren stack config` prints and what a deploy turns into Warren
 * services. Every field is already validated; optional fields are absent when the file does not
 * set them (so the printed model stays short).
 */
import type { Constraint } from '../service-types.ts';
import type { Problem } from './diagnostics.ts';
import type { VolumePolicyRecord } from '../volumes/volume-policy.ts';

export interface StackPort {
  target: number;
  protocol: 'tcp' | 'udp';
  /** the host port; absent: Warren (Docker) picks one */
  published?: number;
  /** "8000-8010:80": any free port of this range */
  publishedRange?: [number, number];
  /** "127.0.0.1:8080:80": only on this host address */
  hostIp?: string;
}

export type StackMount =
  | { type: 'volume'; source: string; target: string; readOnly: boolean }
  | { type: 'volume'; source?: undefined; target: string; readOnly: boolean }
  | { type: 'bind'; source: string; target: string; readOnly: boolean }
  | { type: 'tmpfs'; target: string; sizeBytes?: number };

export type DependsCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface StackDependency {
  service: string;
  condition: DependsCondition;
  /** false: the dependent starts even when this one is missing or fails */
  required: boolean;
  /** restart the dependent when this one is updated */
  restart: boolean;
}

export interface StackHealthcheck {
  /** ["CMD", ...] or ["CMD-SHELL", "..."]; ["NONE"] disables the image's own check */
  test: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
  startIntervalMs?: number;
}

export interface StackDevice {
  host: string;
  container: string;
  permissions: string;
}

export interface StackService {
  /** the name in the compose file */
  name: string;
  /** the Warren service it becomes: `<stack>-<service>` as one DNS label */
  warrenName: string;
  image: string;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  ports: StackPort[];
  /** `expose:`: container ports that other nodes reach through the mesh (its guards: members only) */
  expose?: StackPort[];
  mounts: StackMount[];
  restart: 'always' | 'on-failure' | 'no';
  dependsOn: StackDependency[];
  healthcheck?: StackHealthcheck;
  /** names other services of the stack reach this one by: service name, container_name, aliases */
  aliases: string[];
  containerName?: string;
  hostname?: string;
  networkMode?: 'host';
  user?: string;
  workingDir?: string;
  capAdd?: string[];
  capDrop?: string[];
  devices?: StackDevice[];
  privileged?: boolean;
  readOnly?: boolean;
  shmSizeBytes?: number;
  tmpfs?: string[];
  ulimits?: Record<string, { soft: number; hard: number }>;
  sysctls?: Record<string, string>;
  extraHosts?: string[];
  securityOpt?: string[];
  labels?: Record<string, string>;
  stopGracePeriodMs?: number;
  stopSignal?: string;
  init?: boolean;
  replicas: number;
  limits?: { cpus?: number; memoryBytes?: number; pids?: number };
  reservations?: { cpus?: number; memoryBytes?: number };
  constraints: Constraint[];
  /** set when a bind mount ties the service to the node it is deployed on */
  pinnedByBindMount?: boolean;
  profiles?: string[];
}

export interface StackVolume {
  /** the name in the compose file */
  name: string;
  /** external: true — an existing volume of this name is used, never created or removed */
  external: boolean;
  externalName?: string;
  labels?: Record<string, string>;
  /** `x-warren: {local: true}`: a per-node Docker volume, not replicated (caches); starts empty elsewhere */
  local?: true;
  /** `x-warren: {snapshot_interval, retention}`: the Warren volume's policy, set at each deploy */
  policy?: VolumePolicyRecord;
}

export interface StackModel {
  name: string;
  services: StackService[];
  volumes: StackVolume[];
}

export interface StackConfigResult {
  model: StackModel;
  warnings: Problem[];
}
