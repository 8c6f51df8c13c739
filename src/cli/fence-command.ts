import type { Command } from 'commander';
import Docker from 'dockerode';
import { UserError, messageOf } from '../core/errors.ts';
import { LABELS } from '../runtime/docker-engine.ts';
import { fenceRecheckMs } from '../runtime/fence-watchdog.ts';
import { defaultDataDir, readRuntimeInfo } from '../system/data-dir.ts';
import { readNodeId } from '../system/identity.ts';

/**
 * Whether systemd says the agent's last run ended cleanly (ExecStopPost gets EXIT_CODE and
 * EXIT_STATUS): a clean stop stopped the containers itself, anything else (a kill, a crash, a
 * failed stop) may have left them running.
 */
export function exitedCleanly(env: NodeJS.ProcessEnv): boolean {
  return env.EXIT_CODE === 'exited' && env.EXIT_STATUS === '0';
}

async function killNodeContainers(docker: Docker, nodeId: string): Promise<{ ids: string[]; failed: string[] }> {
  let ids: string[];
  try {
    ids = (await docker.listContainers({ filters: { label: [`${LABELS.node}=${nodeId}`], status: ['running', 'paused', 'restarting'] } })).map((c) => c.Id);
  } catch (err) {
    throw new UserError('docker_unavailable', `cannot list this node's containers: ${messageOf(err)}`);
  }
  const failed: string[] = [];
  for (const id of ids) await docker.getContainer(id).kill().catch((err: unknown) => failed.push(`${id.slice(0, 12)}: ${messageOf(err)}`));
  return { ids, failed };
}

/**
 * `warren fence`: kills this node's Warren containers after its agent died without stopping them
 * (src/runtime/fence-watchdog.ts explains why). The package's systemd unit runs it as ExecStopPost,
 * where KillMode=mixed takes the agent's own watchdog down with it.
 */
export function registerFenceCommand(program: Command): void {
  program
    .command('fence')
    .description("kill this node's Warren containers after its agent died without stopping them (the systemd unit runs it when the agent exits; after a clean stop it does nothing)")
    .option('--force', 'kill them even when systemd reports a clean exit')
    .action(async (opts: { force?: boolean }, cmd: Command) => {
      const dataDir = cmd.optsWithGlobals<{ dataDir?: string }>().dataDir ?? defaultDataDir();
      const running = await readRuntimeInfo(dataDir);
      if (running) throw new UserError('agent_running', `the agent (pid ${running.pid}) runs on ${dataDir} and manages its containers: stop it first`);
      if (!opts.force && exitedCleanly(process.env)) {
        process.stdout.write('the agent stopped cleanly (it stopped its containers): nothing to fence\n');
        return;
      }
      const nodeId = await readNodeId(dataDir);
      if (!nodeId) {
        process.stdout.write(`no node identity in ${dataDir}: nothing to fence\n`);
        return;
      }
      const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
      // no agent runs on this data dir: every run's containers of this node are the dead agent's;
      // a second look kills a create or start that was in flight when it died (fence-watchdog.ts)
      const first = await killNodeContainers(docker, nodeId);
      await new Promise((r) => setTimeout(r, fenceRecheckMs()));
      const second = await killNodeContainers(docker, nodeId);
      const ids = [...first.ids, ...second.ids];
      const failed = [...first.failed, ...second.failed];
      process.stdout.write(`killed ${ids.length - failed.length} of ${ids.length} container(s) of node ${nodeId}\n`);
      if (failed.length > 0) throw new UserError('fence_incomplete', `could not kill ${failed.join('; ')}`);
    });
}
