import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { WARREN_BIN } from './agents.ts';
import { waitFor } from './wait.ts';

/** A running `warren events` process and every JSON line it printed. */
export class EventFollower {
  readonly events: any[] = [];
  readonly child: ChildProcess;
  stderr = '';

  constructor(api: string, topics: string[]) {
    this.child = spawn('/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', WARREN_BIN, 'events', '--api', api, ...topics], { stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.events.push(JSON.parse(line)));
    this.child.stderr!.on('data', (d) => (this.stderr += d));
  }

  find(pred: (e: any) => boolean): any {
    return this.events.find(pred);
  }

  async waitFor(what: string, pred: (e: any) => boolean, timeoutMs = 10_000): Promise<any> {
    return waitFor(what, () => this.find(pred), timeoutMs);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.kill('SIGINT');
    return exited;
  }
}

/** Waits until the agent's event stream is subscribed (the agent answers /v1/events). */
async function streamCount(api: string): Promise<number> {
  const res = await fetch(`${api}/metrics`);
  return Number(/^warren_event_streams (\d+)$/m.exec(await res.text())?.[1] ?? NaN);
}

export async function followEvents(api: string, topics: string[]): Promise<EventFollower> {
  const before = await streamCount(api);
  const f = new EventFollower(api, topics);
  // the CLI prints nothing until an event arrives; the agent's stream count proves it is subscribed
  await waitFor(`events stream on ${api}`, async () => (await streamCount(api)) > before);
  return f;
}
