import { readFileSync } from 'node:fs';
import { startAgent, AgentHandle, tempDir } from './helpers/agents.ts';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from './helpers/wait.ts';
const cpu = (pid: number) => { const s = readFileSync(`/proc/${pid}/stat`, 'utf8'); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
const n = Number(process.argv[2] ?? 5);
const ips = Array.from({ length: n }, (_, i) => `127.0.3.${60 + i}`);
const LOG = ['--log-level', 'info', '--open'];
const all = [await startAgent({ bind: ips[0]!, args: LOG })];
for (const [i, ip] of ips.slice(1).entries()) {
  if (i !== 1) { all.push(await startAgent({ bind: ip, args: ['--join', ips[0]!, ...LOG] })); continue; }
  const dataDir = join(await tempDir(), 'data');
  const child = spawn('node', ['--cpu-prof', '--cpu-prof-dir=/tmp/dbg/prof', '--v8-pool-size=2', '--max-semi-space-size=1', '--import', '/work/main/dist/polyfill.mjs', '/work/main/dist/main.mjs', 'agent', '--bind', ip, '--data-dir', dataDir, '--name', 'prof', '--no-mdns', '--tailscale', 'off', '--join', ips[0]!, ...LOG], { stdio: ['ignore', 'pipe', 'pipe'] });
  const h = new AgentHandle(child, ip, dataDir);
  await waitFor('prof healthy', async () => (await h.health()).status === 200, 60_000);
  all.push(h);
}
await new Promise((r) => setTimeout(r, 5000));
const c0 = all.map((a) => cpu(a.pid)); const t0 = Date.now();
await new Promise((r) => setTimeout(r, 20_000));
console.log(`N=${n} idle CPU% per agent:`, all.map((a, i) => Math.round((100 * (cpu(a.pid) - c0[i]!)) / ((Date.now() - t0) / 1000))).join(','));
const views = await Promise.all(all.map(async (a) => ((await (await fetch(a.api + '/v1/members')).json()) as any).members.filter((m: any) => m.state === 'alive').length));
console.log('alive counts', views.join(','));
console.log('stop', await all[2]!.stop('SIGTERM', 40_000));
for (const a of all) a.child.kill('SIGKILL');
await new Promise((r) => setTimeout(r, 1000));
process.exit(0);
