/**
 * The one call Warren makes to Tailscale's control-plane API: point the tailnet's split DNS for
 * Warren's domain at the nodes. `PATCH /api/v2/tailnet/{tailnet}/dns/split-dns` merges: only the
 * domains in the body change, each to exactly the list given (others stay as they are).
 * Auth: the API access token as a Bearer token. Errors come back as JSON `{ "message": ... }`.
 */
import { isIP } from 'node:net';
import { UserError } from '../core/errors.ts';

export const TAILSCALE_API_URL = 'https://api.tailscale.com';

/** The API origin: $WARREN_TAILSCALE_API_URL (tests point it at a stand-in), else Tailscale's. */
export function tailscaleApiUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.WARREN_TAILSCALE_API_URL || TAILSCALE_API_URL).replace(/\/+$/, '');
}

/** A tailnet address: 100.64.0.0/10 (CGNAT range) or fd7a:115c:a1e0::/48. */
export function isTailscaleAddr(addr: string): boolean {
  const family = isIP(addr);
  if (family === 4) {
    const [a, b] = addr.split('.').map(Number) as [number, number];
    return a === 100 && b >= 64 && b <= 127;
  }
  if (family === 6) {
    const groups = expandIpv6(addr);
    return groups !== undefined && groups[0] === 0xfd7a && groups[1] === 0x115c && groups[2] === 0xa1e0;
  }
  return false;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped), or undefined. */
function expandIpv6(addr: string): number[] | undefined {
  let s = addr.toLowerCase().replace(/%.*$/, '');
  // a trailing dotted IPv4 part becomes two groups
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    s = s.slice(0, -v4[1]!.length) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? (s.split('::') as [string, string]) : [s, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...Array<string>(Math.max(fill, 0)).fill('0'), ...t].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

export type SplitDnsMap = Record<string, string[] | null>;

export interface SetSplitDnsOptions {
  apiKey: string;
  /** '-' = the tailnet of the key */
  tailnet: string;
  domain: string;
  nameservers: string[];
  /** default: tailscaleApiUrl() */
  baseUrl?: string;
  timeoutMs?: number;
}

/** One line of the API's error body: its `message`, else the start of the text. */
function apiMessage(text: string): string {
  let msg = '';
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body?.message === 'string') msg = body.message;
  } catch {
    msg = text;
  }
  msg = msg.replace(/\s+/g, ' ').trim();
  return msg.length > 200 ? `${msg.slice(0, 200)}…` : msg;
}

/**
 * Sets the split DNS nameservers of one domain; resolves with the tailnet's whole split DNS map
 * as the API returns it. Every failure is one clear line (a UserError), never the key.
 */
export async function setSplitDns(o: SetSplitDnsOptions): Promise<SplitDnsMap> {
  const base = o.baseUrl ?? tailscaleApiUrl();
  const url = `${base}/api/v2/tailnet/${encodeURIComponent(o.tailnet)}/dns/split-dns`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${o.apiKey}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ [o.domain]: o.nameservers }),
      signal: AbortSignal.timeout(o.timeoutMs ?? 30_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = (err as Error).name === 'TimeoutError' ? 'timed out' : (cause?.code ?? cause?.message ?? (err as Error).message);
    throw new UserError('tailscale_unreachable', `cannot reach the Tailscale API at ${base} (${why})`, 502);
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) {
    const msg = apiMessage(text);
    const detail = msg ? `: ${msg}` : '';
    if (res.status === 401) {
      throw new UserError('tailscale_unauthorized', `the Tailscale API rejected the API key (401 Unauthorized${detail}); check that the key file holds a valid, unexpired API access token (tskey-api-...)`, 502);
    }
    if (res.status === 403) {
      throw new UserError('tailscale_forbidden', `the Tailscale API key may not change DNS settings of tailnet "${o.tailnet}" (403 Forbidden${detail}); use a key of an admin, or an OAuth token with the dns scope`, 502);
    }
    if (res.status === 404) {
      throw new UserError('tailscale_not_found', `the Tailscale API does not know tailnet "${o.tailnet}" (404 Not Found${detail}); use --tailnet - for the key's own tailnet`, 502);
    }
    throw new UserError('tailscale_error', `the Tailscale API answered ${res.status} ${res.statusText}${detail}`.trim(), 502);
  }
  try {
    const body = text === '' ? {} : (JSON.parse(text) as unknown);
    return body && typeof body === 'object' && !Array.isArray(body) ? (body as SplitDnsMap) : {};
  } catch {
    return {}; // a 2xx without JSON: the change went through, there is just nothing to show
  }
}
