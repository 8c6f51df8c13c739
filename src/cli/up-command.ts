import type { Command } from 'commander';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { resolveAgentConfig } from '../core/agent-config.ts';
import { UserError } from '../core/errors.ts';

export const AGENT_DEFAULTS_FILE = '/etc/default/warren';

interface UpOptions {
  join?: string;
  token?: string;
  name?: string;
  start: boolean;
}

/**
 * The text of /etc/default/warren for these agent flags. Refuses what systemd's EnvironmentFile
 * and its $WARREN_ARGS word splitting could not carry (quotes, $, backslashes, spaces).
 */
export function agentDefaultsText(flags: string[]): string {
  for (const f of flags) {
    if (f === '' || /[\s"'`$\\]/.test(f)) throw new UserError('bad_flag', `cannot write the agent flag ${JSON.stringify(f)} to ${AGENT_DEFAULTS_FILE}: no spaces, quotes, $ or backslashes`);
  }
  return `# Flags for the Warren agent (warren.service), written by "warren up"; see "warren agent --help".\nWARREN_ARGS="${flags.join(' ')}"\n`;
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description(`configure this machine's agent (${AGENT_DEFAULTS_FILE}) and start it with systemd (systemctl enable --now warren)`)
    .option('--join <hosts>', 'HOST[:PORT],... of members of the cluster to join')
    .option('--token <token>', 'join token from "warren join-token" on a member')
    .option('--name <name>', 'node name, a DNS label (default: the hostname)')
    .option('--no-start', `only write ${AGENT_DEFAULTS_FILE}`)
    .argument('[agent-flags...]', 'more flags for "warren agent", after --')
    .addHelpText('after', '\nExamples:\n  warren up                                   # the first machine: founds a cluster\n  warren up --join 192.168.1.10 --token T     # the others\n  warren up -- --proxy-workers 0 --label disk=ssd')
    .action(async (extra: string[], opts: UpOptions) => {
      const flags = [
        ...(opts.join ? ['--join', opts.join] : []),
        ...(opts.token ? ['--token', opts.token] : []),
        ...(opts.name ? ['--name', opts.name] : []),
        ...extra,
      ];
      // the same checks the agent makes, now rather than in the journal after the start
      resolveAgentConfig({ join: opts.join, token: opts.token, name: opts.name }, { dataDir: '/var/lib/warren', name: 'node', bind: '127.0.0.1' });
      const text = agentDefaultsText(flags);
      const systemd = existsSync('/run/systemd/system');
      if (opts.start && !systemd) {
        throw new UserError('no_systemd', `systemd is not running on this machine: run the agent with "warren agent ${flags.join(' ')}" under your init system (or "warren up --no-start" to only write ${AGENT_DEFAULTS_FILE})`);
      }
      try {
        // 0600: the join token admits machines to the cluster
        await writeFile(AGENT_DEFAULTS_FILE, text, { mode: 0o600 });
        await chmod(AGENT_DEFAULTS_FILE, 0o600);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'EACCES' || code === 'EPERM') throw new UserError('need_root', `writing ${AGENT_DEFAULTS_FILE} needs root: run sudo warren up ...`);
        throw new UserError('write_failed', `cannot write ${AGENT_DEFAULTS_FILE}: ${code ?? (err as Error).message}`);
      }
      console.log(`wrote ${AGENT_DEFAULTS_FILE}: WARREN_ARGS="${flags.join(' ')}"`);
      if (!opts.start) return;
      try {
        await promisify(execFile)('systemctl', ['enable', '--now', 'warren.service'], { timeout: 120_000 });
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new UserError('systemctl_failed', `systemctl enable --now warren failed: ${(e.stderr || e.message).trim().split('\n').pop()}`);
      }
      console.log('warren is running and starts at boot: "warren status" shows it, "journalctl -u warren -f" follows its log');
    });
}
