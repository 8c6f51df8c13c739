/**
 * The host ports the cluster's agents hold, which a stack may not publish. A published port
 * answers on every node (the routing mesh), so it collides with any node's Warren ports, not only
 * the deploying agent's, and each node's ports are its own flags: each live member is asked
 * (its /v1/health) when a stack is deployed or checked.
 */
import { warrenPorts, type ReservedPort } from '../core/compose/validate.ts';
import type { HealthReport, MemberView } from '../core/views.ts';

const ASK_TIMEOUT_MS = 2000;

const isPort = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536;
const isText = (t: unknown): t is string => typeof t === 'string' && t.length > 0 && t.length <= 100;

/** A member's ports from its health report (an older agent's from the ports it reports there). Pure. */
export function portsOfHealth(h: Partial<HealthReport>, api: string | undefined, node: string): ReservedPort[] {
  if (Array.isArray(h.ports)) {
    return h.ports.flatMap((p) => (isPort(p?.port) && (p.protocol === 'tcp' || p.protocol === 'udp') && isText(p.what) && isText(p.flag) ? [{ port: p.port, protocol: p.protocol, what: p.what, flag: p.flag, node }] : []));
  }
  // an older agent: the ports its health names, labelled as this agent labels its own
  const url = urlOf(api);
  const given = { http: url ? Number(url.port || (url.protocol === 'https:' ? 443 : 80)) : undefined, proxy: h.proxy?.port, https: h.https?.port, dns: h.dns?.port };
  const flags = new Set(Object.entries(given).flatMap(([name, port]) => (isPort(port) ? [`--${name}-port`] : [])));
  return warrenPorts(given).flatMap((p) => (flags.has(p.flag) ? [{ ...p, node }] : []));
}

function urlOf(api: string | undefined): URL | undefined {
  try {
    return api ? new URL(api) : undefined;
  } catch {
    return undefined;
  }
}

async function askHealth(api: string): Promise<Partial<HealthReport>> {
  const res = await fetch(`${api}/v1/health`, { signal: AbortSignal.timeout(ASK_TIMEOUT_MS) });
  return (await res.json()) as Partial<HealthReport>;
}

/**
 * This agent's ports, then every other live member's (a member that does not answer: a warning,
 * its ports unchecked).
 */
export async function clusterPorts(own: ReservedPort[], members: readonly MemberView[], ask = askHealth): Promise<{ ports: ReservedPort[]; warnings: string[] }> {
  const others = members.filter((m) => !m.self && (m.state === 'alive' || m.state === 'suspect' || m.state === 'restarting'));
  const answers = await Promise.all(
    others.map(async (m) => {
      if (!m.api) return { m, err: 'no API address known' };
      try {
        return { m, ports: portsOfHealth(await ask(m.api), m.api, m.name) };
      } catch (err) {
        return { m, err: (err as Error).name === 'TimeoutError' ? 'no answer' : (err as Error).message };
      }
    }),
  );
  const ports = [...own];
  const warnings: string[] = [];
  for (const a of answers) {
    if (a.ports) ports.push(...a.ports);
    else warnings.push(`could not ask node ${a.m.name} which ports its agent holds (${a.err}): a published port that collides with them is not refused`);
  }
  return { ports, warnings };
}
