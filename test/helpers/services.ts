import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceView } from '../../src/core/service-types.ts';
import { startAgent, type AgentHandle, type AgentOptions } from './agents.ts';
import { docker, ensureHttpdImage, HTTPD_IMAGE } from './images.ts';
import { nodeId, voterIds } from './cluster.ts';
import { waitFor } from './wait.ts';

export async function adminHeaders(a: AgentHandle): Promise<Record<string, string>> {
  const token = (await readFile(join(a.dataDir, 'admin-token'), 'utf8')).trim();
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
}

/** POST /v1/services (admin); returns the status and body. */
export async function postService(a: AgentHandle, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${a.api}/v1/services`, { method: 'POST', headers: await adminHeaders(a), body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.json() };
}

export async function serviceView(a: AgentHandle, name: string): Promise<ServiceView> {
  const res = await fetch(`${a.api}/v1/services/${name}`, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`GET service ${name}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { service: ServiceView }).service;
}

/** The node of a 1-replica service's running replica, as `a` reports it, and its container there. */
export async function runningOn(a: AgentHandle, service: string): Promise<{ node: string; container: string } | undefined> {
  const v = await serviceView(a, service).catch(() => undefined);
  const node = v?.replicas.find((x) => x.state === 'running')?.nodeId;
  if (!node) return undefined;
  const [container] = (await docker('ps', '-q', '--filter', `label=warren.node=${node}`, '--filter', `label=warren.service=${service}`)).split('\n').filter(Boolean);
  return container ? { node, container } : undefined;
}

/** Replicas reported running, each with the URL of its first published TCP port. */
export async function runningReplicas(a: AgentHandle, name: string): Promise<{ slot: number; nodeId: string; url: string }[]> {
  const view = await serviceView(a, name);
  return view.replicas
    .filter((r) => r.state === 'running' && r.ports.length)
    .map((r) => ({ slot: r.slot, nodeId: r.nodeId!, url: `http://${r.addr}:${r.ports[0]!.hostPort}/` }));
}

/** GET a replica's page ("<service> <slot> <node>"), or undefined when it does not answer. */
export async function httpGet(url: string, timeoutMs = 1000): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? (await res.text()).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until `count` replicas of a service run and answer HTTP; returns them. */
export async function waitServing(a: AgentHandle, name: string, count: number, timeoutMs = 30_000) {
  return waitFor(`${count} replica(s) of ${name} running and answering`, async () => {
    const running = await runningReplicas(a, name);
    if (running.length !== count) return undefined;
    const pages = await Promise.all(running.map((r) => httpGet(r.url)));
    return pages.every(Boolean) ? running : undefined;
  }, timeoutMs, 100);
}

/** A cluster of `ips.length` real agents (the first founds it with --open, the others join). */
export async function startCluster(ips: string[], extra: string[] | ((i: number) => string[]) = [], envOf: (i: number) => NodeJS.ProcessEnv = () => ({})): Promise<{ agents: AgentHandle[]; ids: string[] }> {
  const argsOf = typeof extra === 'function' ? extra : () => extra;
  const first = await startAgent({ bind: ips[0]!, args: ['--open', ...argsOf(0)], env: envOf(0) });
  const rest: AgentHandle[] = [];
  for (const [i, ip] of ips.slice(1).entries()) rest.push(await startAgent({ bind: ip, args: ['--join', ips[0]!, ...argsOf(i + 1)], env: envOf(i + 1) }));
  const agents = [first, ...rest];
  const ids = await Promise.all(agents.map(nodeId));
  // voter changes are over (services work during them too, but tests measure other things)
  const want = Math.min(3, ips.length === 2 ? 1 : ips.length);
  await waitFor(`${want} voter(s)`, async () => (await voterIds(first)).length === want, 90_000, 250);
  // every node registered with the runtime (labels) and able to list services
  await waitFor('every node serving /v1/services', async () => {
    const res = await Promise.all(agents.map((a) => fetch(`${a.api}/v1/services`).then((r) => r.status).catch(() => 0)));
    return res.every((s) => s === 200);
  }, 60_000, 200);
  return { agents, ids };
}

/**
 * One agent (a single-node `--open` cluster) running service `web` from the test image, one
 * replica, answering; with its /v1/health body.
 */
export async function startAgentServingWeb(o: AgentOptions): Promise<{ agent: AgentHandle; health: any }> {
  await ensureHttpdImage();
  const agent = await startAgent({ ...o, args: ['--open', ...(o.args ?? [])] });
  const health = (await agent.health()).body;
  await waitFor('the agent serving /v1/services', async () => (await fetch(`${agent.api}/v1/services`).catch(() => undefined))?.status === 200, 60_000, 100);
  const created = await postService(agent, { name: 'web', image: HTTPD_IMAGE, ports: [80], replicas: 1 });
  if (created.status !== 201) throw new Error(`creating web: ${created.status} ${JSON.stringify(created.body)}`);
  await waitServing(agent, 'web', 1, 60_000);
  return { agent, health };
}
