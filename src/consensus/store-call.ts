import type { Etcd3 } from 'etcd3';
import { UserError } from '../core/errors.ts';

/**
 * For the API's records in etcd (UI sessions, API tokens): a store that does not answer is a 503
 * the caller may retry, never an internal error.
 */
export async function storeCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError('store_unavailable', `the cluster's store did not answer (${(err as Error).message}): try again in a moment`, 503);
  }
}

/** The etcd client, or a clear 503 while this node is not connected yet. */
export function connectedClient(client: () => Etcd3 | undefined): Etcd3 {
  const c = client();
  if (!c) throw new UserError('not_ready', 'this node is not connected to the cluster yet: try again in a moment', 503);
  return c;
}
