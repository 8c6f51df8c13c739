/**
 * compose's depends_on as a start gate: a replica's first container is created only once every
 * service it depends on is started, healthy or completed successfully (by the replicas' reports
 * in etcd, whichever node runs them). Pure; the reconciler asks it before creating a container.
 * Like compose, a running container is never stopped when a dependency later fails.
 */
import type { ContainerOptions, ReplicaStatus } from './service-types.ts';

export type Dependency = NonNullable<ContainerOptions['dependsOn']>[number];

export interface GateView {
  /** whether the service exists */
  exists(service: string): boolean;
  /** every replica report of the service */
  statuses(service: string): ReplicaStatus[];
}

const completed = (s: ReplicaStatus) => s.state === 'exited' && /^exited with code 0\b/.test(s.reason ?? '');

/** Why the replica must wait, or undefined when it may start. */
export function gateReason(deps: readonly Dependency[] | undefined, view: GateView): string | undefined {
  for (const d of deps ?? []) {
    if (!view.exists(d.service)) {
      if (d.required) return `waiting for ${d.service} (it is not deployed)`;
      continue;
    }
    const st = view.statuses(d.service);
    if (d.condition === 'service_started' && !st.some((s) => s.state === 'running' || completed(s))) return `waiting for ${d.service} to start`;
    if (d.condition === 'service_healthy' && !st.some((s) => s.state === 'running' && s.health === 'healthy')) {
      const running = st.find((s) => s.state === 'running');
      const why = !running ? 'it is not running yet' : running.health === undefined ? 'it has no healthcheck' : `it is ${running.health}`;
      return `waiting for ${d.service} to be healthy (${why})`;
    }
    if (d.condition === 'service_completed_successfully' && !st.some(completed)) {
      const failed = st.find((s) => s.state === 'exited' || s.state === 'failed');
      return `waiting for ${d.service} to complete successfully${failed?.reason ? ` (${failed.reason})` : ''}`;
    }
  }
  return undefined;
}

/** Docker's health from its container status text, e.g. "Up 5 seconds (healthy)". */
export function healthOf(status: string): ReplicaStatus['health'] {
  if (status.includes('(healthy)')) return 'healthy';
  if (status.includes('(unhealthy)')) return 'unhealthy';
  if (status.includes('(health: starting)')) return 'starting';
  return undefined;
}
