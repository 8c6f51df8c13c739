import { ClientClosedError, GRPCCancelledError, GRPCDeadlineExceededError, GRPCResourceExhastedError, GRPCUnavailableError, type Etcd3 } from 'etcd3';
import { UserError } from '../core/errors.ts';

/** The 503 of a store that did not answer (a write's outcome unknown), `detail` saying how. */
export const storeUnavailable = (detail: string) => new UserError('store_unavailable', `the cluster's store did not answer (${detail}): try again in a moment`, 503);

/**
 * A request that failed because the cluster's store did not answer (unavailable, too slow, too
 * busy, or the client closed), as a 503 the caller may retry; undefined for any other error.
 * ClientClosedError is thrown before a call is sent: this node was replacing its connection (a
 * voter change: demoted to a client, or the quorum rebuilt) while the request ran.
 */
export function storeFailure(err: unknown): UserError | undefined {
  if (err instanceof ClientClosedError) return new UserError('store_reconnecting', 'this node was reconnecting to the cluster\'s store (a voter change) and made no change: try again', 503);
  const unanswered = err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError || err instanceof GRPCCancelledError || err instanceof GRPCResourceExhastedError;
  return unanswered ? storeUnavailable(err.message) : undefined;
}

/**
 * For the API's records in etcd (UI sessions, API tokens): a store that does not answer is a 503
 * the caller may retry, never an internal error.
 */
export async function storeCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw storeFailure(err) ?? storeUnavailable((err as Error).message);
  }
}

/** The etcd client, or a clear 503 while this node is not connected yet. */
export function connectedClient(client: () => Etcd3 | undefined): Etcd3 {
  const c = client();
  if (!c) throw new UserError('not_ready', 'this node is not connected to the cluster yet: try again in a moment', 503);
  return c;
}
