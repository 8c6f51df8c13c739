/**
 * `<service>.<stack>` (below Warren's domain, in the proxy's Host and in DNS) names the stack
 * service's Warren service `<stack>-<service>` (core/compose/names.ts), beside `<name>` itself:
 * `web.shop.warren.internal` is `shop-web.warren.internal`. Pure.
 */
import { warrenServiceName } from '../compose/names.ts';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The Warren service a name relative to the domain (lowercase, no outer dots) stands for, or null. */
export function serviceOfRelativeName(rel: string): string | null {
  const labels = rel.split('.');
  if (labels.length === 1) return rel === '' ? null : rel; // the service's own name: the caller looks it up as it is
  if (labels.length === 2 && LABEL.test(labels[0]!) && LABEL.test(labels[1]!)) return warrenServiceName(labels[1]!, labels[0]!);
  return null;
}
