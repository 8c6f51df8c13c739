import { once } from 'node:events';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { formatConstraint } from '../core/service-constraints.ts';
import { serviceInputFromFlags, servicePatchFromFlags, type CreateFlags, type UpdateFlags } from '../core/service-flags.ts';
import { formatPort, formatVolume } from '../core/service-ports-volumes.ts';
import { serviceInputBody, servicePatchBody } from '../core/service-spec.ts';
import type { ReplicaView, ServiceView } from '../core/service-types.ts';
import type { ApiClient } from './client.ts';
import { clientFor } from './client.ts';
import { colourState, formatBytes, formatDuration, green, red, renderFields, renderTable, yellow } from './output.ts';

// ---------------------------------------------------------------------------------------------
// pure rendering

/** The node a replica is on, for people: its name, else a short id, else "-". */
export function replicaNode(r: ReplicaView): string {
  return r.nodeName ?? (r.nodeId ? r.nodeId.slice(0, 12) : '-');
}

/** "192.168.1.5:32768 -> 80/tcp, 192.168.1.5:32769 -> 53/udp", or "" when nothing is published. */
export function formatReplicaAddress(r: ReplicaView): string {
  if (!r.addr || r.ports.length === 0) return '';
  const host = r.addr.includes(':') ? `[${r.addr}]` : r.addr;
  return r.ports.map((p) => `${host}:${p.hostPort} -> ${p.container}/${p.protocol}`).join(', ');
}

/** One line telling where a replica is, e.g. `replica 0: running on nas at 192.168.1.5:32768 -> 80/tcp`. */
export function describeReplica(r: ReplicaView): string {
  const node = replicaNode(r);
  const head = `replica ${r.slot}: `;
  switch (r.state) {
    case 'unassigned':
      return head + `waiting for a node${r.reason ? `: ${r.reason}` : ''}`;
    case 'pending':
      return head + `assigned to ${node}`;
    case 'pulling':
      return head + `pulling on ${node}${r.progress ? ` (${r.progress})` : ''}`;
    case 'starting':
      return head + `starting on ${node}`;
    case 'running': {
      const at = formatReplicaAddress(r);
      return head + `running on ${node}${at ? ` at ${at}` : ''}`;
    }
    case 'exited':
    case 'failed':
      return head + `${r.state} on ${node}${r.reason ? `: ${r.reason}` : ''}${r.restarts ? ` (${r.restarts} restart${r.restarts === 1 ? '' : 's'})` : ''}`;
    case 'stopped':
      return head + `stopped on ${node}${r.reason ? `: ${r.reason}` : ''}`;
    default:
      return head + `${String(r.state)} on ${node}`;
  }
}

/**
 * The line to print when a replica changes between two polls, or undefined when nothing worth a
 * line changed (pull progress alone is not a change). `next` undefined: the replica is gone.
 */
export function describeReplicaChange(prev: ReplicaView | undefined, next: ReplicaView | undefined): string | undefined {
  if (!next) return prev ? `replica ${prev.slot}: removed` : undefined;
  if (
    prev &&
    prev.state === next.state &&
    prev.nodeId === next.nodeId &&
    prev.generation === next.generation &&
    prev.restarts === next.restarts &&
    (prev.reason ?? '') === (next.reason ?? '') &&
    (next.state !== 'running' || formatReplicaAddress(prev) === formatReplicaAddress(next))
  ) {
    return undefined;
  }
  return describeReplica(next);
}

export type RolloutVerdict =
  | { kind: 'done' }
  | { kind: 'failed'; message: string }
  | { kind: 'unplaceable'; message: string }
  | { kind: 'waiting'; pending: string[] };

/**
 * Is the service where it was asked to be? Done when `desired` replicas of `generation` (or a
 * later one) run and nothing older is left; failed when one of them failed (or exited with
 * restart "no"); unplaceable when no node can take a replica.
 */
