import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { WARREN_BIN, tempDir } from './agents.ts';
import type { Lan } from './netns.ts';

/** An agent running inside one of a test LAN's network namespaces. */
export interface NsAgent {
  name: string;
  ip: string;
  child: ChildProcess;
  logFile: string;
  api: string;
  dataDir: string;
}

export function nsLog(a: NsAgent): string {
  return existsSync(a.logFile) ? readFileSync(a.logFile, 'utf8') : '';
}

export async function nsJson(a: NsAgent, path: string): Promise<any> {
  const res = await fetch(`${a.api}${path}`, { signal: AbortSignal.timeout(2000) });
  return res.json();
}

/**
 * Starts one agent per LAN host, all at once, with mDNS on and no --join (the LAN's cleanup
 * kills them, with their etcd children).
 */
export async function startNsAgents(lan: Lan, extraArgs: string[] = []): Promise<NsAgent[]> {
  const dir = await tempDir('warren-ns-');
  return lan.hosts.map((host, i) => {
    const name = `m${i}`;
    const logFile = join(dir, `${name}.log`);
    const child = lan.spawnIn(host.ns, WARREN_BIN, ['agent', '--bind', host.ip, '--data-dir', join(dir, name), '--name', name, '--tailscale', 'off', '--log-level', 'debug', ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = createWriteStream(logFile, { flags: 'a' });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    return { name, ip: host.ip, child, logFile, api: `http://${host.ip}:7370`, dataDir: join(dir, name) };
  });
}
