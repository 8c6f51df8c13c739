/**
 * The proxy's contract with the rest of the agent: what a route source tells it (backends of a
 * service), what it is started with, and the counters it reports.
 */
import type { Agent } from 'undici';
import type { Logger } from '../system/logger.ts';

export interface Backend {
  host: string;
  port: number;
  nodeId: string;
  slot: number;
  /** set when host:port is a local container's own address (no docker-proxy in the way) */
  container?: { id: string; epoch: number };
}

export interface RouteSource {
  /** running replicas of a service (already filtered to alive nodes); [] when none run */
  backends(service: string): Backend[];
  /** whether the service exists at all (for 503 "no running replica" vs 404 "unknown") */
  hasService(service: string): boolean;
  /** every service name (for the 404 page) */
  services(): string[];
  /** a container address could not be reached (connect timeout, no route): route it another way */
  unreachable?(b: Backend): void;
  /** whether the service asked for plain HTTP to be redirected to HTTPS */
  httpsRedirect?(service: string): boolean;
}

export interface ProxyOptions {
  bind: string;
  port: number;
  domain: string;
  routes: RouteSource;
  logger: Logger;
  /** how long to keep retrying a service with no reachable backend before the 503 page (default 5000 ms) */
  retryWindowMs?: number;
  /** tests only: every answer says which process served it (x-warren-proxy-pid) */
  pidHeader?: boolean;
  /** the port HTTPS is served on (for redirects); undefined while there is none */
  httpsPort?: () => number | undefined;
  /** each backend origin's pool (proxy-source.ts: other nodes' guards are connected to from this node's address) */
  pools?: NonNullable<Agent.Options['factory']>;
}

export interface ProxyStats {
  requests: number;
  retries: number;
  errors: number;
  /** tries (a request and each of its retries) sent to a local container's own address */
  containerTries: number;
  /** tries sent to a node address : published port */
  publishedTries: number;
}

/** What the proxy needs apart from where it listens. */
export type ProxyHandlerOptions = Omit<ProxyOptions, 'bind' | 'port'>;
