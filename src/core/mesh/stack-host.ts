/**
 * `<service>.<stack>` (below Warren's domain, in the proxy's Host and in DNS) names the stack
 * service's Warren service `<stack>-<service>` (core/compose/names.ts), beside `<name>` itself:
 * `web.shop.warren.internal` is `shop-web.warren.internal`. And `<stack>` alone names the stack's
 * web service (stackWebChoice), unless a service has that name itself. Pure.
 */
import { stackHostLabel, warrenServiceName } from '../compose/names.ts';
import type { ServiceSpec } from '../service-types.ts';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The Warren service a name relative to the domain (lowercase, no outer dots) stands for, or null. */
export function serviceOfRelativeName(rel: string): string | null {
  const labels = rel.split('.');
  if (labels.length === 1) return rel === '' ? null : rel; // the service's own name: the caller looks it up as it is
  if (labels.length === 2 && LABEL.test(labels[0]!) && LABEL.test(labels[1]!)) return warrenServiceName(labels[1]!, labels[0]!);
  return null;
}

/** The label (compose `labels: { warren.web: "true" }`) that makes a service its stack's `<stack>.<domain>`. */
export const WEB_LABEL = 'warren.web';

export type WebCandidate = Pick<ServiceSpec, 'name' | 'stack' | 'ports' | 'options'>;

/** publishes a TCP port, or listens on one of its node's own (network_mode: host, its ports and expose) */
const publishesTcp = (s: WebCandidate) =>
  s.options?.hostNetwork ? (s.options.hostPorts ?? []).some((p) => p.endsWith('/tcp')) : s.ports.some((p) => p.protocol === 'tcp' && (p.published !== undefined || p.anyHostPort));

/**
 * Which of one stack's services `<stack>.<domain>` names: the one labelled warren.web=true, else
 * the only one that publishes a TCP port. `why` says why none does when several could.
 */
export function stackWebChoice(services: readonly WebCandidate[]): { service?: string; why?: string } {
  const labelled = services.filter((s) => s.options?.labels?.[WEB_LABEL] === 'true');
  if (labelled.length === 1) return { service: labelled[0]!.name };
  const names = (list: readonly WebCandidate[]) => list.map((s) => s.name).sort().join(', ');
  if (labelled.length > 1) return { why: `several services are labelled ${WEB_LABEL}: "true" (${names(labelled)}): the stack's own name names none of them; label one` };
  const publishing = services.filter(publishesTcp);
  if (publishing.length === 1) return { service: publishing[0]!.name };
  if (publishing.length > 1) return { why: `several services publish TCP ports (${names(publishing)}): the stack's own name names none of them; label its web service ${WEB_LABEL}: "true"` };
  return {};
}

/** `<stack>` (as a DNS label) → the Warren service it names, for every stack that has one. */
export function stackWebServices(services: readonly WebCandidate[]): Map<string, string> {
  const byStack = new Map<string, WebCandidate[]>();
  for (const s of services) {
    if (s.stack === undefined) continue;
    const list = byStack.get(s.stack) ?? [];
    list.push(s);
    byStack.set(s.stack, list);
  }
  const out = new Map<string, string>();
  for (const [stack, list] of byStack) {
    const web = stackWebChoice(list).service;
    if (web !== undefined) out.set(stackHostLabel(stack), web);
  }
  return out;
}
