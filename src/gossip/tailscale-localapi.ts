/**
 * A small client of tailscaled's LocalAPI (HTTP over its unix socket). Only what discovery and
 * tailnet admission need (the status and whois of an address) and the node's certificate.
 */
import { request } from 'node:http';
import { stat } from 'node:fs/promises';
import { UserError } from '../core/errors.ts';
import {
  parseTailscaleStatus,
  parseWhois,
  type TailscaleStatus,
  type TailscaleWhois,
} from '../core/tailscale-status.ts';

export const DEFAULT_TAILSCALE_SOCKET = '/var/run/tailscale/tailscaled.sock';
/** tailscaled accepts LocalAPI calls only with this Host (or localhost). */
export const LOCALAPI_HOST = 'local-tailscaled.sock';
export const LOCALAPI_TIMEOUT_MS = 2000;
/** a first certificate comes from Let's Encrypt through tailscaled: allow it time */
export const CERT_TIMEOUT_MS = 120_000;
const MAX_BODY_BYTES = 16 * 1024 * 1024;

interface LocalApiResponse {
  status: number;
  body: string;
}

export class TailscaleLocalApi {
  constructor(
    readonly socketPath: string = DEFAULT_TAILSCALE_SOCKET,
    readonly timeoutMs: number = LOCALAPI_TIMEOUT_MS,
  ) {}

  /** True when `socketPath` exists and is a unix socket. */
  async socketExists(): Promise<boolean> {
    try {
      return (await stat(this.socketPath)).isSocket();
    } catch {
      return false;
    }
  }

  /** `GET /localapi/v0/status`. Throws UserError (tailscale_unreachable/_timeout/_bad_response). */
  async status(): Promise<TailscaleStatus> {
    const res = await this.get('/localapi/v0/status');
    if (res.status !== 200) throw this.httpError('/localapi/v0/status', res);
    const parsed = parseTailscaleStatus(res.body);
    if (!parsed.ok) throw new UserError('tailscale_bad_response', `tailscaled status at ${this.socketPath}: ${parsed.error}`, 502);
    return parsed.value;
  }

  /**
   * `GET /localapi/v0/whois?addr=IP:PORT`: who owns the tailnet address a connection came from.
   * Resolves null when tailscaled knows no node for it (404).
   */
  async whois(addrPort: string): Promise<TailscaleWhois | null> {
    const path = `/localapi/v0/whois?addr=${encodeURIComponent(addrPort)}`;
    const res = await this.get(path);
    if (res.status === 404) return null;
    if (res.status !== 200) throw this.httpError(path, res);
    const parsed = parseWhois(res.body);
    if (!parsed.ok) throw new UserError('tailscale_bad_response', `tailscaled whois of ${addrPort}: ${parsed.error}`, 502);
    return parsed.value;
  }

  /**
   * `GET /localapi/v0/cert/<domain>?type=pair[&min_validity=Ns]`: tailscaled's certificate for
   * this node's name (from Let's Encrypt: a first issuance takes tens of seconds), as the raw
   * answer (the key PEM, then the certificate PEMs). `min_validity` makes tailscaled renew now
   * when what it holds expires sooner.
   */
  async certPair(domain: string, minValiditySec?: number, timeoutMs = CERT_TIMEOUT_MS): Promise<string> {
    const path = `/localapi/v0/cert/${encodeURIComponent(domain)}?type=pair${minValiditySec ? `&min_validity=${minValiditySec}s` : ''}`;
    const res = await this.get(path, timeoutMs);
    if (res.status !== 200) throw this.httpError(`/localapi/v0/cert/${domain}`, res);
    return res.body;
  }

  private httpError(path: string, res: LocalApiResponse): UserError {
    const detail = res.body.trim().split('\n')[0]?.slice(0, 200) ?? '';
    return new UserError(
      'tailscale_bad_response',
      `tailscaled answered ${res.status} to ${path}${detail ? `: ${detail}` : ''}`,
      502,
    );
  }

  private get(path: string, timeoutMs = this.timeoutMs): Promise<LocalApiResponse> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, res?: LocalApiResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(res!);
      };
      const req = request({
        socketPath: this.socketPath,
        path,
        method: 'GET',
        headers: { Host: LOCALAPI_HOST, Accept: 'application/json' },
      });
      const timer = setTimeout(() => {
        finish(
          new UserError(
            'tailscale_timeout',
            `tailscaled did not answer ${path} within ${timeoutMs} ms (socket ${this.socketPath})`,
            504,
          ),
        );
        req.destroy();
      }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => finish(this.connectError(err)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            finish(new UserError('tailscale_bad_response', `tailscaled answer to ${path} is larger than ${MAX_BODY_BYTES} bytes`, 502));
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => finish(this.connectError(err)));
      });
      req.end();
    });
  }

  private connectError(err: NodeJS.ErrnoException): UserError {
    const where = `tailscaled LocalAPI at ${this.socketPath}`;
    switch (err.code) {
      case 'ENOENT':
        return new UserError('tailscale_unreachable', `${where}: no such socket (is tailscaled installed and running?)`, 503);
      case 'ECONNREFUSED':
        return new UserError('tailscale_unreachable', `${where}: connection refused (is tailscaled running?)`, 503);
      case 'EACCES':
      case 'EPERM':
        return new UserError(
          'tailscale_unreachable',
          `${where}: permission denied (run as root, or allow this user with "tailscale set --operator=$USER")`,
          503,
        );
      default:
        return new UserError('tailscale_unreachable', `${where}: ${err.message}`, 503);
    }
  }
}
