import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import type { ServiceView } from '../core/service-types.ts';
import { clientFor } from './client.ts';
import { formatDuration } from './output.ts';
import { helpOrUnknown, processIo, writeJson, writeLine, type CliIo } from './command-io.ts';
import { parseTimeout, sleep, whileInterruptible } from './rollout-watch.ts';
import { replicaNode } from './service-render.ts';

export interface DrainResult {
  nodeId: string;
  name: string;
  draining: boolean;
}

/** The replicas still placed on `nodeId`, as "service/slot", sorted. */
export function replicasOnNode(views: ServiceView[], nodeId: string): string[] {
  const keys: string[] = [];
  for (const v of views) for (const r of v.replicas) if (r.nodeId === nodeId) keys.push(`${v.spec.name}/${r.slot}`);
  return keys.sort();
}

/** What became of a replica that left the drained node: "web/1 moved to pi (pending)". */
export function describeMovedReplica(key: string, views: ServiceView[]): string {
  const slash = key.lastIndexOf('/');
  const name = key.slice(0, slash);
  const slot = Number(key.slice(slash + 1));
  const r = views.find((v) => v.spec.name === name)?.replicas.find((x) => x.slot === slot);
  if (!r) return `${key} removed`;
  if (!r.nodeId) return `${key} cannot be placed on another node${r.reason ? `: ${r.reason}` : ''}`;
  return `${key} moved to ${replicaNode(r)} (${r.state})`;
}

/** One poll of a drain: the lines to print for replicas newly seen on the node or gone from it. */
export function drainProgress(announced: ReadonlySet<string>, views: ServiceView[], node: DrainResult): { lines: string[]; remaining: string[] } {
  const remaining = replicasOnNode(views, node.nodeId);
  const lines: string[] = [];
  for (const key of remaining) if (!announced.has(key)) lines.push(`moving ${key} off ${node.name}...`);
  for (const key of [...announced].sort()) if (!remaining.includes(key)) lines.push(describeMovedReplica(key, views));
  return { lines, remaining };
}

export function registerNodeCommands(program: Command, io: CliIo = processIo()): void {
  const node = program
    .command('node')
    .description('take a machine out of service (drain) or back in (activate)')
    .addHelpText('after', '\nExamples:\n  warren node drain nas\n  warren node activate nas');

  node
    .command('drain')
    .description('move every replica off a node and place no new one there (e.g. before maintenance)')
    .argument('<node>', 'its name or node id (see warren members)')
    .option('--detach', 'return once the node is marked, without waiting for its replicas to move')
    .option('--timeout <seconds>', 'how long to wait for the replicas to move (default 120)')
    .option('--json', 'print the node as JSON')
    .addHelpText('after', '\nExamples:\n  warren node drain nas\n  warren node drain nas --detach\n\nUndo with: warren node activate NODE')
    .action(async (nameOrId: string, opts: { detach?: boolean; timeout?: string; json?: boolean }, cmd: Command) => {
      const timeoutMs = parseTimeout(opts.timeout);
      const client = await clientFor(cmd);
      const { body } = await client.request<{ node: DrainResult }>('POST', `/v1/nodes/${encodeURIComponent(nameOrId)}/drain`, undefined, { admin: true });
      const n = body.node;
      const say = (line: string) => writeLine(opts.json ? io.err : io.out, line);
      if (opts.detach) {
        if (opts.json) return writeJson(io, n);
        say(`${n.name} is draining: its replicas move to other nodes (warren service ls shows where)`);
        return;
      }
      say(`draining ${n.name}: no new replica goes there; moving the ones it runs (Ctrl-C stops waiting, not the drain)`);
      const announced = new Set<string>();
      const start = Date.now();
      const outcome = await whileInterruptible(async (signal) => {
        for (;;) {
          const { services } = await client.get<{ services: ServiceView[] }>('/v1/services');
          const { lines, remaining } = drainProgress(announced, services, n);
          lines.forEach(say);
          announced.clear();
          remaining.forEach((k) => announced.add(k));
          if (remaining.length === 0) return 'done' as const;
          if (Date.now() - start >= timeoutMs) {
            throw new UserError('timeout', `timed out after ${formatDuration(timeoutMs)}: still on ${n.name}: ${remaining.join(', ')} (the drain goes on; see warren service ls)`);
          }
          await sleep(250, signal);
          if (signal.aborted) return 'interrupted' as const;
        }
      });
      if (outcome === 'interrupted') {
        writeLine(io.err, `stopped waiting; ${n.name} stays drained and its replicas keep moving`);
        process.exitCode = 130;
        return;
      }
      if (opts.json) return writeJson(io, n);
      say(`${n.name} is drained: no replica runs there (use it again with: warren node activate ${n.name})`);
    });

  node
    .command('activate')
    .description('let a drained node take replicas again')
    .argument('<node>', 'its name or node id')
    .option('--json', 'print the node as JSON')
    .addHelpText('after', '\nExample:\n  warren node activate nas\n\nReplicas that moved away are not moved back; new and rescheduled replicas may go there.')
    .action(async (nameOrId: string, opts: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const { body } = await client.request<{ node: DrainResult }>('POST', `/v1/nodes/${encodeURIComponent(nameOrId)}/activate`, undefined, { admin: true });
      if (opts.json) return writeJson(io, body.node);
      writeLine(io.out, `${body.node.name} is active: replicas may be placed on it again`);
    });

  helpOrUnknown(node);
}
