import type { AgentHandle } from '../test/helpers/agents.ts';

/** The agent HTTP reads the benchmarks poll; each gives up after `timeoutMs`. */

export async function healthy(api: string, timeoutMs = 2000): Promise<boolean> {
  return (await fetch(`${api}/v1/health`, { signal: AbortSignal.timeout(timeoutMs) }).catch(() => undefined))?.status === 200;
}

/** The /v1/health body when the agent is healthy (200), else undefined. */
export async function healthBody(a: AgentHandle, timeoutMs = 2000): Promise<any | undefined> {
  const res = await fetch(`${a.api}/v1/health`, { signal: AbortSignal.timeout(timeoutMs) }).catch(() => undefined);
  return res?.status === 200 ? res.json() : undefined;
}

export async function members(a: AgentHandle, timeoutMs = 2000): Promise<any[]> {
  const res = await fetch(`${a.api}/v1/members`, { signal: AbortSignal.timeout(timeoutMs) });
  return ((await res.json()) as { members: any[] }).members;
}
