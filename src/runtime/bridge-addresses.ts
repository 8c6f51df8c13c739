/**
 * Extra host addresses on a stack network's Linux bridge (`ip addr`), where the mesh listens for
 * the stack's services on this node (see core/mesh/name-addrs.ts). Needs CAP_NET_ADMIN (the agent
 * runs as root to use Docker anyway). The bridge goes away with its network, and its addresses
 * with it; the addresses of a bridge are only ever /32s from the top half of its subnet, so
 * Docker's own (gateway, containers) are never touched.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The /32 addresses on `bridge` (IPv4). */
async function current(bridge: string): Promise<Set<string>> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge]);
  const out = new Set<string>();
  for (const m of stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\/32\b/g)) out.add(m[1]!);
  return out;
}

/**
 * Makes the /32 addresses of `bridge` exactly `want` (plus Docker's own, which are not /32).
 * Throws the command's message when `ip` fails (not root, no such bridge).
 */
export async function syncBridgeAddresses(bridge: string, want: ReadonlySet<string>): Promise<void> {
  const have = await current(bridge);
  for (const a of want) if (!have.has(a)) await run('ip', ['addr', 'add', `${a}/32`, 'dev', bridge]);
  for (const a of have) if (!want.has(a)) await run('ip', ['addr', 'del', `${a}/32`, 'dev', bridge]);
}
