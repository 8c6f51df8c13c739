import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { UserError } from '../core/errors.ts';
import { buildEtcdArgs, etcdClientUrl, etcdEnv, type EtcdLaunch } from './etcd-command.ts';
import { etcdMemberHealthy } from './etcd-client.ts';
import type { TlsFiles } from '../system/pki.ts';
import { diesWithParent } from '../system/child-guard.ts';
import { monoNow } from '../system/clock.ts';

export interface EtcdProcessOptions {
  binary: string;
  launch: EtcdLaunch;
  /** the node's certificates, for the health check (required when launch.tls is set) */
  tlsFiles?: TlsFiles;
  logger: Logger;
  /** how long the first start may take before it counts as failed */
  startTimeoutMs?: number;
}

/** Restart delays after an unexpected exit: doubling, capped. */
export function restartDelayMs(attempt: number): number {
  return Math.min(250 * 2 ** Math.max(0, attempt), 10_000);
}

/**
 * Runs one etcd member as a child process and keeps it running.
 *
 * etcd is started through `setpriv --pdeathsig SIGKILL`, so the kernel kills it the moment
 * the agent dies, even by SIGKILL; and in its own process group, so a Ctrl-C meant for the
 * agent does not reach it before the agent has stopped it in order.
 */
export class EtcdProcess extends EventEmitter {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastLines: string[] = [];
  /** set once etcd said this member was removed: restarting it would be pointless */
  removed = false;
  readonly clientUrl: string;

  constructor(private opts: EtcdProcessOptions) {
    super();
    this.clientUrl = etcdClientUrl(opts.launch.bind, opts.launch.clientPort, opts.launch.tls !== undefined);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts etcd and resolves once its /health answers true; with `waitHealthy: false` only once
   * the process runs (a member rejoining a cluster is healthy only when a quorum is back).
   */
  async start(opts: { waitHealthy?: boolean } = {}): Promise<void> {
    this.stopping = false;
    this.spawnChild();
    if (opts.waitHealthy === false) return;
    try {
      await this.waitHealthy(this.opts.startTimeoutMs ?? 20_000);
    } catch (err) {
      await this.stop(1000);
      throw err;
    }
  }

  private spawnChild(): void {
    const args = buildEtcdArgs(this.opts.launch);
    // --force-new-cluster rebuilds the membership once; a restart with it would drop every member
    // added since
    if (this.opts.launch.forceNewCluster) this.opts.launch = { ...this.opts.launch, forceNewCluster: false };
    const [cmd, argv] = diesWithParent(this.opts.binary, args);
    const log = this.opts.logger;
    log.debug({ cmd, argv }, 'starting etcd');
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: etcdEnv(process.env) });
    this.child = child;
    this.lastLines = [];
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => this.relayLine(line));
    }
    child.on('error', (err) => log.error({ err: err.message }, 'etcd could not be started'));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      this.emit('exit', code, signal);
      if (this.stopping || this.removed) return;
      const delay = restartDelayMs(this.restarts++);
      log.warn({ code, signal, restartInMs: delay, lastOutput: this.lastLines.slice(-3) }, 'etcd exited unexpectedly; restarting');
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.stopping) return;
        this.spawnChild();
        this.waitHealthy(30_000).then(
          () => {
            log.info({ restarts: this.restarts }, 'etcd is healthy again');
            this.emit('restarted');
          },
          () => undefined,
        );
      }, delay);
    });
  }

  /** etcd's own JSON log lines go into the agent's log at debug level, never raw to the terminal. */
  private relayLine(line: string): void {
    // etcd exits by itself once it learns it was removed from the cluster
    // a joining member whose seat went away before it started fails its discovery for good
    const joinFailed = this.opts.launch.clusterState === 'existing' && line.includes('"discovery failed"');
    if (!this.removed && (joinFailed || line.includes('permanently removed from the cluster') || line.includes('the member has been permanently removed'))) {
      this.removed = true;
      this.emit('removed');
    }
    this.lastLines.push(line);
    if (this.lastLines.length > 20) this.lastLines.shift();
    let entry: Record<string, unknown> | undefined;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      entry = undefined;
    }
    if (entry) this.opts.logger.debug({ etcd: entry }, `etcd: ${String(entry.msg ?? '')}`);
    else this.opts.logger.debug({ etcdRaw: line }, 'etcd output');
  }

  /** A live check of etcd's /health endpoint. */
  async healthy(timeoutMs = 1000): Promise<boolean> {
    if (this.opts.tlsFiles) return etcdMemberHealthy(this.clientUrl, this.opts.tlsFiles, timeoutMs);
    try {
      const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await res.json()) as { health?: string };
      return res.ok && body.health === 'true';
    } catch {
      return false;
    }
  }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = monoNow() + timeoutMs;
    while (monoNow() < deadline) {
      if (!this.running) {
        const reason = this.lastLines.map(extractMessage).filter(Boolean).slice(-2).join('; ');
        throw new UserError('etcd_failed', `etcd exited during start${reason ? `: ${reason}` : ''}`, 503);
      }
      if (await this.healthy(500)) {
        this.restarts = 0;
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new UserError('etcd_failed', `etcd did not become healthy within ${timeoutMs} ms`, 503);
  }

  /** Stops etcd: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

function extractMessage(line: string): string {
  try {
    const e = JSON.parse(line) as { msg?: string; error?: string };
    return [e.msg, e.error].filter(Boolean).join(': ');
  } catch {
    return line.trim();
  }
}
