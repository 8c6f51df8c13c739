import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { UserError } from '../core/errors.ts';

export const ETCD_INSTALL_HINT = 'install it with: apt-get install etcd-server (or run scripts/setup.sh as root)';

/** Finds the etcd server binary: $WARREN_ETCD_BIN, then PATH, then Debian's location. */
export async function findEtcdBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.WARREN_ETCD_BIN) {
    const ok = await access(env.WARREN_ETCD_BIN, constants.X_OK).then(() => true, () => false);
    if (!ok) throw new UserError('etcd_missing', `WARREN_ETCD_BIN=${env.WARREN_ETCD_BIN} is not an executable file`);
    return env.WARREN_ETCD_BIN;
  }
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'etcd');
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  throw new UserError('etcd_missing', `the etcd server is not installed: ${ETCD_INSTALL_HINT}`);
}