export function rolloutVerdict(view: ServiceView, generation: number): RolloutVerdict {
  const desired = view.spec.replicas;
  const replicas = [...view.replicas].sort((a, b) => a.slot - b.slot);
  const current = (r: ReplicaView) => r.generation >= generation;
  const failed = replicas.find((r) => current(r) && (r.state === 'failed' || (r.state === 'exited' && view.spec.restart === 'no')));
  if (failed) return { kind: 'failed', message: describeReplica(failed) };
  const unplaced = replicas.find((r) => r.state === 'unassigned' && r.reason);
  if (unplaced) return { kind: 'unplaceable', message: `replica ${unplaced.slot} cannot be placed: ${unplaced.reason}` };
  if (view.pending && replicas.filter((r) => r.state !== 'unassigned').length < desired) return { kind: 'unplaceable', message: `cannot place every replica: ${view.pending}` };
  const ready = replicas.filter((r) => current(r) && r.state === 'running');
  const leftovers = replicas.filter((r) => !current(r) && r.state !== 'stopped');
  if (ready.length >= desired && leftovers.length === 0 && replicas.filter((r) => r.state !== 'stopped').length <= desired) return { kind: 'done' };
  const pending = replicas
    .filter((r) => !(current(r) && r.state === 'running'))
    .map((r) => `replica ${r.slot} (${r.state === 'unassigned' ? 'waiting for a node' : `${r.state} on ${replicaNode(r)}${r.progress ? `, ${r.progress}` : ''}`}${current(r) ? '' : `, still generation ${r.generation}`})`);
  if (replicas.length < desired) pending.push(`${desired - replicas.length} replica(s) not scheduled yet`);
  return { kind: 'waiting', pending };
}

const byName = (a: ServiceView, b: ServiceView) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0);

/** Where a service's replicas are: "nas×2, pi (pulling)". */
export function summariseNodes(replicas: ReplicaView[]): string {
  const counts = new Map<string, number>();
  for (const r of [...replicas].sort((a, b) => a.slot - b.slot)) {
    if (r.state === 'unassigned' || !r.nodeId) continue;
    const key = replicaNode(r) + (r.state === 'running' ? '' : ` (${r.state})`);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size === 0) return '-';
  return [...counts].map(([k, n]) => (n > 1 ? k.replace(/^([^ ]+)/, `$1×${n}`) : k)).join(', ');
}

const replicaCount = (v: ServiceView) => {
  const text = `${v.running}/${v.desired}`;
  return v.running === v.desired ? green(text) : v.running === 0 && v.desired > 0 ? red(text) : yellow(text);
};

/** `warren service ls`. */
export function renderServiceTable(views: ServiceView[]): string {
  if (views.length === 0) return 'no services yet (create one with: warren service create NAME --image IMAGE)';
  return renderTable(
    ['name', 'image', 'replicas', 'nodes', 'ports', 'pending'],
    [...views].sort(byName).map((v) => [v.spec.name, v.spec.image, replicaCount(v), summariseNodes(v.replicas), v.spec.ports.map(formatPort).join(', ') || '-', v.pending ?? '']),
  );
}

const quoteArg = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a));

const when = (ms: number, now: number) => `${new Date(ms).toISOString()} (${formatDuration(Math.max(0, now - ms))} ago)`;

/** `warren service inspect NAME`: the spec's fields, then one row per replica. */
export function renderServiceDetail(view: ServiceView, now: number): string {
  const s = view.spec;
  const fields: [string, string][] = [
    ['name', s.name],
    ['image', s.image],
    ['command', s.command.length ? s.command.map(quoteArg).join(' ') : "(the image's own)"],
    ['replicas', `${replicaCount(view)} running`],
    ['restart', s.restart],
    ['generation', String(s.generation)],
    ['ports', s.ports.map(formatPort).join(', ') || '-'],
    ['volumes', s.volumes.map(formatVolume).join(', ') || '-'],
    ['env', Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(' ') || '-'],
    ['constraints', s.constraints.map(formatConstraint).join(', ') || '-'],
    ['cpus', s.cpus === undefined ? 'no limit' : String(s.cpus)],
    ['memory', s.memoryBytes === undefined ? 'no limit' : formatBytes(s.memoryBytes)],
    ['https redirect', s.httpsRedirect ? 'yes' : 'no'],
    ['created', when(s.createdAt, now)],
    ['updated', when(s.updatedAt, now)],
  ];
  if (view.pending) fields.push(['pending', yellow(view.pending)]);
  const rows = [...view.replicas]
    .sort((a, b) => a.slot - b.slot)
    .map((r) => [
      String(r.slot),
      r.state === 'unassigned' ? '-' : replicaNode(r),
      colourState(r.state) + (r.generation < s.generation ? ` (gen ${r.generation})` : ''),
      formatReplicaAddress(r).replace(/ -> /g, '->') || '-',
      String(r.restarts),
      formatDuration(Math.max(0, now - r.since)),
      r.reason ?? r.progress ?? '',
    ]);
  const table = rows.length ? renderTable(['slot', 'node', 'state', 'address', 'restarts', 'since', 'reason'], rows) : 'no replicas';
  return `${renderFields(fields)}\n\n${table}`;
}

