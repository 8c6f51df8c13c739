import { existsSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';

/**
 * The command line that runs `cmd args` so that the kernel kills it the moment this process
 * dies, even by kill -9 (`setpriv --pdeathsig SIGKILL`): no etcd or proxy worker outlives its
 * agent. Where setpriv is missing, `cmd args` as they are.
 */
export function diesWithParent(cmd: string, args: readonly string[]): [string, string[]] {
  return existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', cmd, ...args]] : [cmd, [...args]];
}
