/**
 * A stack's service addresses outlive a restart of the agent (routing/mesh-addrs-file.ts): a
 * container or resolver that cached one must still find the same service there after an upgrade.
 * One real agent on 127.60.16.1; the names are asked of the stack's DNS on its network gateway.
 * Services `baker` and `charlie` first, then `able` (sorting first) added: given afresh after the restart,
 * every address would have shifted to another service.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cli, cleanupAll, startAgent, tempDir, type AgentHandle } from '../helpers/agents.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from '../helpers/images.ts';
import { removeNodesDocker } from '../helpers/stacks.ts';
import { waitFor } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const BIND = '127.60.16.1';
const STACK = 'addrs-it';
let agent: AgentHandle;
let nodeId = '';
let dir = '';

const compose = (services: string[]) => `name: ${STACK}\nservices:\n${services.map((s) => `  ${s}:\n    image: ${HTTPD_IMAGE}\n    command: ["sleep", "3600"]\n`).join('')}`;

before(async () => {
  await ensureHttpdImage();
  dir = await tempDir('warren-addrs-');
  agent = await startAgent({ bind: BIND, args: ['--open'] });
  nodeId = (await agent.health()).body.node.id;
});

after(async () => {
  await cleanupAll();
  await removeNodesDocker([nodeId]);
});

async function deploy(services: string[]): Promise<void> {
  await writeFile(join(dir, 'compose.yaml'), compose(services));
  const r = await cli(['--data-dir', agent.dataDir, '--api', agent.api, 'deploy', '-f', join(dir, 'compose.yaml'), '--detach']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
}

/** The stack network's gateway here, where its names are served. */
async function gateway(): Promise<string> {
  const [net] = (await docker('network', 'ls', '-q', '--filter', `label=warren.stack=${STACK}`, '--filter', `label=warren.node=${nodeId}`)).split('\n').filter(Boolean);
  if (!net) throw new Error('no stack network yet');
  return (await docker('network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', net)).trim();
}

async function addrOf(gw: string, name: string): Promise<string | undefined> {
  const { stdout } = await execFileP('dig', [`@${gw}`, '+tries=1', '+time=1', '+short', name], { timeout: 10_000 }).catch(() => ({ stdout: '' }));
  return stdout.trim().split('\n').find((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l));
}

async function addrs(names: string[]): Promise<Record<string, string> | undefined> {
  const gw = await gateway().catch(() => undefined);
  if (!gw) return undefined;
  const out: Record<string, string> = {};
  for (const n of names) {
    const a = await addrOf(gw, n);
    if (!a) return undefined;
    out[n] = a;
  }
  return out;
}

test('the stack services\' addresses are the same after the agent restarts, a service added since included', { timeout: 180_000 }, async () => {
  await deploy(['baker', 'charlie']);
  const first = await waitFor('baker and charlie resolving', () => addrs(['baker', 'charlie']), 90_000, 250);
  await deploy(['able', 'baker', 'charlie']);
  const before = await waitFor('able resolving too', () => addrs(['able', 'baker', 'charlie']), 90_000, 250);
  assert.equal(before.baker, first.baker, 'baker kept its address when able came');
  assert.equal(before.charlie, first.charlie, 'charlie kept its address when able came');
  assert.equal(new Set(Object.values(before)).size, 3);

  assert.equal(await agent.stop('SIGTERM', 30_000), 0);
  agent = await startAgent({ bind: BIND, dataDir: agent.dataDir, args: ['--open'] });
  // served again by the new agent (the old one's DNS is gone with it), with the same addresses
  const again = await waitFor('the names served again', () => addrs(['able', 'baker', 'charlie']), 90_000, 250);
  assert.deepEqual(again, before);
});