// ---------------------------------------------------------------------------------------------
// waiting for a rollout

export interface WatchOptions {
  /** the service as it is now (GET /v1/services/:name) */
  fetchView(): Promise<ServiceView>;
  /** the spec generation every replica must run */
  generation: number;
  timeoutMs: number;
  intervalMs?: number;
  /** how long "no node can take it" must last before giving up (placement may just be slow) */
  unplaceableGraceMs?: number;
  /** the view before the change: its replicas are not announced again */
  initial?: ServiceView;
  write(line: string): void;
  signal?: AbortSignal;
  now?: () => number;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Polls the service and prints one line per replica change until the rollout is done
 * ('done'), Ctrl-C ('interrupted'), or it fails, cannot be placed or times out (a UserError).
 */
export async function watchRollout(opts: WatchOptions): Promise<{ outcome: 'done' | 'interrupted'; view: ServiceView }> {
  const now = opts.now ?? Date.now;
  const interval = opts.intervalMs ?? 250;
  const grace = opts.unplaceableGraceMs ?? 3000;
  const start = now();
  let prev = new Map<number, ReplicaView>((opts.initial?.replicas ?? []).map((r) => [r.slot, r]));
  const lastLine = new Map<number, number>();
  let unplaceableSince: number | undefined;
  for (;;) {
    const view = await opts.fetchView();
    const t = now();
    const name = view.spec.name;
    const next = new Map(view.replicas.map((r) => [r.slot, r]));
    for (const r of [...view.replicas].sort((a, b) => a.slot - b.slot)) {
      const before = prev.get(r.slot);
      const line = describeReplicaChange(before, r);
      if (line) {
        opts.write(line);
        lastLine.set(r.slot, t);
      } else if (r.state === 'pulling' && r.progress && r.progress !== before?.progress && t - (lastLine.get(r.slot) ?? 0) >= 2000) {
        opts.write(describeReplica(r));
        lastLine.set(r.slot, t);
      }
    }
    for (const [slot, r] of prev) if (!next.has(slot)) opts.write(describeReplicaChange(r, undefined)!);
    prev = next;

    const verdict = rolloutVerdict(view, opts.generation);
    if (verdict.kind === 'done') return { outcome: 'done', view };
    if (verdict.kind === 'failed') throw new UserError('service_failed', `${name} did not start: ${verdict.message} (see warren service inspect ${name})`);
    if (verdict.kind === 'unplaceable') {
      unplaceableSince ??= t;
      if (t - unplaceableSince >= grace) throw new UserError('service_unplaceable', `${name}: ${verdict.message} (it stays pending; see warren service inspect ${name})`);
    } else unplaceableSince = undefined;
    if (t - start >= opts.timeoutMs) {
      const what = verdict.kind === 'waiting' ? verdict.pending.join(', ') : verdict.message;
      throw new UserError('timeout', `timed out after ${formatDuration(opts.timeoutMs)} waiting for ${name}; still pending: ${what || 'nothing reported yet'} (Warren keeps trying; see warren service inspect ${name})`);
    }
    await sleep(interval, opts.signal);
    if (opts.signal?.aborted) return { outcome: 'interrupted', view };
  }
}

/** An AbortSignal that fires on Ctrl-C / SIGTERM while `fn` runs (the default exit is suppressed meanwhile). */
export async function whileInterruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Parses --timeout (seconds) into ms. */
export function parseTimeout(text: string | undefined, fallbackSeconds = 120): number {
  if (text === undefined) return fallbackSeconds * 1000;
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0) throw new UserError('bad_flag', `--timeout must be a number of seconds greater than 0, got "${text}"`);
  return Number(text) * 1000;
}

