import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AgentHandle } from './agents.ts';

const execFileP = promisify(execFile);

export async function admission(a: AgentHandle): Promise<any> {
  const res = await fetch(`${a.api}/v1/admission`, { signal: AbortSignal.timeout(3000) });
  return res.json();
}

/** Voters (not learners) as the agent reports them. */
export async function voterIds(a: AgentHandle): Promise<string[]> {
  const view = await admission(a);
  // an agent reconnecting to new voters cannot read the set for a moment: say so, not "none"
  if (view.error) throw new Error(`${a.bind}: ${view.error}`);
  return (view.voters as any[]).filter((v) => !v.isLearner).map((v) => v.id).sort();
}

/** The members as `a`'s gossip holds them (GET /v1/members); throws when it does not answer. */
export async function membersOf(a: { api: string }, timeoutMs = 2000): Promise<{ id: string; self: boolean; state: string }[]> {
  const res = await fetch(`${a.api}/v1/members`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET /v1/members: ${res.status}`);
  return ((await res.json()) as { members: { id: string; self: boolean; state: string }[] }).members;
}

export async function nodeId(a: AgentHandle): Promise<string> {
  return (await a.health()).body.node.id;
}

/** `etcdctl member list` with the agent's own certificates. */
export async function etcdctlMembers(a: AgentHandle): Promise<{ id: string; status: string; name: string; peer: string; client: string; learner: boolean }[]> {
  const tls = join(a.dataDir, 'tls');
  const { stdout } = await execFileP('etcdctl', ['--endpoints', `https://${a.bind}:7372`, '--cacert', join(tls, 'ca.crt'), '--cert', join(tls, 'node.crt'), '--key', join(tls, 'node.key'), '--dial-timeout', '3s', 'member', 'list'], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeout: 10_000,
  });
  return stdout.trim().split('\n').map((line) => {
    const [id, status, name, peer, client, learner] = line.split(', ');
    return { id: id!, status: status!, name: name!, peer: peer!, client: client!, learner: learner === 'true' };
  });
}
