import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { WarrenEvent } from '../../core/gossip-messages.ts';
import { MAX_USER_PAYLOAD_BYTES, resolveSubscription, userTopicProblem } from '../../core/topics.ts';
import { jsonError } from '../errors.ts';
import { sseHead } from '../sse-head.ts';
import { requireAdmin } from '../auth.ts';

export interface EventDeps {
  adminToken: string;
  subscribe(topics: string[], listener: (e: WarrenEvent) => void): () => void;
  publishUserEvent(topic: string, payload: unknown): Promise<WarrenEvent>;
}

/** GET /v1/events (Server-Sent Events) and POST /v1/events/:topic (user events). */
export function eventRoutes(app: Hono, deps: EventDeps): void {
  app.get('/v1/events', (c) => {
    const requested = c.req.queries('topic')?.flatMap((t) => t.split(',')).filter((t) => t !== '') ?? [];
    let topics: string[];
    try {
      topics = resolveSubscription(requested);
    } catch (err) {
      return jsonError(c, 400, 'bad_topic', (err as Error).message);
    }
    const head = sseHead(c);
    if (head) return head;
    return streamSSE(c, async (stream) => {
      const queue: WarrenEvent[] = [];
      let wake: (() => void) | undefined;
      const off = deps.subscribe(topics, (e) => {
        queue.push(e);
        wake?.();
      });
      stream.onAbort(() => {
        off();
        wake?.();
      });
      // tells the client which topics it got, and that the stream is live
      await stream.writeSSE({ event: 'subscribed', data: JSON.stringify({ topics }) });
      const keepAlive = setInterval(() => void stream.write(': keep-alive\n\n').catch(() => undefined), 15_000);
      try {
        while (!stream.aborted && !stream.closed) {
          const e = queue.shift();
          if (e) {
            await stream.writeSSE({ event: e.name, id: e.id, data: JSON.stringify(e) });
            continue;
          }
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      } finally {
        clearInterval(keepAlive);
        off();
      }
    });
  });

  app.post('/v1/events/:topic', requireAdmin(deps.adminToken), async (c) => {
    const topic = c.req.param('topic');
    const problem = userTopicProblem(topic);
    if (problem) return jsonError(c, 400, 'bad_topic', problem);
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > MAX_USER_PAYLOAD_BYTES) return jsonError(c, 413, 'payload_too_large', `the payload is ${declared} bytes; at most ${MAX_USER_PAYLOAD_BYTES} (64 KiB) are allowed`);
    const raw = await c.req.arrayBuffer();
    if (raw.byteLength > MAX_USER_PAYLOAD_BYTES) return jsonError(c, 413, 'payload_too_large', `the payload is ${raw.byteLength} bytes; at most ${MAX_USER_PAYLOAD_BYTES} (64 KiB) are allowed`);
    let payload: unknown;
    try {
      payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
    } catch (err) {
      return jsonError(c, 400, 'bad_json', `the payload is not valid JSON: ${(err as Error).message}`);
    }
    const event = await deps.publishUserEvent(topic, payload);
    return c.json({ event }, 202);
  });
}
