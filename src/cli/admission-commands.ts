import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { UserError } from '../core/errors.ts';
import type { AdmissionView } from '../consensus/consensus.ts';
import { clientFor } from './client.ts';
import { colourState, formatDuration, printJson, renderTable } from './output.ts';

/** The queue and the voter set, for `warren status`. */
export function renderAdmission(view: AdmissionView): string {
  const lines: string[] = [];
  lines.push(`cluster  ${view.clusterId ?? '(none yet)'}   phase ${view.phase}   leader ${view.leader ?? '-'}`);
  lines.push('', renderTable(['voter', 'id', 'client url', 'state'], view.voters.map((v) => [v.name, v.id || '(starting)', v.clientUrl, v.isLearner ? 'learner' : 'voter'])));
  if (view.queue.length) {
    lines.push('', renderTable(['joiner', 'id', 'address', 'waiting', 'state', 'via'], view.queue.map((q) => [q.name, q.id, q.addr, formatDuration(Date.now() - q.since), colourState(q.state === 'pending-approval' ? 'pending' : q.state), q.via])));
    if (view.queue.some((q) => q.state === 'pending-approval')) lines.push('', 'let a pending node in with: warren admit NAME');
  } else lines.push('', 'admission queue: empty');
  return lines.join('\n');
}

export function registerAdmissionCommands(program: Command): void {
  program
    .command('join-token')
    .description('print the token a new machine joins with (warren agent --token T)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const { body } = await client.request<{ token: string }>('GET', '/v1/join-token', undefined, { admin: true });
      if (opts.json) return printJson(body);
      console.log(body.token);
    });

  program
    .command('admit')
    .description('let a pending machine into the cluster (see warren status)')
    .argument('<node>', 'its name or node id')
    .option('--json', 'print JSON')
    .action(async (node: string, opts: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      const { body } = await client.request<{ approved: { id: string; name: string } }>('POST', `/v1/admission/${encodeURIComponent(node)}/approve`, undefined, { admin: true });
      if (opts.json) return printJson(body);
      console.log(`approved ${body.approved.name} (${body.approved.id}): it joins when its turn in the queue comes`);
    });

  program
    .command('recover')
    .description('rebuild the cluster from this node when a majority of the voters is gone for good')
    .option('--yes', 'do not ask for confirmation (scripts)')
    .option('--json', 'print JSON')
    .addHelpText('after', `
etcd needs a majority of its voters. When most of them are gone for good (machines destroyed),
the survivors cannot change anything. Run this on a surviving voter: it rebuilds etcd from this
node's own data as a one-voter cluster. Services, volumes, stacks and admissions are kept; the
other nodes reconnect by themselves, and the voter set is refilled from the alive nodes. A lost
voter that comes back later carries on as a client-only node.

Only do this when the lost voters will not come back soon: writes they accepted after this
node last heard from them are lost. It is refused while the quorum is healthy. When exactly half
of the voters are lost (e.g. 1 of 2), the cluster recovers by itself.`)
    .action(async (opts: { yes?: boolean; json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      if (!opts.yes) {
        if (!process.stdin.isTTY) throw new UserError('confirm', 'warren recover changes the cluster for good: add --yes when not run from a terminal');
        const view = await client.request<AdmissionView>('GET', '/v1/admission').then((r) => r.body, () => undefined);
        const voters = view?.voters.filter((v) => !v.isLearner).map((v) => v.name) ?? [];
        console.log(`This rebuilds the cluster's etcd from this node's data as a one-voter cluster.${voters.length ? `\nThe voters now: ${voters.join(', ')}; every voter but this node is dropped (each carries on as a client when it comes back).` : ''}`);
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question('Continue? [y/N] ');
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          console.log('nothing changed');
          return;
        }
      }
      const { body } = await client.request<{ recovered: { node: string; lost: string[] } }>('POST', '/v1/recover', undefined, { admin: true, timeoutMs: 60_000 });
      if (opts.json) return printJson(body);
      console.log(`recovered: this node is the only voter now${body.recovered.lost.length ? ` (dropped: ${body.recovered.lost.join(', ')})` : ''}; the voter set is refilled from the alive nodes`);
    });
}
