import type { Command } from 'commander';
import type { TokenView } from '../core/api-tokens.ts';
import { clientFor } from './client.ts';
import { formatDuration, printJson, renderTable } from './output.ts';
import { TOKEN_HELP } from './token-source.ts';

function when(ms: number | null, now: number, future: string, none: string): string {
  if (ms === null) return none;
  return ms > now ? `${future} ${formatDuration(ms - now)}` : `${formatDuration(now - ms)} ago`;
}

/** `warren token create|ls|revoke`: cluster-wide API tokens for laptops and scripts (README "API tokens"). */
export function registerTokenCommands(program: Command): void {
  program.addHelpText('after', TOKEN_HELP);
  const token = program
    .command('token')
    .description('API tokens: for the CLI on another machine (--api, WARREN_TOKEN) and for scripts; managed with a node\'s admin token')
    .addHelpText('after', TOKEN_HELP);

  token
    .command('create')
    .description('make an API token, valid on every node; it is printed once and never again')
    .option('--read-only', 'it can look (GET), not change anything')
    .option('--name <name>', 'what it is for, shown by "warren token ls"', 'api')
    .option('--expires <duration>', 'it stops working after this long: 30m, 12h, 30d, 2w, 1y (default: never)')
    .option('--json', 'print JSON')
    .action(async (opts: { readOnly?: boolean; name: string; expires?: string; json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const body: Record<string, unknown> = { name: opts.name, readOnly: opts.readOnly === true };
      if (opts.expires !== undefined) body.expires = opts.expires;
      const res = await client.request<{ token: string; info: TokenView }>('POST', '/v1/tokens', body, { admin: true });
      if (opts.json) return printJson(res.body);
      console.log(res.body.token);
      const info = res.body.info;
      const expiry = info.expiresAt === null ? 'never expires' : `expires ${new Date(info.expiresAt).toISOString()}`;
      process.stderr.write(`token ${info.id} ("${info.name}", ${info.scope === 'read' ? 'read-only' : 'admin'}, ${expiry}): store it now, it is not shown again. Use: WARREN_TOKEN=<token> warren --api http://NODE:7370 ...\n`);
    });

  token
    .command('ls')
    .description('list API tokens: id, name, scope, created, expires, last used (never the secret)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const { body } = await client.request<{ tokens: TokenView[] }>('GET', '/v1/tokens', undefined, { admin: true });
      if (opts.json) return printJson(body);
      if (!body.tokens.length) return console.log('no API tokens (make one with: warren token create)');
      const now = Date.now();
      const rows = body.tokens.map((t) => [
        t.id, t.name, t.scope === 'read' ? 'read-only' : 'admin', t.state, `${formatDuration(now - t.createdAt)} ago`,
        when(t.expiresAt, now, 'in', 'never'), when(t.lastUsedAt, now, 'in', 'never'),
      ]);
      console.log(renderTable(['id', 'name', 'scope', 'state', 'created', 'expires', 'last used'], rows));
    });

  token
    .command('revoke')
    .description('end an API token on every node (within about 2 s)')
    .argument('<id>', 'the token id (see warren token ls)')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const { body } = await client.request<{ revoked: TokenView }>('DELETE', `/v1/tokens/${encodeURIComponent(id)}`, undefined, { admin: true });
      if (opts.json) return printJson(body);
      console.log(`revoked API token ${body.revoked.id} ("${body.revoked.name}"): it stops working on every node within 2 s`);
    });
}
