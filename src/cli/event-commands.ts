import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { UserError } from '../core/errors.ts';
import type { WarrenEvent } from '../core/gossip-messages.ts';
import { clientFor } from './client.ts';

/** Reads an SSE stream and hands each `data:` payload of a named event to `onEvent`. */
async function readSse(body: ReadableStream<Uint8Array>, onEvent: (event: string, data: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let idx: number;
    while ((idx = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, idx);
      buf = buf.slice(idx + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(event, data.join('\n'));
    }
  }
}

export function registerEventCommands(program: Command): void {
  program
    .command('events')
    .description('follow cluster and user events, one JSON object per line (Ctrl-C to stop)')
    .argument('[topics...]', 'cluster event names (node.dead, ...), * for all cluster events, or user topics', [])
    .addHelpText('after', '\nWith no topic, every cluster event is shown. User topics are those of "warren publish".')
    .action(async (topics: string[], _opts: unknown, cmd: Command) => {
      const client = await clientFor(cmd);
      const qs = (topics.length ? topics : ['*']).map((t) => `topic=${encodeURIComponent(t)}`).join('&');
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      process.once('SIGTERM', () => controller.abort());
      let res: Response;
      try {
        res = await fetch(`${client.baseUrl}/v1/events?${qs}`, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
      } catch {
        if (controller.signal.aborted) return;
        throw new UserError('agent_unreachable', `no Warren agent is answering at ${client.baseUrl}`);
      }
      if (!res.ok || !res.body) {
        const err = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
        throw new UserError('http_error', err?.error?.message ?? `the agent answered ${res.status}`);
      }
      try {
        await readSse(res.body, (event, data) => {
          if (event === 'subscribed') {
            if (process.stderr.isTTY) process.stderr.write(`following ${(JSON.parse(data) as { topics: string[] }).topics.length} topic(s); Ctrl-C to stop\n`);
            return;
          }
          process.stdout.write(JSON.stringify(JSON.parse(data) as WarrenEvent) + '\n');
        });
      } catch (err) {
        if (controller.signal.aborted) return; // Ctrl-C: a clean exit
        throw new UserError('stream_lost', `the event stream from ${client.baseUrl} ended: ${(err as Error).message}`);
      }
      if (!controller.signal.aborted) throw new UserError('stream_lost', `the agent at ${client.baseUrl} closed the event stream`);
    });

  program
    .command('publish')
    .description('publish a user event (JSON, at most 64 KiB) to every node\'s subscribers')
    .argument('<topic>', 'user topic: lowercase letters, digits, ".", "_", "-"')
    .argument('[json]', 'the payload; "-" or nothing reads it from stdin, @FILE reads a file')
    .option('--json', 'print the published event as JSON')
    .action(async (topic: string, json: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      let payload: string;
      if (json === undefined || json === '-') payload = await readStdin();
      else if (json.startsWith('@')) payload = await readFile(json.slice(1), 'utf8').catch((err: Error) => {
        throw new UserError('bad_file', `cannot read ${json.slice(1)}: ${err.message}`);
      });
      else payload = json;
      const { body } = await client.request<{ event: WarrenEvent }>('POST', `/v1/events/${encodeURIComponent(topic)}`, payload, { admin: true });
      if (opts.json) process.stdout.write(JSON.stringify(body.event) + '\n');
      else process.stdout.write(`published ${body.event.id} on ${body.event.topic}\n`);
    });
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UserError('no_payload', 'give the JSON payload as an argument, @FILE, or on stdin');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
