import type { Command } from 'commander';
import { clientFor } from './client.ts';
import { formatDuration, printJson, renderTable } from './output.ts';

interface SessionRow {
  id: string;
  readOnly: boolean;
  createdAt: number;
  expiresAt: number;
  via: string;
}

/** `warren ui`: a one-time login link for the web UI; --sessions lists sessions, --revoke ends one. */
export function registerUiCommands(program: Command): void {
  program
    .command('ui')
    .description('print a one-time login link for the web UI (works once, for 2 minutes, on any node)')
    .option('--read-only', 'the session it opens can look, not change')
    .option('--sessions', 'list the web UI sessions instead')
    .option('--revoke <id>', 'end the session ID (see --sessions)')
    .option('--json', 'print JSON')
    .action(async (opts: { readOnly?: boolean; sessions?: boolean; revoke?: string; json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      if (opts.revoke !== undefined) {
        const { body } = await client.request<{ revoked: string }>('DELETE', `/v1/ui/sessions/${encodeURIComponent(opts.revoke)}`, undefined, { admin: true });
        if (opts.json) return printJson(body);
        return console.log(`revoked session ${body.revoked}: it stops working on every node within 2 s`);
      }
      if (opts.sessions) {
        const { body } = await client.request<{ sessions: SessionRow[] }>('GET', '/v1/ui/sessions', undefined, { admin: true });
        if (opts.json) return printJson(body);
        if (!body.sessions.length) return console.log('no web UI sessions (open one with: warren ui)');
        const now = Date.now();
        return console.log(renderTable(['id', 'access', 'age', 'expires in', 'logged in via'], body.sessions.map((s) => [s.id, s.readOnly ? 'read-only' : 'admin', formatDuration(now - s.createdAt), formatDuration(Math.max(0, s.expiresAt - now)), s.via])));
      }
      const { body } = await client.request<{ url: string; expiresAt: number; readOnly: boolean }>('POST', '/v1/ui/tickets', { readOnly: opts.readOnly === true }, { admin: true });
      if (opts.json) return printJson(body);
      console.log(body.url);
      process.stderr.write(`open it within 2 minutes; it works once${body.readOnly ? ' and gives a read-only session' : ''}\n`);
    });
}
