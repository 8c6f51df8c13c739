import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { storeFailure } from '../consensus/store-call.ts';
import { isUserError } from '../core/errors.ts';
import type { ApiErrorBody } from '../core/views.ts';

export function errorBody(code: string, message: string): ApiErrorBody {
  return { error: { code, message } };
}

export function jsonError(c: Context, status: ContentfulStatusCode, code: string, message: string) {
  return c.json(errorBody(code, message), status);
}

/**
 * The answer to a request that threw: a UserError as itself, a failure of the cluster's store as
 * a 503 (never an internal error: a voter change closes the etcd client under requests in flight),
 * anything else a logged 500 without its details.
 */
export function errorAnswer(c: Context, err: Error, logger: Pick<Logger, 'error'>) {
  const known = isUserError(err) ? err : storeFailure(err);
  if (known) return jsonError(c, known.status as ContentfulStatusCode, known.code, known.message);
  logger.error({ err }, 'request failed');
  return jsonError(c, 500, 'internal', 'internal error: see the agent log');
}
