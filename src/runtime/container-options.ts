/**
 * A ContainerSpec's optional container options (stacks' compose keys) as Docker create-container
 * fields. Pure: docker-engine.ts merges the result into what it creates.
 */
import type { ContainerOptions, ContainerSpec } from '../core/service-types.ts';

export interface DockerCreateParts {
  config: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
  networkingConfig?: { EndpointsConfig: Record<string, { Aliases: string[] }> };
}

/** The Docker network of a stack on one node: per node, since several agents may share one engine. */
export const stackNetworkName = (clusterId: string, nodeId: string, stack: string) => `warren_${clusterId.slice(0, 8)}_${nodeId.slice(-8).toLowerCase()}_${stack}`;

const NS_PER_MS = 1_000_000;

export function dockerParts(spec: ContainerSpec, networkName: string | undefined): DockerCreateParts {
  const o: ContainerOptions = spec.options ?? {};
  const config: Record<string, unknown> = {};
  const host: Record<string, unknown> = {};
  if (o.entrypoint) config.Entrypoint = o.entrypoint;
  if (o.user !== undefined) config.User = o.user;
  if (o.workingDir !== undefined) config.WorkingDir = o.workingDir;
  if (o.hostname !== undefined) config.Hostname = o.hostname;
  if (o.labels) config.Labels = { ...o.labels };
  if (o.stopSignal) config.StopSignal = o.stopSignal;
  if (o.stopGracePeriodMs !== undefined) config.StopTimeout = Math.ceil(o.stopGracePeriodMs / 1000);
  if (o.healthcheck) {
    const h = o.healthcheck;
    config.Healthcheck = {
      Test: h.test,
      ...(h.intervalMs !== undefined ? { Interval: h.intervalMs * NS_PER_MS } : {}),
      ...(h.timeoutMs !== undefined ? { Timeout: h.timeoutMs * NS_PER_MS } : {}),
      ...(h.retries !== undefined ? { Retries: h.retries } : {}),
      ...(h.startPeriodMs !== undefined ? { StartPeriod: h.startPeriodMs * NS_PER_MS } : {}),
    };
  }
  if (o.anonymousVolumes?.length) config.Volumes = Object.fromEntries(o.anonymousVolumes.map((p) => [p, {}]));
  if (o.init === false) host.Init = false;
  if (o.capAdd) host.CapAdd = o.capAdd;
  if (o.capDrop) host.CapDrop = o.capDrop;
  if (o.privileged) host.Privileged = true;
  if (o.readOnly) host.ReadonlyRootfs = true;
  if (o.devices) host.Devices = o.devices.map((d) => ({ PathOnHost: d.host, PathInContainer: d.container, CgroupPermissions: d.permissions }));
  if (o.shmSizeBytes !== undefined) host.ShmSize = o.shmSizeBytes;
  if (o.tmpfs) host.Tmpfs = o.tmpfs;
  if (o.ulimits) host.Ulimits = o.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard }));
  if (o.sysctls) host.Sysctls = o.sysctls;
  if (o.extraHosts) host.ExtraHosts = o.extraHosts;
  if (o.securityOpt) host.SecurityOpt = o.securityOpt;
  if (o.pidsLimit !== undefined) host.PidsLimit = o.pidsLimit;
  if (o.memoryReservationBytes !== undefined) host.MemoryReservation = o.memoryReservationBytes;
  const binds = [
    ...(o.binds ?? []).map((b) => `${b.source}:${b.target}${b.readOnly ? ':ro' : ''}`),
    ...(o.volumes ?? []).map((v) => `${v.name}:${v.target}${v.readOnly ? ':ro' : ''}`),
  ];
  if (binds.length) host.Binds = binds;
  if (o.hostNetwork) {
    host.NetworkMode = 'host';
    return { config, hostConfig: host };
  }
  if (o.network && networkName) {
    host.NetworkMode = networkName;
    return { config, hostConfig: host, networkingConfig: { EndpointsConfig: { [networkName]: { Aliases: o.network.aliases } } } };
  }
  return { config, hostConfig: host };
}
