import { Command, CommanderError } from 'commander';
import { isUserError, messageOf } from '../core/errors.ts';
import { VERSION } from '../version.ts';
import { registerAgentCommand } from './agent/command.ts';
import { registerLeaveCommand, registerStatusCommands } from './status-commands.ts';
import { registerEventCommands } from './event-commands.ts';
import { registerAdmissionCommands } from './admission-commands.ts';
import { registerServiceCommands } from './service-commands.ts';
import { registerNodeCommands } from './node-commands.ts';
import { registerDnsCommands } from './dns-commands.ts';
import { registerCaCommand } from './ca-command.ts';
import { registerClusterCommands } from './cluster-commands.ts';
import { registerStackCommands } from './stack-commands.ts';
import { registerHookCommands } from './hook-commands.ts';
import { registerUpCommand } from './up-command.ts';
import { registerUiCommands } from './ui-commands.ts';
import { registerVolumeCommands } from './volume-commands.ts';
import { registerTokenCommands } from './token-commands.ts';
import { registerFenceCommand } from './fence-command.ts';

export function buildProgram(): Command {
  const program = new Command('warren')
    .description('Warren: run home services across a handful of machines')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--api <url>', 'the agent to talk to (default: $WARREN_API, else the local agent)')
    .option('--data-dir <dir>', "the local agent's data dir (where the CLI finds its address and admin token)")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  registerAgentCommand(program);
  registerStatusCommands(program);
  registerEventCommands(program);
  registerLeaveCommand(program);
  registerAdmissionCommands(program);
  registerServiceCommands(program);
  registerNodeCommands(program);
  registerDnsCommands(program);
  registerCaCommand(program);
  registerClusterCommands(program);
  registerStackCommands(program);
  registerHookCommands(program);
  registerUpCommand(program);
  registerUiCommands(program);
  registerVolumeCommands(program);
  registerTokenCommands(program);
  registerFenceCommand(program);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ outputError: () => undefined });
  return program;
}

/** Runs the CLI; every failure becomes one line on stderr and a non-zero exit, never a stack. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return; // --help, --version
      process.stderr.write(`warren: ${err.message.replace(/^error: /, '')} (see warren --help)\n`);
      process.exit(2);
    }
    const message = isUserError(err) ? err.message : `unexpected error: ${messageOf(err)}`;
    process.stderr.write(`warren: ${message}\n`);
    if (process.env.WARREN_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  }
}

await main(process.argv);
