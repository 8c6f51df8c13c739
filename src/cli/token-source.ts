/**
 * Which token the CLI sends, first found wins (README "API tokens"):
 * 1. $WARREN_TOKEN: an API token from `warren token create` (or any token), sent on every request;
 * 2. $WARREN_ADMIN_TOKEN: a node's admin token, sent on admin calls;
 * 3. the admin-token file in the local agent's data dir (--data-dir, $WARREN_DATA_DIR), on admin calls.
 */
export interface TokenChoice {
  token: string;
  source: 'WARREN_TOKEN' | 'WARREN_ADMIN_TOKEN' | 'data-dir';
  /** also on calls that need no token (so a dead API token is reported at once) */
  always: boolean;
}

export async function chooseToken(env: NodeJS.ProcessEnv, fromDataDir: () => Promise<string | undefined>): Promise<TokenChoice | undefined> {
  const api = env.WARREN_TOKEN?.trim();
  if (api) return { token: api, source: 'WARREN_TOKEN', always: true };
  const admin = env.WARREN_ADMIN_TOKEN?.trim();
  if (admin) return { token: admin, source: 'WARREN_ADMIN_TOKEN', always: false };
  const file = await fromDataDir();
  return file ? { token: file, source: 'data-dir', always: false } : undefined;
}

export const TOKEN_HELP = `
Authentication (first found wins):
  $WARREN_TOKEN         an API token ("warren token create"), sent on every request
  $WARREN_ADMIN_TOKEN   a node's admin token, sent on calls that change things
  <data-dir>/admin-token  the local agent's admin token (--data-dir, $WARREN_DATA_DIR)`;
