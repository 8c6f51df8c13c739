import { startAgent, cleanupAll } from './helpers/agents.ts';
const ips = Array.from({ length: 10 }, (_, i) => `127.0.3.${20 + i}`);
const LOG = ['--log-level', 'info'];
const first = await startAgent({ bind: ips[0]!, args: LOG });
const rest = await Promise.all(ips.slice(1).map((ip) => startAgent({ bind: ip, args: ['--join', ips[0]!, ...LOG] })));
const all = [first, ...rest];
for (let i = 0; i < 20; i++) {
  const views = await Promise.all(all.map(async (a) => ((await (await fetch(a.api + '/v1/members')).json()) as any).members));
  console.log(i, views.map((v: any[]) => v.map((m) => m.state[0]).join('')).join(' '));
  await new Promise((r) => setTimeout(r, 1000));
}
console.log(all[3]!.log().split('\n').filter((l) => /warn|error|"to":/.test(l)).slice(-30).join('\n'));
await cleanupAll();
