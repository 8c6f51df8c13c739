import type { Command } from 'commander';
import type { HealthReport, MemberView } from '../core/views.ts';
import { clientFor } from './client.ts';
import { markFinalStop } from './leave-at-stop.ts';
import type { AdmissionView } from '../consensus/consensus.ts';
import { renderAdmission } from './admission-commands.ts';
import { clusterVersions } from '../core/versions.ts';
import { renderVersions } from './version-view.ts';
import { colourState, formatBytes, formatDuration, printJson, renderFields, renderTable } from './output.ts';

interface ListingOptions {
  json?: boolean;
}


export function registerStatusCommands(program: Command): void {
  program
    .command('status')
    .description("show this agent's health and its etcd role")
    .option('--json', 'print JSON')
    .action(async (opts: ListingOptions, cmd: Command) => {
      const client = await clientFor(cmd);
      const { body } = await client.request<HealthReport>('GET', '/v1/health', undefined, { allow: [503] });
      const admission = await client.get<AdmissionView>('/v1/admission');
      // every node's version (gossip heartbeats carry it) and the cluster's feature level
      const versions = clusterVersions((await client.get<{ members: MemberView[] }>('/v1/members')).members);
      if (opts.json) return printJson({ ...body, admission, versions });
      console.log(
        renderFields([
          ['node', `${body.node.name} (${body.node.id})`],
          ['address', body.node.addr],
          ['status', colourState(body.status)],
          ['etcd', `${body.etcd.role}, ${body.etcd.healthy ? 'healthy' : 'unhealthy'}`],
          ['uptime', formatDuration(body.uptimeMs)],
          ['version', body.version],
        ]),
      );
      console.log('\n' + renderAdmission(admission));
      console.log('\n' + renderVersions(versions));
      if (body.status !== 'ok') process.exitCode = 1;
    });

  program
    .command('members')
    .description('list the nodes of the cluster')
    .option('--json', 'print JSON')
    .action(async (opts: ListingOptions, cmd: Command) => {
      const client = await clientFor(cmd);
      const { members } = await client.get<{ members: MemberView[] }>('/v1/members');
      if (opts.json) return printJson(members);
      console.log(
        renderTable(
          ['name', 'id', 'address', 'state', 'role', 'last heard', 'load', 'memory', 'disk free', 'containers'],
          members.map((m) => [
            m.name + (m.self ? ' *' : ''),
            m.id,
            m.addr,
            colourState(m.state),
            m.role,
            m.self ? '-' : formatDuration(m.lastHeardMs),
            m.health ? m.health.cpuLoad.toFixed(2) : '-',
            m.health ? `${formatBytes(m.health.memUsedBytes)}/${formatBytes(m.health.memTotalBytes)}` : '-',
            m.health ? formatBytes(m.health.diskFreeBytes) : '-',
            m.health ? String(m.health.containers) : '-',
          ]),
        ),
      );
    });
}

export function registerLeaveCommand(program: Command): void {
  program
    .command('leave')
    .description('make the agent leave the cluster gracefully and exit')
    .option('--at-stop', "do not leave now: make the agent's next stop (systemctl stop, SIGTERM) a leave instead of a restart (the package runs it on removal)")
    .action(async (opts: { atStop?: boolean }, cmd: Command) => {
      if (opts.atStop) return markFinalStop(cmd);
      const client = await clientFor(cmd);
      if (process.stderr.isTTY) process.stderr.write('leaving: a voter hands its seat over first (a few seconds)...\n');
      await client.request('POST', '/v1/leave', undefined, { admin: true, timeoutMs: 120_000 });
      console.log(`the agent at ${client.baseUrl} left the cluster and is stopping`);
    });
}
