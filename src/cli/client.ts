import type { Command } from 'commander';
import { NOTHING_DONE_CODES, UserError } from '../core/errors.ts';
import type { ApiErrorBody } from '../core/views.ts';
import { defaultDataDir, readAdminToken, readRuntimeInfo } from '../system/data-dir.ts';
import { chooseToken } from './token-source.ts';

export interface ClientOptions {
  api?: string;
  dataDir?: string;
}

const FALLBACK_API = 'http://127.0.0.1:7370';
/** how long a request answered "nothing was done, try again" (NOTHING_DONE_CODES) is sent again: a voter change takes a few seconds */
const RETRY_WITHIN_MS = 20_000;
const RETRY_PAUSE_MS = 500;

/** Talks to one agent's HTTP API: --api, then $WARREN_API, then the local agent's data dir. */
export class ApiClient {
  private constructor(
    readonly baseUrl: string,
    private readonly dataDir: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  static async create(opts: ClientOptions, env: NodeJS.ProcessEnv = process.env): Promise<ApiClient> {
    const dataDir = opts.dataDir ?? env.WARREN_DATA_DIR ?? defaultDataDir(env);
    let base = opts.api ?? env.WARREN_API;
    if (!base) base = (await readRuntimeInfo(dataDir))?.api ?? FALLBACK_API;
    if (!/^https?:\/\//.test(base)) base = `http://${base}`;
    try {
      new URL(base);
    } catch {
      throw new UserError('bad_api', `--api "${base}" is not a URL (expected e.g. http://127.0.0.1:7370)`);
    }
    return new ApiClient(base.replace(/\/+$/, ''), dataDir, env);
  }

  /**
   * Sends a request; resolves with the status and parsed body, or throws one clear line. A 503
   * that says nothing was done (the agent is reconnecting to the cluster's store) is sent again
   * for up to `retryWithinMs` (default 20 s).
   */
  async request<T>(method: string, path: string, body?: unknown, opts: { admin?: boolean; allow?: number[]; timeoutMs?: number; retryWithinMs?: number } = {}): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { accept: 'application/json', ...(await this.authHeader(opts.admin)) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const sent = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const windowMs = opts.retryWithinMs ?? RETRY_WITHIN_MS;
    const until = performance.now() + windowMs;
    let told = false;
    for (;;) {
      const res = await this.send(path, { method, headers, body: sent, signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000) });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        throw new UserError('bad_response', `the agent at ${this.baseUrl} answered ${res.status} with something that is not JSON`);
      }
      if (res.status === 503 && nothingDone(parsed) && performance.now() + RETRY_PAUSE_MS < until) {
        // a person at a terminal is told once why nothing shows yet; scripts see only the outcome
        if (!told && process.stderr.isTTY) process.stderr.write(`warren: ${apiError(res.status, parsed).message} (asking again for up to ${Math.round(windowMs / 1000)} s)\n`);
        told = true;
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
        continue;
      }
      if (!res.ok && !(opts.allow ?? []).includes(res.status)) throw apiError(res.status, parsed);
      return { status: res.status, body: parsed as T };
    }
  }

  private async authHeader(admin: boolean | undefined): Promise<Record<string, string>> {
    const choice = await chooseToken(this.env, () => (admin ? readAdminToken(this.dataDir) : Promise.resolve(undefined)));
    return choice && (admin || choice.always) ? { authorization: `Bearer ${choice.token}` } : {};
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(this.baseUrl + path, init);
    } catch {
      throw new UserError('agent_unreachable', `no Warren agent is answering at ${this.baseUrl} (start one with "warren agent", or point --api / WARREN_API at a running one)`);
    }
  }

  /** A binary answer (e.g. the backup bundle); errors as request() reports them. */
  async bytes(path: string, opts: { admin?: boolean; timeoutMs?: number } = {}): Promise<Buffer> {
    const res = await this.send(path, { headers: await this.authHeader(opts.admin), signal: AbortSignal.timeout(opts.timeoutMs ?? 120_000) });
    if (!res.ok) throw await failure(res);
    return Buffer.from(await res.arrayBuffer());
  }

  /**
   * A streamed call (a tar up or down): the Response when it is a success, else the agent's error
   * as one clear line. No timeout: a transfer takes as long as it takes.
   */
  async stream(method: string, path: string, opts: { admin?: boolean; body?: AsyncIterable<Uint8Array>; headers?: Record<string, string> } = {}): Promise<Response> {
    const init: RequestInit & { duplex?: 'half' } = { method, headers: { ...(await this.authHeader(opts.admin)), ...opts.headers } };
    if (opts.body) Object.assign(init, { body: opts.body as unknown as BodyInit, duplex: 'half' });
    const res = await this.send(path, init);
    if (!res.ok) throw await failure(res);
    return res;
  }

  async get<T>(path: string): Promise<T> {
    return (await this.request<T>('GET', path)).body;
  }
}

/** A failed answer's error, from its JSON body when it has one. */
async function failure(res: Response): Promise<UserError> {
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return apiError(res.status, parsed);
}

const nothingDone = (parsed: unknown) => NOTHING_DONE_CODES.includes((parsed as ApiErrorBody | undefined)?.error?.code ?? '');

function apiError(status: number, parsed: unknown): UserError {
  const err = (parsed as ApiErrorBody | undefined)?.error;
  return new UserError(err?.code ?? 'http_error', err?.message ?? `the agent answered ${status}`);
}

/** The client for a command: its global options (--api, --data-dir) merged with its own. */
export function clientFor(cmd: Command): Promise<ApiClient> {
  return ApiClient.create(cmd.optsWithGlobals());
}
