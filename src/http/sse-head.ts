import type { Context } from 'hono';

/**
 * The answer to HEAD on an event stream. Hono answers HEAD with the GET handler's headers and
 * drops its body without cancelling it: a stream opened for a HEAD would never learn that nobody
 * reads it (a subscription and a timer leaked per HEAD), so streaming routes answer this instead.
 */
export function sseHead(c: Context): Response | undefined {
  return c.req.method === 'HEAD' ? c.body(null, 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }) : undefined;
}
