import { signal } from '@preact/signals';
import type { WarrenEvent } from '../core/gossip-messages.ts';
import type { UiSnapshot } from '../http/routes/ui-stream.ts';
import { session, sessionRefused } from './session.ts';
import { SseParser } from './sse.ts';

/** The node the page talks to now (its own first; another member's when that one dies). */
export const base = signal(location.origin);
export const live = signal(false);
export const snapshot = signal<UiSnapshot | undefined>(undefined);
export const feed = signal<WarrenEvent[]>([]);

/** Views that keep their own data (volumes) listen here for the events that change it. */
const eventListeners = new Set<(e: WarrenEvent) => void>();
export function onEvent(listener: (e: WarrenEvent) => void): () => void {
  eventListeners.add(listener);
  return () => void eventListeners.delete(listener);
}

/** Members' APIs, the ones last seen alive first, the current node ahead of all. */
function candidates(): string[] {
  const members = snapshot.value?.members ?? [];
  const alive = members.filter((m) => m.api && (m.state === 'alive' || m.state === 'suspect')).map((m) => m.api!);
  const rest = members.filter((m) => m.api).map((m) => m.api!);
  return [...new Set([base.value, ...alive, location.origin, ...rest])];
}

/** A silent stream this long is taken for a dead node (the agent pings every second). */
const SILENCE_MS = 2500;
const CONNECT_MS = 1500;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function headers(json: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json' };
  if (session.value) h.authorization = `Bearer ${session.value.token}`;
  if (json) h['content-type'] = 'application/json';
  return h;
}

/** A 401 for the session these headers carried ends it (unless another tab has replaced it since). */
function expired(status: number, code: string, sent: Record<string, string>): void {
  if (status === 401 && (code === 'session_invalid' || code === 'no_session')) sessionRefused(sent.authorization?.replace(/^Bearer /, ''));
}

/** A JSON call to the current node; reads go to another member when it does not answer. */
export async function call<T>(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
  const targets = method === 'GET' ? candidates() : [base.value];
  let lastErr: unknown;
  for (const target of targets) {
    let res: Response;
    const sent = headers(body !== undefined);
    try {
      res = await fetch(target + path, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      // a write is sent once: without an answer it may still be under way there
      if (method !== 'GET') throw new ApiError(0, 'no_answer', `${target} gave no answer (${(err as Error).message}): it may still be under way; look again in a moment`);
      lastErr = err;
      continue;
    }
    const parsed = (await res.json().catch(() => ({}))) as T & { error?: { code: string; message: string } };
    if (!res.ok) {
      const e = parsed.error ?? { code: 'http_error', message: `the agent answered ${res.status}` };
      expired(res.status, e.code, sent);
      throw new ApiError(res.status, e.code, e.message);
    }
    return parsed;
  }
  throw new ApiError(0, 'unreachable', `no member of the cluster answers (${(lastErr as Error | undefined)?.message ?? 'network error'})`);
}

/** A streamed text body (logs) from the current node; `onText` gets each piece. */
export async function streamText(path: string, signal: AbortSignal, onText: (text: string) => void): Promise<void> {
  const res = await fetch(base.value + path, { headers: headers(false), signal });
  if (!res.ok || !res.body) {
    const e = ((await res.json().catch(() => ({}))) as { error?: { code: string; message: string } }).error;
    throw new ApiError(res.status, e?.code ?? 'http_error', e?.message ?? `the agent answered ${res.status}`);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    onText(decoder.decode(value, { stream: true }));
  }
}

/** Reads one node's UI stream until it ends, fails or falls silent. */
async function follow(target: string, stop: AbortSignal): Promise<void> {
  const ctl = new AbortController();
  const abort = () => ctl.abort();
  stop.addEventListener('abort', abort);
  let timer = setTimeout(abort, CONNECT_MS);
  try {
    const sent = headers(false);
    const res = await fetch(`${target}/v1/ui/stream`, { headers: sent, signal: ctl.signal });
    if (!res.ok || !res.body) {
      const e = ((await res.json().catch(() => ({}))) as { error?: { code: string } }).error;
      expired(res.status, e?.code ?? '', sent);
      throw new Error(`stream refused: ${res.status}`);
    }
    const reader = res.body.getReader();
    const parser = new SseParser();
    for (;;) {
      clearTimeout(timer);
      timer = setTimeout(abort, SILENCE_MS);
      const { done, value } = await reader.read();
      if (done) return;
      for (const m of parser.push(value)) {
        if (m.event === 'snapshot') {
          snapshot.value = JSON.parse(m.data) as UiSnapshot;
          base.value = target;
          live.value = true;
        } else if (m.event === 'event') {
          const e = JSON.parse(m.data) as WarrenEvent;
          feed.value = [e, ...feed.value].slice(0, 50);
          for (const l of eventListeners) l(e);
        }
      }
    }
  } finally {
    clearTimeout(timer);
    stop.removeEventListener('abort', abort);
  }
}

/**
 * Keeps one live stream open for as long as there is a session: through the current node, and
 * when that fails, through the next member that answers (each gets 1.5 s to start).
 */
export function startLive(): () => void {
  const stop = new AbortController();
  void (async () => {
    while (!stop.signal.aborted && session.value) {
      for (const target of candidates()) {
        if (stop.signal.aborted || !session.value) break;
        try {
          await follow(target, stop.signal);
        } catch {
          // this node did not answer: the next one
        }
        live.value = false;
      }
      if (!stop.signal.aborted) await new Promise((r) => setTimeout(r, 300));
    }
  })();
  return () => stop.abort();
}
