import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startAgent, cli, cleanupAll, tempDir, type AgentHandle } from '../helpers/agents.ts';
import { TailscaleStandin, makeStatus, type StandinNodeSpec } from '../helpers/tailscale-standin.ts';
import { waitFor } from '../helpers/wait.ts';

// A tailnet made of loopback addresses, described by a stand-in for tailscaled's LocalAPI:
//   127.0.2.20  this device (Self): the agent under test, started with --tailscale on and no --bind
//   127.0.2.21  online, runs an agent (founds the cluster; --open admits whoever asks)
//   127.0.2.22  online, runs an agent (joined to .21)
//   127.0.2.29  OFFLINE per the coordination server, although an agent runs there
//   127.0.2.23  added to the tailnet later
// The agents at .29 and .23 are fresh nodes that know nobody: their only --join target is an
// address where nothing runs (127.0.2.99), so they never found a cluster of their own and would
// join the first cluster that reaches them. Only Tailscale discovery from .20 could reach them.
const NOWHERE = '127.0.2.99';
const SELF: StandinNodeSpec = { hostName: 'ts-self', ips: ['127.0.2.20'] };
const PEER21: StandinNodeSpec = { hostName: 'ts-21', ips: ['127.0.2.21'] };
const PEER22: StandinNodeSpec = { hostName: 'ts-22', ips: ['127.0.2.22'] };
const OFFLINE29: StandinNodeSpec = { hostName: 'ts-29', ips: ['127.0.2.29'], online: false };
const PEER23: StandinNodeSpec = { hostName: 'ts-23', ips: ['127.0.2.23'] };

let standin: TailscaleStandin;
let a21: AgentHandle;
let a22: AgentHandle;
let a29: AgentHandle;
let self: AgentHandle;

async function members(a: AgentHandle): Promise<any[]> {
  const res = await fetch(`${a.api}/v1/members`, { signal: AbortSignal.timeout(2000) });
  return ((await res.json()) as { members: any[] }).members;
}

async function idOf(a: AgentHandle): Promise<string> {
  return (await a.health()).body.node.id as string;
}

/** The addresses `viewer` lists as alive, sorted. */
async function aliveAddrs(viewer: AgentHandle): Promise<string[]> {
  return (await members(viewer)).filter((m) => m.state === 'alive').map((m) => m.addr as string).sort();
}

/** An agent that knows nobody (see above); ready once its API answers at all. */
async function startLoner(bind: string): Promise<AgentHandle> {
  const a = await startAgent({ bind, waitReady: false, args: ['--join', NOWHERE, '--open'] });
  await waitFor(`agent on ${bind} answers`, async () => {
    if (!a.running) throw new Error(`agent exited with ${a.exitCode}: ${a.log().slice(-600)}`);
    return (await fetch(`${a.api}/v1/members`, { signal: AbortSignal.timeout(2000) })).ok;
  }, 30_000);
  return a;
}

