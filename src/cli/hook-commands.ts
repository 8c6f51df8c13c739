import type { Command } from 'commander';
import type { HooksResponse } from '../core/hooks/hook-views.ts';
import { clientFor } from './client.ts';
import { colourState, dim, formatDuration, printJson, renderTable } from './output.ts';

export function registerHookCommands(program: Command): void {
  program
    .command('hooks')
    .description('list the hooks (executables run on every cluster event) and their last runs')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nHooks are executables in DATA_DIR/hooks and /etc/warren/hooks. Each cluster event (node.dead, service.moved, ...)\n' +
        'runs every hook with the event as JSON on stdin and WARREN_EVENT=<name> in its environment, one run at a time per hook.',
    )
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const { body } = await client.request<HooksResponse>('GET', '/v1/hooks', undefined, { admin: true });
      if (opts.json) return printJson(body);
      if (body.hooks.length === 0) {
        console.log(`no hooks: put executables in ${body.dirs.join(' or ')}`);
        return;
      }
      const now = Date.now();
      console.log(
        renderTable(
          ['hook', 'state', 'runs', 'failed', 'dropped', 'last run'],
          body.hooks.map((h) => {
            const last = h.lastRuns[0];
            const failed = h.runs.failed + h.runs.timeout + h.runs.error;
            const state = h.running ? `running ${h.running.event}${h.queued ? ` (+${h.queued} queued)` : ''}` : h.present ? 'idle' : 'removed';
            const lastText = last
              ? `${last.event} ${colourState(last.outcome === 'ok' ? 'ok' : 'failed')}${last.outcome === 'ok' || last.outcome === 'failed' ? '' : ` (${last.outcome})`} ${formatDuration(now - last.startedAt)} ago, took ${formatDuration(last.durationMs)}${last.outcome !== 'ok' && last.output ? dim(`: ${last.output.split('\n').pop()}`) : ''}`
              : '-';
            return [h.path, state, String(h.runs.ok + failed), String(failed), String(h.dropped), lastText];
          }),
        ),
      );
    });
}
