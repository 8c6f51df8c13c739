/**
 * `warren stack config|ls|ps|rm` and `warren deploy`: compose files as stacks. `stack config`
 * needs no agent (like `docker compose config`); the others talk to one.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { formatProblem, type Problem } from '../core/compose/diagnostics.ts';
import type { StackConfigResult } from '../core/compose/model.ts';
import type { ServiceView } from '../core/service-types.ts';
import { configOf, type ProjectOptions } from '../stacks/read-project.ts';
import type { LocalVolumeReport, StackRemoval, StackView } from '../stacks/stack-manager.ts';
import { clientFor } from './client.ts';
import { colourState, formatDuration, printJson, renderTable, yellow } from './output.ts';
import { collect } from './command-io.ts';
import { replicaNode, formatReplicaAddress } from './service-render.ts';
import { runDeploy, serviceLine, type DeployFlags } from './stack-deploy.ts';

interface ProjectFlags {
  file?: string[];
  envFile?: string;
  projectName?: string;
  profile?: string[];
  json?: boolean;
}

/** The -f / --env-file / -p / --profile options every stack command that reads files takes. */
function projectOptions(cmd: Command): Command {
  return cmd
    .option('-f, --file <file>', 'a compose file (repeatable; later files override earlier ones; default compose.yaml or docker-compose.yml here)', collect)
    .option('--env-file <file>', 'read variables from this file instead of the .env next to the first compose file')
    .option('-p, --project-name <name>', "the stack's name (default: the file's name:, else its directory's name)")
    .option('--profile <name>', 'enable the services of this profile (repeatable)', collect);
}

export const projectFrom = (flags: ProjectFlags): ProjectOptions => ({ files: flags.file ?? [], envFile: flags.envFile, projectName: flags.projectName, profiles: flags.profile });

/** A warning as JSON: where, the key path and the message. */
export const problemJson = (p: Problem) => ({ file: p.at?.file, line: p.at?.line, path: p.path, message: p.message });

export function printWarnings(warnings: Problem[]): void {
  for (const w of warnings) process.stderr.write(`${yellow('warning:')} ${formatProblem(w)}\n`);
}

/** The normalised model as YAML (compose's own `config` prints YAML too). */
export function renderConfig(result: StackConfigResult): string {
  return stringify(result.model, { lineWidth: 0 });
}

/** `stack ls` rows: name, services, running/desired replicas, last deploy. */
export function stackRows(stacks: StackView[], now = Date.now()): string[][] {
  return stacks.map((s) => {
    const desired = s.services.reduce((n, v) => n + v.desired, 0);
    const running = s.services.reduce((n, v) => n + v.running, 0);
    return [s.name, String(s.services.length), `${running}/${desired}`, `${formatDuration(now - s.updatedAt)} ago`];
  });
}

/** `stack ps` rows: one per replica. */
export function replicaRows(services: ServiceView[]): string[][] {
  return services.flatMap((v) => v.replicas.map((r) => [v.spec.name, String(r.slot), replicaNode(r), colourState(r.state) + (r.health ? ` (${colourState(r.health)})` : ''), r.reason ?? (r.progress ? `pulling: ${r.progress}` : formatReplicaAddress(r))]));
}

export function registerStackCommands(program: Command): void {
  projectOptions(program.command('deploy'))
    .description('create or update a stack from compose files: only the services that changed are touched; services no longer in the files are removed')
    .option('--dry-run', 'print what would be created, updated and removed, and change nothing')
    .option('--detach', 'return once the stack is written, without waiting for its services to run')
    .option('--timeout <seconds>', 'how long to wait for every service to run (default 120)')
    .option('--json', 'print the deploy result as JSON (progress goes to stderr)')
    .action((flags: ProjectFlags & DeployFlags, cmd: Command) => runDeploy(cmd, projectFrom(flags), flags));

  const stack = program.command('stack').description('stacks: compose files deployed as sets of services (see also warren deploy)');

  stack
    .command('ls')
    .description('the deployed stacks')
    .option('--json', 'print JSON (an array of stacks, each with its services)')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const { stacks } = await (await clientFor(cmd)).get<{ stacks: StackView[] }>('/v1/stacks');
      if (flags.json) return printJson(stacks);
      if (!stacks.length) return console.log('no stacks (deploy one with: warren deploy -f compose.yaml)');
      console.log(renderTable(['name', 'services', 'replicas', 'updated'], stackRows(stacks)));
    });

  stack
    .command('ps')
    .description("a stack's services and where each replica runs")
    .argument('<name>', 'the stack')
    .option('--json', 'print JSON (the stack with its services)')
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const { stack: view } = await (await clientFor(cmd)).get<{ stack: StackView }>(`/v1/stacks/${encodeURIComponent(name)}`);
      if (flags.json) return printJson(view);
      for (const v of view.services) console.log(serviceLine(v));
      console.log('\n' + renderTable(['service', 'slot', 'node', 'state', 'address / reason'], replicaRows(view.services)));
    });

  stack
    .command('rm')
    .description("remove a stack: its services and their containers (its volumes only with --volumes)")
    .argument('<name>', 'the stack')
    .option('--volumes', "also remove the stack's volumes: its Warren volumes (copies, snapshots, records) and its local Docker volumes, on every node (a node that is down removes its own when it is back)")
    .option('--json', 'print JSON')
    .action(async (name: string, flags: { volumes?: boolean; json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const { body } = await client.request<{ removed: StackRemoval }>('DELETE', `/v1/stacks/${encodeURIComponent(name)}${flags.volumes ? '?volumes=1' : ''}`, undefined, { admin: true, timeoutMs: 60_000 });
      if (flags.json) return printJson(body);
      console.log(`removed stack ${name}: ${body.removed.services.length} service${body.removed.services.length === 1 ? '' : 's'}${flags.volumes ? `, ${body.removed.volumes.length} volume${body.removed.volumes.length === 1 ? '' : 's'}` : ' (volumes kept; --volumes removes them)'}`);
      for (const line of localVolumeLines(body.removed.localVolumes ?? [])) console.log(line);
    });

  projectOptions(stack.command('config'))
    .description('print the normalised stack a compose project becomes, with its warnings; needs no agent (like docker compose config)')
    .option('--json', 'print JSON: { model, warnings }')
    .action((flags: ProjectFlags) => {
      const result = configOf(projectFrom(flags));
      if (flags.json) return printJson({ model: result.model, warnings: result.warnings.map(problemJson) });
      process.stdout.write(renderConfig(result));
      printWarnings(result.warnings);
    });
}

/** Where each local Docker volume of a removed stack stands, node by node (stack rm --volumes). */
export function localVolumeLines(report: LocalVolumeReport[]): string[] {
  return report.map((r) => {
    const parts = r.removedOn.length ? [`removed on ${r.removedOn.join(', ')}`] : r.pending.length ? [] : ['no node had it'];
    const up = r.pending.filter((p) => p.state === 'alive').map((p) => p.node);
    const down = r.pending.filter((p) => p.state !== 'alive').map((p) => `${p.node} (${p.state})`);
    if (up.length) parts.push(`still in use on ${up.join(', ')}: removed there once its containers are gone`);
    if (down.length) parts.push(`${down.join(', ')} remove${down.length === 1 ? 's' : ''} ${down.length === 1 ? 'its' : 'their'} copy when back`);
    return `  ${r.volume}: ${parts.join('; ')}`;
  });
}
