import type { Command } from 'commander';
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
}
