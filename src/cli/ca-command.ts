import type { Command } from 'commander';
import { clientFor } from './client.ts';

/** `warren ca`: the cluster CA certificate (PEM), to trust on the devices that open services over HTTPS. */
export function registerCaCommand(program: Command): void {
  program
    .command('ca')
    .description('print the cluster CA certificate (PEM): trust it to open https://SERVICE.DOMAIN (see the README)')
    .action(async (_opts: unknown, cmd: Command) => {
      const client = await clientFor(cmd);
      const { caPem } = await client.get<{ caPem: string }>('/v1/ca?format=json');
      process.stdout.write(caPem.endsWith('\n') ? caPem : `${caPem}\n`);
    });
}
