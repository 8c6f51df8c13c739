/**
 * `warren cluster backup` and `warren cluster restore` for real: a cluster with a service is
 * backed up, the machine is gone (agent killed, its containers removed), and a fresh data dir on
 * another address is restored from the file and started: the same cluster id, CA and join token,
 * the service running again on the new machine, and a new machine admitted with the old token.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cleanupAll, cli, startAgent, tempDir, WARREN_BIN, type AgentHandle } from '../helpers/agents.ts';
import { admission, nodeId } from '../helpers/cluster.ts';
import { docker, ensureHttpdImage, removeClusterContainers, HTTPD_IMAGE } from '../helpers/images.ts';
import { adminHeaders, postService, waitServing } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const OLD = '127.64.0.30';
const NEW = '127.64.0.31';
const JOINER = '127.64.0.32';

let dir = '';
let old: AgentHandle;

async function removeContainers(clusterId: string): Promise<void> {
  const ids = (await docker('ps', '-aq', '--filter', `label=warren.cluster=${clusterId}`).catch(() => '')).split('\n').filter(Boolean);
  if (ids.length) await docker('rm', '-f', ...ids).catch(() => undefined);
}

/** `warren cluster backup` with stdout to a file (it refuses a terminal). */
async function backupTo(file: string, api: string, dataDir: string, passFile: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('/bin/sh', ['-c', `"${WARREN_BIN}" --api ${api} --data-dir "${dataDir}" cluster backup --passphrase-file "${passFile}" > "${file}"`], { timeout: 60_000 }, (err, _out, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }));
    void child;
  });
}

before(async () => {
  await ensureHttpdImage();
  dir = await tempDir('warren-backup-');
  old = await startAgent({ bind: OLD, name: 'old', args: ['--open'] });
  await waitFor('services API', async () => (await fetch(`${old.api}/v1/services`)).status === 200, 60_000, 100);
});

after(async () => {
  // the agents first: removed while they ran, a container was started again
  await cleanupAll();
  await removeClusterContainers();
});

test('a backup restored on a fresh machine is the same cluster, with its services, CA and join token', { timeout: 240_000 }, async () => {
  const created = await postService(old, { name: 'keep', image: HTTPD_IMAGE, ports: [80], env: { NOTE: 'backed up' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitServing(old, 'keep', 1, 60_000);
  const clusterId = (await admission(old)).clusterId as string;
  const token = (await (await fetch(`${old.api}/v1/join-token`, { headers: await adminHeaders(old) })).json()).token as string;
  const caPem = await readFile(join(old.dataDir, 'tls', 'ca.crt'), 'utf8');

  // the backup: admin only, encrypted, nothing readable in it
  assert.equal((await fetch(`${old.api}/v1/cluster/backup`)).status, 401);
  const pass = join(dir, 'pass');
  await writeFile(pass, 'a long enough passphrase\n', { mode: 0o600 });
  const file = join(dir, 'cluster.backup');
  const made = await backupTo(file, old.api, old.dataDir, pass);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stderr, new RegExp(`backed up cluster ${clusterId}`));
  const bytes = await readFile(file);
  assert.equal(bytes.subarray(0, 16).toString(), 'warren-backup 1\n');
  for (const plain of ['PRIVATE KEY', 'keep', clusterId, 'backed up']) assert.equal(bytes.includes(plain), false, `"${plain}" is not readable in the file`);

  // the machine is gone: its agent and its containers
  await old.stop('SIGKILL');
  await removeContainers(clusterId);

  // a fresh machine: restore refuses a wrong passphrase, then restores into an empty data dir
  const fresh = join(dir, 'fresh');
  const wrong = join(dir, 'wrong');
  await writeFile(wrong, 'not the passphrase\n');
  const refused = await cli(['--data-dir', fresh, 'cluster', 'restore', file, '--passphrase-file', wrong, '--bind', NEW, '--name', 'new']);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr, 'warren: wrong passphrase, or the backup file was changed or damaged\n');
  const restored = await cli(['--data-dir', fresh, 'cluster', 'restore', file, '--passphrase-file', pass, '--bind', NEW, '--name', 'new']);
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(restored.stdout, new RegExp(`^restored cluster ${clusterId} .*1 service\\) into ${fresh.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} as node new\\n`));
  const again = await cli(['--data-dir', fresh, 'cluster', 'restore', file, '--passphrase-file', pass, '--bind', NEW]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already belongs to cluster .*: restore into an empty --data-dir/);

  const agent = await startAgent({ bind: NEW, name: 'new', dataDir: fresh });
  assert.equal((await admission(agent)).clusterId, clusterId, 'the same cluster');
  assert.equal((await cli(['--api', agent.api, 'ca'])).stdout, caPem, 'the same CA');
  const newToken = (await (await fetch(`${agent.api}/v1/join-token`, { headers: await adminHeaders(agent) })).json()).token as string;
  assert.equal(newToken, token, 'the same join token');
  // the service, placed again on the machine that is here
  const [replica] = await waitServing(agent, 'keep', 1, 90_000);
  assert.equal(replica!.nodeId, await nodeId(agent));
  const view = (await (await fetch(`${agent.api}/v1/services/keep`)).json()).service;
  assert.deepEqual(view.spec.env, { NOTE: 'backed up' });
  // the old machine is not a member any more; the new one is the only voter
  const members = (await (await fetch(`${agent.api}/v1/members`)).json()).members as { name: string }[];
  assert.deepEqual(members.map((m) => m.name), ['new']);

  // a new machine joins the restored cluster with the old token (the CA pin and secret hold)
  const joiner = await startAgent({ bind: JOINER, name: 'joiner', args: ['--join', NEW, '--token', token] });
  await waitFor('the joiner admitted', async () => (await admission(joiner)).clusterId === clusterId, 60_000, 200);
  const { stdout } = await execFileP(WARREN_BIN, ['--api', agent.api, 'members', '--json'], { timeout: 30_000 });
  assert.deepEqual((JSON.parse(stdout) as { name: string }[]).map((m) => m.name).sort(), ['joiner', 'new']);
});
