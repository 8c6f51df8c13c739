import { startAgent, type AgentHandle } from './agents.ts';
import { etcdctlMembers, nodeId } from './cluster.ts';
import { docker } from './images.ts';
import { isolate } from './partition.ts';
import { waitFor } from './wait.ts';

export async function voterNames(a: AgentHandle): Promise<string[]> {
  return (await etcdctlMembers(a)).filter((m) => !m.learner).map((m) => m.name).sort();
}

export async function healthOf(a: AgentHandle): Promise<any> {
  return (await a.health().catch(() => undefined))?.body;
}

/** kill -9 of an agent and its containers (the machine is gone). */
export async function killWithContainers(a: AgentHandle, id: string): Promise<void> {
  await a.stop('SIGKILL');
  const ids = (await docker('ps', '-aq', '--filter', `label=warren.node=${id}`)).split('\n').filter(Boolean);
  if (ids.length) await docker('rm', '-f', ...ids);
}

/**
 * A cluster held in the 2-voter window of growing from 1 to 3 voters: a founder, a client-only
 * node whose etcd traffic is cut (offered the third seat, its learner never catches up) and a
 * joiner promoted to voter. The window lasts ~1 s by itself; the cut makes it last.
 */
export async function clusterInTwoVoterWindow(ips: [string, string, string]): Promise<{ founder: AgentHandle; a: AgentHandle; b: AgentHandle; ids: string[]; heal: () => Promise<void> }> {
  const founder = await startAgent({ bind: ips[0], args: ['--open'] });
  const a = await startAgent({ bind: ips[1], args: ['--join', ips[0]] });
  await waitFor('a is a client-only member', async () => (await healthOf(a))?.etcd.role === 'client', 30_000, 100);
  const heal = await isolate([a.pid], [], '7373', { alsoToPorts: '7373' });
  const b = await startAgent({ bind: ips[2], args: ['--join', ips[0]] });
  const ids = await Promise.all([founder, a, b].map(nodeId));
  await waitFor('2 voters: the founder and b', async () => (await voterNames(founder)).join() === [ids[0]!, ids[2]!].sort().join(), 60_000, 100);
  return { founder, a, b, ids, heal };
}
