/**
 * `warren service create|ls|inspect|update|logs|rm`: flags validated here (service-flags.ts),
 * the agent's API does the rest; create and update follow the rollout unless --detach.
 */
import { once } from 'node:events';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import type { ServiceView } from '../core/service-types.ts';
import { serviceInputFromFlags, servicePatchFromFlags, type CreateFlags, type UpdateFlags } from '../core/service-flags.ts';
import { serviceInputBody, servicePatchBody } from '../core/service-spec.ts';
import type { ApiClient } from './client.ts';
import { clientFor } from './client.ts';
import { collect, helpOrUnknown, processIo, writeJson, writeLine, type CliIo } from './command-io.ts';
import { parseTimeout, watchRollout, whileInterruptible } from './rollout-watch.ts';
import { describeReplica, renderServiceDetail, renderServiceTable } from './service-render.ts';

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
