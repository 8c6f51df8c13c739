import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent } from './helpers/agents.ts';
process.on('uncaughtException', () => {}); process.on('unhandledRejection', () => {});
const ips = ['127.0.3.70', '127.0.3.71', '127.0.3.72'];
const LOG = ['--log-level', 'info', '--open'];
const all = [await startAgent({ bind: ips[0]!, args: LOG })];
for (const ip of ips.slice(1)) all.push(await startAgent({ bind: ip, args: ['--join', ips[0]!, ...LOG] }));
const token = readFileSync(join(all[0]!.dataDir, 'admin-token'), 'utf8').trim();
const res = await fetch(`${all[1]!.api}/v1/events?topic=lat`);
const lat: string[] = [];
(async () => { const dec = new TextDecoder(); for await (const c of res.body as any) { const now = Date.now(); const t = dec.decode(c); for (const m of t.matchAll(/"time":(\d+)/g)) lat.push(`${now - Number(m[1])}`); } })().catch(() => {});
await new Promise((r) => setTimeout(r, 3000));
for (let i = 0; i < 30; i++) {
  const t0 = performance.now();
  await fetch(`${all[0]!.api}/v1/events/lat`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ i }) });
  const post = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 200));
  if (i % 5 === 0) console.log('post ms', post.toFixed(1));
}
console.log('latencies', lat.join(','));
for (const a of all) a.child.kill('SIGKILL');
await new Promise((r) => setTimeout(r, 1000));
process.exit(0);
