/** `warren volume restore|clone|export|import`: roll a volume back, copy it, take it out as a tar, bring one in. */
import { fstatSync } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { formatBytes } from '../core/format-bytes.ts';
import { clientFor } from './client.ts';
import { printJson } from './output.ts';

/** `NAME` or `NAME@SNAPSHOT` */
export function parseVolumeRef(ref: string): { name: string; snapshot?: string } {
  const at = ref.lastIndexOf('@');
  if (at < 0) return { name: ref };
  if (at === 0 || at === ref.length - 1) throw new UserError('bad_volume', `"${ref}" must be NAME or NAME@SNAPSHOT (e.g. web_data@000012-1a2b3c4d)`);
  return { name: ref.slice(0, at), snapshot: ref.slice(at + 1) };
}

const path = (name: string, op: string) => `/v1/volumes/${encodeURIComponent(name)}/${op}`;

/**
 * Counts the bytes passing through; on a terminal, shows them on stderr (every 250 ms, and once at
 * the end), with the total when it is known.
 */
export function progress(label: string, total: number | undefined, out: NodeJS.WriteStream = process.stderr): Transform {
  let done = 0, shown = 0;
  const show = (final: boolean) => {
    if (!out.isTTY) return;
    const pct = total ? ` (${Math.min(100, Math.floor((done / total) * 100))}%)` : '';
    out.write(`\r${label}: ${formatBytes(done)}${total ? ` of ~${formatBytes(total)}` : ''}${pct}\x1b[K${final ? '\n' : ''}`);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      if (Date.now() - shown > 250) (shown = Date.now()), show(false);
      cb(null, chunk);
    },
    flush(cb) {
      show(true);
      cb();
    },
  });
}

export function registerVolumeOpsCommands(volume: Command): void {
  volume
    .command('restore <name> <snapshot>')
    .description("roll a volume back to a snapshot: its service's replica is stopped, the data as it is kept as a snapshot (printed as before), the snapshot applied, the replica started again")
    .option('--json', 'print JSON: { volume, restored, before, snapshot, replicated }')
    .action(async (name: string, snapshot: string, flags: { json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd);
      if (!flags.json) process.stderr.write(`restoring ${name} to ${snapshot}...\n`);
      const { body } = await client.request<{ volume: string; restored: string; before: string; replicated: string[] }>('POST', path(name, 'restore'), { snapshot }, { admin: true, timeoutMs: 900_000 });
      if (flags.json) return printJson(body);
      process.stdout.write(`${name} holds ${body.restored} again; what it held before is snapshot ${body.before} (undo: warren volume restore ${name} ${body.before})\n`);
    });

  volume
    .command('clone <source> <new>')
    .description('a new volume holding the data of SOURCE (NAME or NAME@SNAPSHOT; NAME alone: its newest snapshot), replicated like any other; a service named S mounting -v V:/path uses the volume S_V')
    .option('--json', 'print JSON: { volume, from, snapshot, replicated }')
    .action(async (source: string, to: string, flags: { json?: boolean }, cmd: Command) => {
      const { name, snapshot } = parseVolumeRef(source);
      const { body } = await (await clientFor(cmd)).request<{ volume: string; from: string; snapshot: string; replicated: string[] }>('POST', path(name, 'clone'), { name: to, ...(snapshot ? { snapshot } : {}) }, { admin: true, timeoutMs: 900_000 });
      if (flags.json) return printJson(body);
      process.stdout.write(`${body.volume} (from ${body.from}@${body.snapshot}, on ${body.replicated.length + 1} node${body.replicated.length ? 's' : ''})\n`);
    });

  volume
    .command('export <source>')
    .description('write a snapshot of a volume (NAME or NAME@SNAPSHOT; NAME alone: its newest) to stdout as a tar any tar reads (owners, modes, ns mtimes, xattrs, ACLs, holes kept in pax records)')
    .action(async (source: string, _flags: unknown, cmd: Command) => {
      const { name, snapshot } = parseVolumeRef(source);
      if (process.stdout.isTTY) throw new UserError('stdout_is_terminal', `redirect the tar to a file: warren volume export ${source} > ${name}.tar`);
      const res = await (await clientFor(cmd)).stream('GET', `${path(name, 'export')}${snapshot ? `?snapshot=${encodeURIComponent(snapshot)}` : ''}`, { admin: true });
      const size = Number(res.headers.get('x-warren-size') ?? 0);
      await pipeline(Readable.fromWeb(res.body! as never), progress(`exporting ${name}@${res.headers.get('x-warren-snapshot') ?? '?'}`, size || undefined), process.stdout);
    });

  volume
    .command('import <name>')
    .description('create a volume NAME from a tar on stdin, or from a Docker volume of the node (--from-docker); refused when NAME exists: remove it first. Replicated like any other')
    .option('--from-docker <volume>', "read this Docker volume (e.g. one docker compose made) on the node --api names, with every file's owner, mode and times; it is left as it was. Stop the containers using it first")
    .option('--json', 'print JSON: { volume, snapshot, sizeBytes, files, skipped, replicated } (--from-docker: and from)')
    .addHelpText('after', '\nExamples:\n  warren volume import web_data < web_data.tar\n  warren volume import nextcloud.data --from-docker nextcloud_data   # then deploy the stack: it runs on its data')
    .action(async (name: string, flags: { json?: boolean; fromDocker?: string }, cmd: Command) => {
      if (flags.fromDocker === undefined && process.stdin.isTTY) throw new UserError('stdin_is_terminal', `pipe a tar in: warren volume import ${name} < ${name}.tar (or name a Docker volume: --from-docker VOLUME)`);
      const client = await clientFor(cmd);
      // refused before a byte is sent (an agent answering mid-upload would look like a broken connection)
      const { status } = await client.request('GET', `/v1/volumes/${encodeURIComponent(name)}`, undefined, { allow: [404] });
      if (status !== 404) throw new UserError('volume_exists', `volume ${name} exists: choose another name, or remove it first (warren volume rm ${name})`);
      if (flags.fromDocker !== undefined) {
        if (process.stderr.isTTY) process.stderr.write(`reading Docker volume ${flags.fromDocker} into ${name}...\n`);
        const out = (await client.request<ImportOut & { from: string }>('POST', path(name, 'import-docker'), { dockerVolume: flags.fromDocker }, { admin: true })).body;
        return printImport(out, flags.json);
      }
      const st = fstatSync(0);
      const size = st.isFile() ? st.size : undefined;
      const body = process.stdin.pipe(progress(`importing ${name}`, size));
      const res = await client.stream('PUT', path(name, 'import'), { admin: true, body, headers: { 'content-type': 'application/x-tar', ...(size !== undefined ? { 'x-warren-size': String(size) } : {}) } });
      printImport((await res.json()) as ImportOut, flags.json);
    });
}

type ImportOut = { volume: string; snapshot: string; sizeBytes: number; files: number; skipped: string[]; replicated: string[] };

function printImport(out: ImportOut & { from?: string }, json?: boolean): void {
  if (json) return printJson(out);
  if (out.skipped.length) process.stderr.write(`skipped: ${out.skipped.join(', ')}\n`);
  const from = out.from ? ` from Docker volume ${out.from}` : '';
  process.stdout.write(`${out.volume}${from}: ${out.files} files, ${formatBytes(out.sizeBytes)} (snapshot ${out.snapshot}, on ${out.replicated.length + 1} node${out.replicated.length ? 's' : ''})\n`);
}