// ---------------------------------------------------------------------------------------------
// commands

/** Where the commands write (the process's streams; tests pass their own). */
export interface CliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export const processIo = (): CliIo => ({ out: process.stdout, err: process.stderr });

export const writeLine = (stream: NodeJS.WritableStream, text: string) => void stream.write(text + '\n');
export const writeJson = (io: CliIo, value: unknown) => writeLine(io.out, JSON.stringify(value, null, 2));

const collect = (value: string, previous: string[] = []) => [...previous, value];

const servicePath = (name: string) => `/v1/services/${encodeURIComponent(name)}`;

interface WaitFlags {
  detach?: boolean;
  json?: boolean;
  timeout?: string;
}

/** After create/update: follow the rollout unless --detach; print the end state. */
async function followRollout(io: CliIo, client: ApiClient, created: ServiceView, flags: WaitFlags, verb: 'created' | 'updated', initial?: ServiceView): Promise<void> {
  const name = created.spec.name;
  const timeoutMs = parseTimeout(flags.timeout);
  const say = (line: string) => writeLine(flags.json ? io.err : io.out, line);
  if (flags.detach) {
    if (flags.json) return writeJson(io, created);
    say(`${verb} ${name} (generation ${created.spec.generation}, ${created.spec.replicas} replica${created.spec.replicas === 1 ? '' : 's'}); follow it with: warren service inspect ${name}`);
    return;
  }
  say(`${verb} ${name} (generation ${created.spec.generation}); waiting for ${created.spec.replicas} replica${created.spec.replicas === 1 ? '' : 's'} to run (Ctrl-C stops waiting, not the service)`);
  if (!initial) {
    // a new service: what the create call already shows is news too
    for (const r of [...created.replicas].sort((a, b) => a.slot - b.slot)) say(describeReplica(r));
    initial = created;
  }
  const from = initial;
  const { outcome, view } = await whileInterruptible((signal) =>
    watchRollout({
      fetchView: async () => (await client.get<{ service: ServiceView }>(servicePath(name))).service,
      generation: created.spec.generation,
      timeoutMs,
      initial: from,
      write: say,
      signal,
    }),
  );
  if (outcome === 'interrupted') {
    writeLine(io.err, `stopped waiting; ${name} keeps deploying (see warren service inspect ${name})`);
    process.exitCode = 130;
    return;
  }
  if (flags.json) return writeJson(io, view);
  say(view.spec.replicas === 0 ? `${name} has no replicas (scale it with: warren service update ${name} --replicas N)` : `${name} is running: ${view.running}/${view.desired} replicas`);
}

/** `warren service logs`: streams the agent's text to stdout until the end or Ctrl-C. */
async function streamLogs(io: CliIo, client: ApiClient, name: string, opts: { follow?: boolean; tail?: string; replica?: string }): Promise<void> {
  const qs = new URLSearchParams();
  if (opts.follow) qs.set('follow', '1');
  if (opts.tail !== undefined) {
    if (!/^\d+$/.test(opts.tail)) throw new UserError('bad_flag', `--tail must be a whole number of lines, got "${opts.tail}"`);
    qs.set('tail', opts.tail);
  }
  if (opts.replica !== undefined) {
    if (!/^\d+$/.test(opts.replica)) throw new UserError('bad_flag', `--replica must be a replica number (0, 1, ...), got "${opts.replica}"`);
    qs.set('replica', opts.replica);
  }
  await whileInterruptible(async (signal) => {
    let res: Response;
    try {
      res = await fetch(`${client.baseUrl}${servicePath(name)}/logs?${qs}`, { headers: { accept: 'text/plain' }, signal });
    } catch {
      if (signal.aborted) return;
      throw new UserError('agent_unreachable', `no Warren agent is answering at ${client.baseUrl}`);
    }
    if (!res.ok || !res.body) {
      const err = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
      throw new UserError(err?.error?.code ?? 'http_error', err?.error?.message ?? `the agent answered ${res.status}`);
    }
    let closed = false;
    const onError = () => (closed = true); // e.g. EPIPE when piped into head
    io.out.on('error', onError);
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (closed) break;
        if (!io.out.write(chunk)) await Promise.race([once(io.out, 'drain'), once(signal, 'abort')]);
        if (signal.aborted) break;
      }
    } catch (err) {
      if (signal.aborted || closed) return; // Ctrl-C: a clean exit
      throw new UserError('stream_lost', `the log stream from ${client.baseUrl} ended: ${(err as Error).message}`);
    } finally {
      io.out.off('error', onError);
    }
  });
}

