/**
 * The proxy's connection pools, one per backend origin, leaving from this node's own address
 * when the backend is another node's (a stack replica's host port is a guard that admits members'
 * addresses only: core/mesh/guard-plan.ts). A local container's own address is reached from
 * whatever source the kernel picks, as before (its bridge's gateway: apps that trust the Docker
 * subnet as their proxy keep working).
 */
import { Client, Pool, type Dispatcher } from 'undici';
import { sourceFor } from '../core/mesh/guard-plan.ts';
import type { Backend } from './proxy-types.ts';

/** undici Agent's `factory`: `isContainerHost` tells a local container's address from a node's. */
export function sourceBoundPools(bind: string, isContainerHost: (host: string) => boolean): (origin: string | URL, opts: object) => Dispatcher {
  return (origin, opts) => {
    const host = new URL(String(origin)).hostname.replace(/^\[|\]$/g, '');
    const localAddress = isContainerHost(host) ? undefined : sourceFor(bind, host);
    const o = { ...(opts as Pool.Options), ...(localAddress ? { localAddress } : {}) };
    // as undici's own factory does
    return o.connections === 1 ? new Client(origin, o) : new Pool(origin, o);
  };
}

/** Is `host` the container address of one of these backends? */
export function isContainerHostIn(lists: Iterable<readonly Backend[]>, host: string): boolean {
  for (const list of lists) for (const b of list) if (b.container && b.host === host) return true;
  return false;
}
