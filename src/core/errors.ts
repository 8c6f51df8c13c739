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
