/**
 * Stopping and starting this machine's Docker engine (the docker-restart test and the chaos run's
 * restart-docker fault). Only safe while nothing else uses the engine: CI runs test files one at a
 * time, and a chaos run is alone on the machine.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { waitFor } from './wait.ts';

const execFileP = promisify(execFile);
const DOCKERD_LOG = '/var/log/warren-dockerd.log';

export async function dockerUp(): Promise<boolean> {
  return execFileP('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 5000 }).then(() => true, () => false);
}

export async function dockerdPid(): Promise<number | undefined> {
  const out = await execFileP('pgrep', ['-x', 'dockerd']).then((r) => r.stdout, () => '');
  const pid = Number(out.trim().split('\n')[0]);
  return pid > 0 ? pid : undefined;
}

/** Whether a process runs (a zombie left for its adopter to reap does not). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Starts dockerd the way scripts/setup.sh does (detached, logging to its file) and waits for it. */
export async function startDockerd(): Promise<void> {
  const log = openSync(DOCKERD_LOG, 'a');
  spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref();
  closeSync(log);
  await waitFor('dockerd answering', dockerUp, 60_000, 200);
}

/** Stops the engine as a service manager would (SIGTERM: it stops the containers, then exits). */
export async function stopDockerd(): Promise<void> {
  const pid = await dockerdPid();
  if (!pid) return;
  process.kill(pid, 'SIGTERM');
  await waitFor('dockerd gone', async () => !running(pid), 60_000, 100);
}
