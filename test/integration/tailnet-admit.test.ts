import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent, cleanupAll } from '../helpers/agents.ts';
import { admission } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';
import { TailscaleStandin, makeStatus, makeWhois } from '../helpers/tailscale-standin.ts';

let standin: TailscaleStandin | undefined;
after(async () => {
  await cleanupAll();
  await standin?.close();
});

test('a joiner from a device of the same tailnet is admitted without a token; with --tailnet-admit off it waits', { timeout: 120_000 }, async () => {
  const self = { hostName: 'founder', ips: ['127.0.9.2'] };
  standin = await TailscaleStandin.start(makeStatus({ self, peers: [] }));
  const env = { WARREN_TAILSCALE_SOCKET: standin.socketPath };
  const founder = await startAgent({ bind: '127.0.9.2', env, args: ['--tailscale', 'on'] });

  // a stranger: tailscaled knows no node at its address, so it must wait for approval
  const stranger = await startAgent({ bind: '127.0.9.3', args: ['--join', '127.0.9.2'], waitReady: false });
  await waitFor('stranger pending', async () => (await admission(founder)).queue.some((q: any) => q.name === 'n3' && q.state === 'pending-approval'), 20_000);
  const asked = standin.requests.filter((r) => r.url.startsWith('/localapi/v0/whois?addr='));
  assert.ok(asked.length > 0, 'the founder asked tailscaled who the joiner is');
  await stranger.stop();

  // a device of the tailnet: whois answers for the source address of the join request
  const source = decodeURIComponent(asked[0]!.url.split('addr=')[1]!).replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  standin.setWhois(source, makeWhois({ hostName: 'laptop', ips: [source] }));
  const friend = await startAgent({ bind: '127.0.9.4', args: ['--join', '127.0.9.2'], waitReady: false });
  await waitFor('tailnet device admitted', async () => (await friend.health().catch(() => undefined))?.status === 200, 60_000, 250);
  assert.match(founder.log(), /"via":"tailnet"/);

  // the same device, but the founder does not admit by tailnet
  await founder.stop();
  const strict = await startAgent({ bind: '127.0.9.5', env, args: ['--tailscale', 'on', '--tailnet-admit', 'off'] });
  const other = await startAgent({ bind: '127.0.9.6', args: ['--join', '127.0.9.5'], waitReady: false });
  await waitFor('pending despite the tailnet', async () => (await admission(strict)).queue.some((q: any) => q.name === 'n6' && q.state === 'pending-approval'), 20_000);
  await other.stop();
});
