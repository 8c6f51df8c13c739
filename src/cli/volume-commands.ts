/** `warren volume ls|inspect|snapshot|snapshots|policy`: replicated volumes, where their copies are, data at risk. */
import type { Command } from 'commander';
import { formatBytes } from '../core/format-bytes.ts';
import type { VolumeView } from '../core/volumes/volume-view.ts';
import type { PolicyView, SnapshotListItem } from '../runtime/volume-api.ts';
import type { ScrubReport } from '../runtime/volume-scrub.ts';
import { clientFor } from './client.ts';
import { showTransfers } from './transfer-progress.ts';
import { registerVolumeOpsCommands } from './volume-ops-commands.ts';
import { policySummary, registerVolumePolicyCommand } from './volume-policy-command.ts';
import { colourState, formatDuration, printJson, renderFields, renderTable, yellow } from './output.ts';

const risk = (ms: number | null) => (ms === null ? 'all (no second copy yet)' : formatDuration(ms));

export function volumeRows(volumes: VolumeView[]): string[][] {
  return volumes.map((v) => [v.name, v.service, v.node ?? '-', colourState(v.state), formatBytes(v.sizeBytes), String(v.copies.length), risk(v.atRiskMs)]);
}

export function registerVolumeCommands(program: Command): void {
  const volume = program.command('volume').description("services' replicated volumes: where each copy is, how much is at risk, snapshots");

  volume
    .command('ls')
    .description('list volumes: owner node, state, size, copies, data at risk (how far back the data is on 2 live nodes)')
    .option('--json', 'print JSON: { volumes: [{ name, service, sizeBytes, node, state, atRiskMs, copies }] }')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const body = await (await clientFor(cmd)).get<{ volumes: VolumeView[] }>('/v1/volumes');
      if (flags.json) return printJson(body);
      process.stdout.write(`${renderTable(['name', 'service', 'node', 'state', 'size', 'copies', 'at risk'], volumeRows(body.volumes))}\n`);
    });

  volume
    .command('inspect <name>')
    .description("one volume, its snapshot policy and every node's copy of it")
    .option('--json', 'print JSON: { volume: { name, service, ..., copies, policy: { volume, policy, defaults } } }')
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const { volume: v } = await (await clientFor(cmd)).get<{ volume: VolumeView & { policy?: PolicyView } }>(`/v1/volumes/${encodeURIComponent(name)}`);
      if (flags.json) return printJson({ volume: v });
      const fields: [string, string][] = [['name', v.name], ['service', v.service], ['node', v.node ?? '-'], ['state', colourState(v.state)], ['size', formatBytes(v.sizeBytes)], ['at risk', risk(v.atRiskMs)]];
      if (v.policy) fields.push(['snapshots', policySummary(v.policy)]);
      process.stdout.write(`${renderFields(fields)}\n\n`);
      process.stdout.write(`${renderTable(['node', 'snapshot', 'age', 'applied'], v.copies.map((c) => [c.node, c.snapshot, formatDuration(c.ageMs), c.applied ? 'yes' : 'no']))}\n`);
    });

  volume
    .command('snapshot <name>')
    .description('take a snapshot now and print its id (waits until it is replicated, unless --no-wait)')
    .option('--no-wait', 'print the id once taken; replication goes on in the background')
    .option('--json', 'print JSON')
    .action(async (name: string, flags: { wait: boolean; json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      if (flags.wait && !flags.json) process.stderr.write(`snapshotting ${name} and sending it to its peers...\n`);
      const shown = flags.wait && !flags.json ? showTransfers(client, name) : () => undefined;
      const { body } = await client.request<{ snapshot: { id: string; sizeBytes: number; newBytes: number; pauseMs: number }; replicated: string[]; failed?: { name: string; reason: string }[] }>('POST', `/v1/volumes/${encodeURIComponent(name)}/snapshots`, { wait: flags.wait }, { admin: true, timeoutMs: 180_000 }).finally(shown);
      if (flags.json) return printJson(body);
      if (flags.wait) process.stderr.write(`${formatBytes(body.snapshot.newBytes)} new, paused ${body.snapshot.pauseMs} ms, on ${body.replicated.length} peer${body.replicated.length === 1 ? '' : 's'}\n`);
      // a peer that refused (its disk would fill) or did not answer: the snapshot is on fewer copies
      for (const f of body.failed ?? []) process.stderr.write(`${yellow('warning:')} not sent to ${f.name}: ${f.reason}\n`);
      process.stdout.write(`${body.snapshot.id}\n`);
    });

  volume
    .command('scrub')
    .description("re-hash every chunk the node (--api) stores, now; a bad one is fetched again from a peer (agents do it every --scrub-interval)")
    .option('--json', 'print JSON: { node, startedAt, ms, checked, bytes, bad, repaired, unrepaired }')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      if (!flags.json) process.stderr.write('re-hashing every stored chunk...\n');
      const { body } = await client.request<ScrubReport>('POST', '/v1/volume-scrub', undefined, { admin: true, timeoutMs: 3_600_000 });
      // chunks no peer holds good are still missing: a non-zero exit, as fsck's
      if (body.unrepaired.length) process.exitCode = 1;
      if (flags.json) return printJson(body);
      const found = body.bad === 0 ? 'every chunk good' : `${body.bad} bad, ${body.repaired} fetched again from peers`;
      process.stdout.write(`${body.checked} chunks (${formatBytes(body.bytes)}) checked in ${formatDuration(body.ms)}: ${found}\n`);
      if (body.unrepaired.length) process.stderr.write(`${yellow('warning:')} ${body.unrepaired.length} bad chunk${body.unrepaired.length === 1 ? '' : 's'} no live peer holds good (dropped: the next snapshot of a volume whose files still hold ${body.unrepaired.length === 1 ? 'it stores it' : 'them stores them'} again)\n`);
    });

  registerVolumeOpsCommands(volume);
  registerVolumePolicyCommand(volume);

  volume
    .command('rm <name>')
    .description("remove a volume: every node's copy and snapshots (refused while a service uses it)")
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      await (await clientFor(cmd)).request('DELETE', `/v1/volumes/${encodeURIComponent(name)}`, undefined, { admin: true });
      process.stdout.write(`${name}\n`);
    });

  volume
    .command('snapshots <name>')
    .description("a volume's snapshots (on its owner): id, time, size, new bytes, copies")
    .option('--json', 'print JSON: { snapshots: [{ id, seq, epoch, time, sizeBytes, newBytes, pauseMs, copies }] }')
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const body = await (await clientFor(cmd)).get<{ snapshots: SnapshotListItem[] }>(`/v1/volumes/${encodeURIComponent(name)}/snapshots`);
      if (flags.json) return printJson(body);
      const rows = body.snapshots.map((s) => [s.id, new Date(s.time).toISOString(), formatBytes(s.sizeBytes), formatBytes(s.newBytes), String(s.copies)]);
      process.stdout.write(`${renderTable(['id', 'time', 'size', 'new', 'copies'], rows)}\n`);
    });
}
