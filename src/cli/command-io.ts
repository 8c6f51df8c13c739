/**
 * What every command group shares: where it writes (tests pass their own streams), repeatable
 * options, and the answer to a bare or unknown subcommand.
 */
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';

/** Where the commands write (the process's streams; tests pass their own). */
export interface CliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export const processIo = (): CliIo => ({ out: process.stdout, err: process.stderr });

export const writeLine = (stream: NodeJS.WritableStream, text: string) => void stream.write(text + '\n');
export const writeJson = (io: CliIo, value: unknown) => writeLine(io.out, JSON.stringify(value, null, 2));

/** commander's option parser for a repeatable option: every value, in order */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * `warren service` alone prints its help (exit 0); `warren service bogus` is one clear error.
 * Called after the subcommands are added, so they keep refusing excess arguments.
 */
export function helpOrUnknown(group: Command): void {
  group.allowExcessArguments(true).action((_opts: unknown, cmd: Command) => {
    const [first] = cmd.args;
    if (first === undefined) return void cmd.outputHelp();
    const names = cmd.commands.map((c) => c.name()).join(', ');
    throw new UserError('unknown_command', `unknown command "${cmd.name()} ${first}" (the commands are: ${names}; see warren ${cmd.name()} --help)`);
  });
}
