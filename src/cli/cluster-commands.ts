import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { resolveAgentConfig, type RawAgentOptions } from '../core/agent-config.ts';
import { UserError, messageOf } from '../core/errors.ts';
import { decryptBackup, encryptBackup, unpackBundle } from '../system/backup-file.ts';
import { defaultDataDir } from '../system/data-dir.ts';
import { defaultNodeName, primaryAddress } from '../system/host.ts';
import { clientFor } from './client.ts';
import { readPassphrase } from './passphrase.ts';

interface BackupOptions {
  passphraseFile?: string;
}

/** `warren cluster backup > FILE` and `warren cluster restore FILE`. */
export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('back the whole cluster up, or bring it back on a fresh machine');

  cluster
    .command('backup')
    .description("write the cluster's state (an etcd snapshot and the CA), encrypted with a passphrase, to stdout")
    .option('--passphrase-file <file>', 'read the passphrase from the first line of this file (default: ask)')
    .addHelpText('after', '\nExample:\n  warren cluster backup > warren-$(date +%F).backup\n')
    .action(async (opts: BackupOptions, cmd: Command) => {
      if (process.stdout.isTTY) throw new UserError('stdout_is_terminal', 'the backup is binary: redirect it to a file (warren cluster backup > FILE)');
      const passphrase = await readPassphrase(opts.passphraseFile, true);
      const client = await clientFor(cmd);
      const bundle = await client.bytes('/v1/cluster/backup', { admin: true });
      const { manifest } = unpackBundle(bundle);
      const file = await encryptBackup(bundle, passphrase);
      await new Promise<void>((resolve, reject) => process.stdout.write(file, (err) => (err ? reject(err) : resolve())));
      process.stderr.write(`backed up cluster ${manifest.clusterId} (${manifest.snapshotBytes} bytes of etcd data); keep the passphrase: without it the file is useless\n`);
    });

  cluster
    .command('restore')
    .argument('<file>', 'a file from warren cluster backup')
    .description('bring a backed-up cluster back on this machine, as its only member (then start the agent)')
    .option('--passphrase-file <file>', 'read the passphrase from the first line of this file (default: ask)')
    .option('--name <name>', 'this node\'s name (default: the hostname)')
    .option('--bind <addr>', "the address the agent will bind (default: the machine's primary address)")
    .option('--http-port <port>', 'the agent\'s HTTP port', '7370')
    .option('--etcd-client-port <port>', 'etcd client port', '7372')
    .option('--etcd-peer-port <port>', 'etcd peer port', '7373')
    .addHelpText('after', '\nIt writes into --data-dir (which must be empty); start the agent with the same --data-dir, --bind and ports afterwards.\n')
    .action(async (file: string, opts: BackupOptions & RawAgentOptions, cmd: Command) => {
      let raw: Buffer;
      try {
        raw = await readFile(file);
      } catch (err) {
        throw new UserError('bad_backup', `cannot read ${file}: ${messageOf(err)}`);
      }
      const passphrase = await readPassphrase(opts.passphraseFile, false);
      const bundle = await decryptBackup(raw, passphrase);
      const all = cmd.optsWithGlobals<RawAgentOptions & BackupOptions>();
      const config = resolveAgentConfig(
        { dataDir: all.dataDir, name: all.name, bind: all.bind, httpPort: all.httpPort, etcdClientPort: all.etcdClientPort, etcdPeerPort: all.etcdPeerPort },
        { dataDir: defaultDataDir(), name: defaultNodeName(), bind: primaryAddress() },
      );
      // the agent's packages only here (etcd supervision and its client)
      const [{ restoreCluster }, { findEtcdBinary }, { createLogger }] = await Promise.all([
        import('../consensus/restore.ts'),
        import('../consensus/etcd-binary.ts'),
        import('../system/logger.ts'),
      ]);
      const result = await restoreCluster({ bundle, config, etcdBinary: await findEtcdBinary(), logger: createLogger('warn', { name: config.name }) });
      const m = result.manifest;
      console.log(`restored cluster ${m.clusterId} (backed up ${new Date(m.createdAt).toISOString()} by Warren ${m.warrenVersion}, ${result.services} service${result.services === 1 ? '' : 's'}) into ${config.dataDir} as node ${config.name}`);
      console.log(`start it: warren agent --data-dir ${config.dataDir} --bind ${config.bind}${config.ports.http !== 7370 ? ` --http-port ${config.ports.http}` : ''}`);
      console.log('other machines join it with the cluster\'s join token (the old machines: wipe their data dir first)');
    });
}
