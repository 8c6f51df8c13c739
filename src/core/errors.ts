/**
 * An error meant for a person: its message is shown as one line, never with a stack.
 * `code` is machine-readable (also used as the HTTP error code), `status` the HTTP status.
 */
export class UserError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** The message of anything thrown, without a stack. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Error codes of 503 answers that mean nothing was done (the node was not connected to the
 * cluster's store yet, or was replacing that connection): the CLI sends such a request again
 * for a while (cli/client.ts) instead of failing at a voter change.
 */
export const NOTHING_DONE_CODES: readonly string[] = ['not_ready', 'store_reconnecting'];