/**
 * `warren service` alone prints its help (exit 0); `warren service bogus` is one clear error.
 * Called after the subcommands are added, so they keep refusing excess arguments.
 */
export function helpOrUnknown(group: Command): void {
  group.allowExcessArguments(true).action((_opts: unknown, cmd: Command) => {
    const [first] = cmd.args;
    if (first === undefined) return void cmd.outputHelp();
    const names = cmd.commands.map((c) => c.name()).join(', ');
    throw new UserError('unknown_command', `unknown command "${cmd.name()} ${first}" (the commands are: ${names}; see warren ${cmd.name()} --help)`);
  });
}

export function registerServiceCommands(program: Command, io: CliIo = processIo()): void {
  const service = program
    .command('service')
    .description('run services (Docker containers) across the cluster: create, ls, inspect, update, logs, rm')
    .addHelpText('after', '\nExamples:\n  warren service create web --image nginx:1.27 -p 80\n  warren service ls\n  warren service logs web -f');

  service
    .command('create')
    .description('create a service and wait until its replicas run')
    .argument('<name>', 'the service name, a DNS label (lowercase letters, digits, "-")')
    .argument('[command...]', 'the command to run instead of the image\'s own (after "--")')
    .requiredOption('--image <image>', 'the Docker image (e.g. nginx:1.27, ghcr.io/owner/app:tag)')
    .option('-p, --port <port>', 'a container port to publish, PORT or PORT/udp (repeatable)', collect)
    .option('-e, --env <KEY=VALUE>', 'an environment variable (repeatable)', collect)
    .option('-v, --volume <NAME:/path>', 'a named volume and where to mount it (repeatable)', collect)
    .option('--replicas <n>', 'how many copies to run (default 1)')
    .option('--restart <policy>', 'always, on-failure or no (default always)')
    .option('--constraint <node=NAME|label=KEY=VALUE>', 'where replicas may run; all must hold (repeatable)', collect)
    .option('--cpus <n>', 'CPU limit in cores (e.g. 0.5)')
    .option('--memory <size>', 'memory limit (e.g. 512m, 1g)')
    .option('--https-redirect', 'redirect plain HTTP to https://NAME.DOMAIN (308)')
    .option('--detach', 'return once the service is created, without waiting')
    .option('--timeout <seconds>', 'how long to wait for the replicas to run (default 120)')
    .option('--json', 'print the service as JSON at the end (progress goes to stderr)')
    .addHelpText(
      'after',
      `
Warren picks a host port for each published container port; "warren service inspect NAME" shows it.
Volumes are named (not host paths) so the data can follow the service to another machine.

Examples:
  warren service create web --image nginx:1.27 -p 80
  warren service create dns --image coredns/coredns -p 53/udp -p 53 --replicas 2
  warren service create vault --image vaultwarden/server -p 80 -v vault-data:/data -e TZ=Europe/Paris
  warren service create media --image jellyfin/jellyfin --constraint label=gpu=yes --memory 2g
  warren service create job --image alpine --restart no -- sh -c "echo hello"`,
    )
    .action(async (name: string, command: string[], opts: CreateFlags & WaitFlags, cmd: Command) => {
      const input = serviceInputFromFlags(name, opts, command);
      parseTimeout(opts.timeout); // refuse a bad --timeout before creating anything
      const client = await clientFor(cmd);
      const { body } = await client.request<{ service: ServiceView }>('POST', '/v1/services', serviceInputBody(input), { admin: true });
      await followRollout(io, client, body.service, opts, 'created');
    });

  service
    .command('ls')
    .alias('list')
    .description('list the services, where their replicas run and what is pending')
    .option('--json', 'print JSON (an array of services)')
    .addHelpText('after', '\nExamples:\n  warren service ls\n  warren service ls --json | jq -r \'.[].spec.name\'')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const { services } = await client.get<{ services: ServiceView[] }>('/v1/services');
      if (opts.json) return writeJson(io, services);
      writeLine(io.out, renderServiceTable(services));
    });

  service
    .command('inspect')
    .description("show a service's settings and each replica: node, state, address, restarts")
    .argument('<name>', 'the service')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  warren service inspect web\n  warren service inspect web --json')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const { service: view } = await client.get<{ service: ServiceView }>(servicePath(name));
      if (opts.json) return writeJson(io, view);
      writeLine(io.out, renderServiceDetail(view, Date.now()));
    });

  service
    .command('rm')
    .alias('remove')
    .description('remove a service and stop its containers (its named volumes are kept)')
    .argument('<name>', 'the service')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  warren service rm web')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const { body } = await client.request<{ removed: string }>('DELETE', servicePath(name), undefined, { admin: true });
      if (opts.json) return writeJson(io, body);
      writeLine(io.out, `removed service ${body.removed}`);
    });

  service
    .command('logs')
    .description("print a service's container output (Ctrl-C to stop following)")
    .argument('<name>', 'the service')
    .option('-f, --follow', 'keep printing new output')
    .option('--tail <n>', 'start with the last N lines (default 100)')
    .option('--replica <n>', 'which replica (default: the first)')
    .addHelpText('after', '\nExamples:\n  warren service logs web\n  warren service logs web -f --tail 20\n  warren service logs dns --replica 1')
    .action(async (name: string, opts: { follow?: boolean; tail?: string; replica?: string }, cmd: Command) => {
      const client = await clientFor(cmd);
      await streamLogs(io, client, name, opts);
    });

  service
    .command('update')
    .description('change a service and wait until every replica runs the new version')
    .argument('<name>', 'the service')
    .argument('[command...]', 'a new command (after "--")')
    .option('--image <image>', 'a new image')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect)
    .option('--env-rm <KEY>', 'remove an environment variable (repeatable)', collect)
    .option('-p, --port <port>', 'publish another container port (repeatable)', collect)
    .option('--port-rm <port>', 'stop publishing a port (repeatable)', collect)
    .option('-v, --volume <NAME:/path>', 'mount a volume (replaces one at the same path; repeatable)', collect)
    .option('--volume-rm </path>', 'unmount the volume at this path (its data is kept; repeatable)', collect)
    .option('--constraint <node=NAME|label=KEY=VALUE>', 'add a placement constraint (repeatable)', collect)
    .option('--constraint-rm <constraint>', 'remove a placement constraint (repeatable)', collect)
    .option('--replicas <n>', 'how many copies to run')
    .option('--restart <policy>', 'always, on-failure or no')
    .option('--cpus <n>', 'CPU limit in cores, or "none"')
    .option('--memory <size>', 'memory limit (e.g. 512m), or "none"')
    .option('--default-command', "go back to the image's own command")
    .option('--https-redirect', 'redirect plain HTTP to HTTPS')
    .option('--no-https-redirect', 'stop redirecting plain HTTP to HTTPS')
    .option('--detach', 'return once the change is accepted, without waiting')
    .option('--timeout <seconds>', 'how long to wait for the replicas (default 120)')
    .option('--json', 'print the service as JSON at the end (progress goes to stderr)')
    .addHelpText(
      'after',
      `
Only the containers' settings (image, command, env, ports, volumes, restart, limits) replace the
containers; --replicas and constraints only add, remove or move replicas.

Examples:
  warren service update web --image nginx:1.28
  warren service update web -e LOG_LEVEL=debug --env-rm OLD_FLAG
  warren service update web --replicas 3
  warren service update job -- sh -c "echo again"`,
    )
    .action(async (name: string, command: string[], opts: UpdateFlags & WaitFlags, cmd: Command) => {
      parseTimeout(opts.timeout);
      const client = await clientFor(cmd);
      const { service: current } = await client.get<{ service: ServiceView }>(servicePath(name));
      const patch = servicePatchFromFlags(current.spec, opts, command);
      if (Object.keys(patch).length === 0) {
        throw new UserError('nothing_to_update', `nothing to change in ${name}: the flags given match what it already has (see warren service update --help)`);
      }
      const { body } = await client.request<{ service: ServiceView }>('PATCH', servicePath(name), servicePatchBody(patch), { admin: true });
      await followRollout(io, client, body.service, opts, 'updated', current);
    });

  helpOrUnknown(service);
}
