import type { Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { UserError } from '../core/errors.ts';
import type { MemberView } from '../core/views.ts';
import { isTailscaleAddr, setSplitDns, tailscaleApiUrl, type SplitDnsMap } from '../routing/tailscale-api.ts';
import { type ApiClient, clientFor } from './client.ts';
import { DEFAULT_DOMAIN as DEFAULT_DNS_DOMAIN } from '../core/default-domain.ts';

export { DEFAULT_DNS_DOMAIN };

export interface TailscaleSetupOptions {
  apiKeyFile: string;
  /** '-' (default) = the tailnet the key belongs to */
  tailnet?: string;
  /** default: the agent's domain, else warren.internal */
  domain?: string;
  dryRun?: boolean;
  /** the local agent (GET /v1/members, /v1/health) */
  client: Pick<ApiClient, 'request'>;
  env?: NodeJS.ProcessEnv;
  /** where the report lines go (default: stdout) */
  print?: (line: string) => void;
}

export interface TailscaleSetupResult {
  tailnet: string;
  domain: string;
  nameservers: string[];
  dryRun: boolean;
  /** the tailnet's whole split DNS map after the change, as the API returned it */
  splitDns?: SplitDnsMap;
}

/** Reads the API key, refusing a file others could read or change, a missing or empty one. */
export async function readApiKeyFile(path: string): Promise<string> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') throw new UserError('no_api_key', `the API key file ${path} does not exist`);
    throw new UserError('bad_api_key_file', `cannot read the API key file ${path} (${code ?? (err as Error).message})`);
  }
  if (!st.isFile()) throw new UserError('bad_api_key_file', `the API key file ${path} is not a regular file`);
  const mode = st.mode & 0o777;
  if (mode & 0o077) {
    throw new UserError(
      'api_key_file_mode',
      `refusing the API key file ${path}: group or others may read or write it (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${path}`,
    );
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError('bad_api_key_file', `cannot read the API key file ${path} (${(err as { code?: string }).code ?? (err as Error).message})`);
  }
  const key = text.trim();
  if (key === '') throw new UserError('no_api_key', `the API key file ${path} is empty`);
  if (/\s/.test(key)) throw new UserError('bad_api_key', `the API key file ${path} must hold just the key, on one line`);
  return key;
}

/** Lowercase, no trailing dot, valid hostname labels. */
export function normalizeDomain(text: string): string {
  const d = text.trim().toLowerCase().replace(/\.$/, '');
  const label = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
  if (d === '' || d.length > 253 || !d.split('.').every((l) => label.test(l))) {
    throw new UserError('bad_domain', `--domain "${text}" is not a domain name (e.g. warren.internal)`);
  }
  return d;
}

/** The domain the agent serves, when its health report says (dns.domain or domain). */
async function agentDomain(client: Pick<ApiClient, 'request'>): Promise<string | undefined> {
  try {
    const { body } = await client.request<Record<string, unknown>>('GET', '/v1/health', undefined, { allow: [503] });
    const dns = body?.dns as { domain?: unknown } | undefined;
    const d = typeof dns?.domain === 'string' ? dns.domain : typeof body?.domain === 'string' ? body.domain : undefined;
    return d ? normalizeDomain(d) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `warren dns tailscale-setup`: points the tailnet's split DNS for Warren's domain at the alive
 * nodes' tailnet addresses. Every failure is a UserError (one line).
 */
export async function runTailscaleSetup(o: TailscaleSetupOptions): Promise<TailscaleSetupResult> {
  const print = o.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const tailnet = (o.tailnet ?? '-').trim() || '-';
  const apiKey = await readApiKeyFile(o.apiKeyFile);

  const { body } = await o.client.request<{ members: MemberView[] }>('GET', '/v1/members');
  const members = body?.members ?? [];
  const alive = members.filter((m) => m.state === 'alive');
  const usable = alive.filter((m) => isTailscaleAddr(m.addr));
  const nameservers = [...new Set(usable.map((m) => m.addr))];
  if (nameservers.length === 0) {
    const why = alive.length === 0 ? 'no node is alive' : `none of the alive nodes (${alive.map((m) => `${m.name} ${m.addr}`).join(', ')}) has a tailnet address (100.64.0.0/10 or fd7a:115c:a1e0::/48)`;
    throw new UserError('no_tailnet_nodes', `nothing to point split DNS at: ${why}; run the agents on their tailnet addresses (warren agent --tailscale)`);
  }
  const domain = o.domain !== undefined ? normalizeDomain(o.domain) : ((await agentDomain(o.client)) ?? DEFAULT_DNS_DOMAIN);

  const list = nameservers.join(', ');
  for (const m of alive) if (!isTailscaleAddr(m.addr)) print(`skipped ${m.name} (${m.addr}): not a tailnet address`);
  if (o.dryRun) {
    print(`would set split DNS of tailnet "${tailnet}": ${domain} -> ${list} (dry run: nothing sent to ${tailscaleApiUrl(o.env)})`);
    return { tailnet, domain, nameservers, dryRun: true };
  }
  const splitDns = await setSplitDns({ apiKey, tailnet, domain, nameservers, baseUrl: tailscaleApiUrl(o.env) });
  print(`set split DNS of tailnet "${tailnet}": ${domain} -> ${list}`);
  return { tailnet, domain, nameservers, dryRun: false, splitDns };
}

export function registerDnsCommands(program: Command): void {
  const dns = program.command('dns').description("Warren's DNS for service names (<service>.warren.internal)");
  dns
    .command('tailscale-setup')
    .description("point the tailnet's split DNS for Warren's domain at the alive nodes (Tailscale API)")
    .requiredOption('--api-key-file <file>', 'file holding a Tailscale API access token (mode 600)')
    .option('--tailnet <name>', 'tailnet name ("-" = the tailnet of the key)', '-')
    .option('--domain <domain>', "Warren's domain (default: the agent's, else warren.internal)")
    .option('--dry-run', 'show what would be set, change nothing')
    .addHelpText('after', '\nThe API base URL can be overridden with $WARREN_TAILSCALE_API_URL.')
    .action(async (opts: { apiKeyFile: string; tailnet: string; domain?: string; dryRun?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      await runTailscaleSetup({ apiKeyFile: opts.apiKeyFile, tailnet: opts.tailnet, domain: opts.domain, dryRun: opts.dryRun, client });
    });
}
