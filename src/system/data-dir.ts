import { mkdir, access, writeFile, readFile, rm, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError, messageOf } from '../core/errors.ts';

export const DATA_FILES = {
  identity: 'identity.json',
  adminToken: 'admin-token',
  runtime: 'agent.json',
  etcd: 'etcd',
} as const;

/** What a running agent writes into its data dir so the CLI can find it. */
export interface AgentRuntimeInfo {
  pid: number;
  api: string;
  id: string;
  name: string;
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (uid === 0) return '/var/lib/warren';
  const base = env.XDG_DATA_HOME || join(env.HOME ?? '.', '.local', 'share');
  return join(base, 'warren');
}

/** Creates the data dir if needed and proves it is writable, with one clear line if not. */
export async function prepareDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK | constants.R_OK | constants.X_OK);
    const probe = join(dir, `.write-test-${process.pid}`);
    await writeFile(probe, 'ok');
    await rm(probe);
  } catch (err) {
    throw new UserError('data_dir_not_writable', `data dir ${dir} is not writable (${messageOf(err)}): choose another with --data-dir or fix its permissions`);
  }
}

/** Whether a process exists (EPERM: it does, owned by someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function readRuntimeInfo(dir: string): Promise<AgentRuntimeInfo | undefined> {
  try {
    const info = JSON.parse(await readFile(join(dir, DATA_FILES.runtime), 'utf8')) as AgentRuntimeInfo;
    return typeof info.pid === 'number' && pidAlive(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Refuses to start a second agent on one data dir (two etcds on one store would corrupt it). */
export async function assertNoOtherAgent(dir: string): Promise<void> {
  const other = await readRuntimeInfo(dir);
  if (other && other.pid !== process.pid) {
    throw new UserError('data_dir_in_use', `data dir ${dir} is in use by another agent (pid ${other.pid}, API ${other.api}): stop it or choose another --data-dir`);
  }
}

export async function writeRuntimeInfo(dir: string, info: AgentRuntimeInfo): Promise<void> {
  await writeFile(join(dir, DATA_FILES.runtime), JSON.stringify(info) + '\n', { mode: 0o600 });
}

export async function removeRuntimeInfo(dir: string): Promise<void> {
  await rm(join(dir, DATA_FILES.runtime), { force: true });
}

/** The admin token that mutating HTTP calls need; created once, kept 0600. */
export async function loadOrCreateAdminToken(dir: string): Promise<string> {
  const file = join(dir, DATA_FILES.adminToken);
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (token !== '') return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UserError('bad_data_dir', `cannot read ${file}: ${messageOf(err)}`);
    }
  }
  const token = randomBytes(24).toString('base64url');
  await writeFile(file, token + '\n', { mode: 0o600 });
  return token;
}

export async function readAdminToken(dir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dir, DATA_FILES.adminToken), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}
