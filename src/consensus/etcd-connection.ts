import type { Etcd3 } from 'etcd3';
import type { TlsFiles } from '../system/pki.ts';
import { ClusterStore } from './cluster-store.ts';
import { createEtcdClient, createProbeClient } from './etcd-client.ts';

/** how long a client handed over to its successor stays open for the requests it still carries */
const RETIRE_AFTER_MS = 5000;

/** A session's connection to etcd: the client every layer uses, its store, the probe's clients. */
export interface Connection {
  client: Etcd3;
  store: ClusterStore;
  /** one client per endpoint, for the quorum probe (see QuorumWatch) */
  probes: Etcd3[];
}

export function openConnection(endpoints: string[], tls: TlsFiles, debug: (fields: object, msg: string) => void): Connection {
  const client = createEtcdClient({ endpoints, tls }, {}, debug);
  return { client, store: new ClusterStore(client), probes: endpoints.map((e) => createProbeClient({ endpoints: [e], tls })) };
}

export function closeConnection(conn: Connection): void {
  conn.client.close();
  for (const c of conn.probes) c.close();
}

/**
 * A connection kept serving while a reconnect to changed voters sets up its successor (make
 * before break), then closed a few seconds after the successor took over, once the requests it
 * carried are done. Closing it first made the node unhealthy and its API answer 503 for as long
 * as the old session took to stop and the new one to read the catalog.
 */
export class Handover {
  /** the connection kept serving until the next one is up */
  kept: Connection | undefined;
  private readonly closing = new Map<Connection, NodeJS.Timeout>();

  /** Keeps `conn` serving (a connection kept before and never taken over is closed). */
  keep(conn: Connection): void {
    if (this.kept) closeConnection(this.kept);
    this.kept = conn;
  }

  /** The successor is up: the kept connection (if any) closes in a few seconds. Whether there was one. */
  takeOver(): boolean {
    const old = this.kept;
    if (!old) return false;
    this.kept = undefined;
    const timer = setTimeout(() => {
      this.closing.delete(old);
      closeConnection(old);
    }, RETIRE_AFTER_MS);
    timer.unref();
    this.closing.set(old, timer);
    return true;
  }

  /** Nobody takes over: closes every connection held now. Whether one was kept serving. */
  drop(): boolean {
    for (const [conn, timer] of this.closing) {
      clearTimeout(timer);
      closeConnection(conn);
    }
    this.closing.clear();
    const old = this.kept;
    this.kept = undefined;
    if (old) closeConnection(old);
    return old !== undefined;
  }
}
