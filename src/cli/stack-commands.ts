/**
 * `warren stack config|ls|ps|rm` and `warren deploy`: compose files as stacks. `stack config`
 * needs no agent (like `docker compose config`); the others talk to one.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { formatProblem, type Problem } from '../core/compose/diagnostics.ts';
import type { StackConfigResult } from '../core/compose/model.ts';
import { configOf, type ProjectOptions } from '../stacks/read-project.ts';
import { printJson, yellow } from './output.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

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

export function registerStackCommands(program: Command): void {
  const stack = program.command('stack').description('stacks: compose files deployed as sets of services (see also warren deploy)');

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
