import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { WARREN_BIN, cleanupAll, tempDir } from '../helpers/agents.ts';
import { createLan, cleanupAllLans, type Lan } from '../helpers/netns.ts';
import { waitFor } from '../helpers/wait.ts';

// Three agents, each in its own network namespace on one bridge, with mDNS on and no --join:
// they must find each other by multicast DNS alone (then one founds the cluster and, with --open,
// admits the others). mDNS binds UDP 0.0.0.0:5353, so it can only be tested in namespaces, never
// on the host's own LAN.

interface NsAgent {
  name: string;
  ip: string;
  child: ChildProcess;
  logFile: string;
}

let lan: Lan | undefined;
const agents: NsAgent[] = [];

function api(a: NsAgent): string {
  return `http://${a.ip}:7370`;
}

function logOf(a: NsAgent): string {
  return existsSync(a.logFile) ? readFileSync(a.logFile, 'utf8') : '';
}

async function members(a: NsAgent): Promise<any[]> {
  const res = await fetch(`${api(a)}/v1/members`, { signal: AbortSignal.timeout(2000) });
  return ((await res.json()) as { members: any[] }).members;
}

before(async () => {
  lan = await createLan({ prefix: 'wmd', hosts: 3, rootAddress: true });
  const dir = await tempDir('warren-mdns-');
  for (const [i, host] of lan.hosts.entries()) {
    const name = `m${i}`;
    const logFile = join(dir, `${name}.log`);
    const child = lan.spawnIn(host.ns, WARREN_BIN, ['agent', '--bind', host.ip, '--data-dir', join(dir, name), '--name', name, '--tailscale', 'off', '--open', '--log-level', 'debug'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = createWriteStream(logFile, { flags: 'a' });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    agents.push({ name, ip: host.ip, child, logFile });
  }
});

after(async () => {
  // the LAN's cleanup kills every process in its namespaces (agents and their etcd children)
  await cleanupAllLans().catch((err: unknown) => console.error('# netns cleanup:', err));
  await cleanupAll();
});

test('3 agents in separate namespaces find each other by mDNS alone (no --join)', { timeout: 90_000 }, async () => {
  const t0 = Date.now();
  try {
    await waitFor('every agent sees 3 alive members', async () => {
      for (const a of agents) {
        if (a.child.exitCode !== null) throw new Error(`agent ${a.name} exited with ${a.child.exitCode}: ${logOf(a).slice(-600)}`);
        const view = await members(a);
        if (view.filter((m) => m.state === 'alive').length !== 3) return false;
      }
      return true;
    }, 60_000, 200);
  } catch (err) {
    for (const a of agents) console.error(`# --- log of ${a.name} (${a.ip}), last 2000 chars ---\n${logOf(a).slice(-2000)}`);
    throw err;
  }
  console.log(`# mDNS membership converged in ${Date.now() - t0} ms (from agent spawn)`);

  for (const a of agents) {
    const view = await members(a);
    assert.deepEqual(view.map((m) => m.name).sort(), ['m0', 'm1', 'm2'], `${a.name} sees all three`);
    assert.deepEqual(view.map((m) => m.addr).sort(), agents.map((x) => x.ip).sort(), `${a.name} knows their namespace addresses`);
    assert.equal(view.filter((m) => m.self).length, 1);
    assert.equal(view.find((m) => m.self)!.name, a.name);
  }
  // the peers were found by mDNS (nothing else could have told them: no --join, no Tailscale)
  assert.ok(agents.some((a) => logOf(a).includes('mDNS found a peer')), 'an agent logged an mDNS discovery');
});