/** waitFor that prints the agents' log tails when it times out (for diagnosing a failure). */
async function waitOrDump(what: string, check: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<void> {
  try {
    await waitFor(what, check, timeoutMs, intervalMs);
  } catch (err) {
    for (const a of [self, a21, a22].filter(Boolean)) console.error(`# --- log of ${a.bind}, last 3000 chars ---\n${a.log().slice(-3000)}`);
    throw err;
  }
}

before(async () => {
  standin = await TailscaleStandin.start(makeStatus({ self: SELF, peers: [PEER21, PEER22, OFFLINE29] }));
  a21 = await startAgent({ bind: '127.0.2.21', args: ['--open'] });
  [a22, a29] = await Promise.all([
    startAgent({ bind: '127.0.2.22', args: ['--join', '127.0.2.21', '--open'] }),
    startLoner('127.0.2.29'),
  ]);
});

after(async () => {
  await cleanupAll();
  await standin?.close();
});

test('--tailscale on without --bind binds the tailnet address and finds the online peers, never the offline one', { timeout: 90_000 }, async () => {
  await waitFor('.21 and .22 see each other', async () => (await aliveAddrs(a22)).join() === '127.0.2.21,127.0.2.22', 15_000);
  self = await startAgent({
    bind: '127.0.2.20', // where it must end up; no --bind flag is passed
    noBindFlag: true,
    name: 'ts-self',
    args: ['--tailscale', 'on'],
    env: { WARREN_TAILSCALE_SOCKET: standin.socketPath },
  });
  const health = await self.health();
  assert.equal(health.body.node.addr, '127.0.2.20', 'it binds (and advertises) its tailnet address');
  assert.match(self.log(), /"msg":"binding to the tailnet address"/);

  const t0 = Date.now();
  await waitOrDump('the new agent sees .20, .21 and .22 alive', async () => (await aliveAddrs(self)).join() === '127.0.2.20,127.0.2.21,127.0.2.22', 20_000);
  await waitFor('.21 and .22 see the new agent alive', async () => {
    for (const a of [a21, a22]) if (!(await aliveAddrs(a)).includes('127.0.2.20')) return false;
    return true;
  }, 10_000);
  console.log(`# tailscale discovery converged ${Date.now() - t0} ms after the agent was ready`);
  assert.ok(standin.statusRequests() > 0, 'the agent read the tailnet status');

  // negative: the offline device is never listed. Bounded observation window after convergence;
  // the discovery polls the status every 5 s, so 6 s covers at least one more poll + probe round.
  const offlineId = await idOf(a29);
  const until = Date.now() + 6000;
  while (Date.now() < until) {
    for (const a of [self, a21, a22]) {
      const view = await members(a);
      assert.ok(!view.some((m) => m.id === offlineId || m.addr === '127.0.2.29'), `${a.bind} never lists the offline device`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual((await members(a29)).map((m) => m.addr), ['127.0.2.29'], 'the offline device was never contacted either');
  assert.doesNotMatch(a29.log(), /127\.0\.2\.2[0-2]/, 'nothing from .20-.22 ever reached the offline device');
  assert.doesNotMatch(self.log(), /"peer":"ts-29"/, 'the offline device was never reported as found');
});

test('a device that joins the tailnet later is found without a restart', { timeout: 60_000 }, async () => {
  const late = await startLoner('127.0.2.23'); // knows nobody until the tailnet lists it
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(await aliveAddrs(late), ['127.0.2.23'], 'nobody knows it yet');

  const t0 = Date.now();
  standin.setStatus(makeStatus({ self: SELF, peers: [PEER21, PEER22, OFFLINE29, PEER23] }));
  const all = '127.0.2.20,127.0.2.21,127.0.2.22,127.0.2.23';
  await waitOrDump('every agent sees .20-.23 alive', async () => {
    for (const a of [self, a21, a22, late]) if ((await aliveAddrs(a)).join() !== all) return false;
    return true;
  }, 30_000, 100);
  console.log(`# the late device was found ${Date.now() - t0} ms after the status listed it`);
  assert.equal((await members(self)).filter((m) => m.self).length, 1);
  assert.ok(!(await members(self)).some((m) => m.addr === '127.0.2.29'), 'still no offline device');
});

test('--tailscale on without tailscaled fails at once with one clear line', { timeout: 30_000 }, async () => {
  const dir = await tempDir('warren-ts-missing-');
  const missing = join(dir, 'no-such-tailscaled.sock');
  const r = await cli(['agent', '--tailscale', 'on', '--no-mdns', '--data-dir', join(dir, 'data'), '--name', 'nots'], { WARREN_TAILSCALE_SOCKET: missing });
  assert.equal(r.code, 1, `exit 1 (stdout: ${r.stdout.slice(-300)})`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, /^warren: --tailscale on, but tailscaled's socket .*no-such-tailscaled\.sock does not exist/);
  assert.match(lines[0]!, /tailscale up/);
});
