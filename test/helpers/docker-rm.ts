import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/**
 * `docker rm -f` of containers one at a time, each bounded. The docker CLI removes the ids it is
 * given all at once, and Debian 12's Docker 20.10.24 can deadlock when many containers of one
 * user-defined network exit together (moby/moby#46661: libnetwork takes the controller and the
 * network locks in opposite orders; fixed after that release): seen once, at the end of a chaos
 * run, as a `docker rm -f` of 12 stack containers that never returned and an engine that hung.
 */
export async function removeContainers(ids: readonly string[]): Promise<void> {
  for (const id of ids) await execFileP('docker', ['rm', '-f', id], { timeout: 60_000 }).catch(() => undefined);
}
