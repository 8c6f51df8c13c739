/**
 * Stack and service names. A compose project name is lowercase letters, digits, "-" and "_"
 * (compose's rule). A stack service becomes the Warren service `<stack>-<service>`: Swarm's
 * `<stack>_<service>` is not a DNS label ("_" is not allowed in host names), and Warren's service
 * names are DNS labels so that `<name>.<domain>` works in its DNS and proxy. Both parts are
 * lowercased and every run of characters other than a-z and 0-9 becomes one "-". Two services
 * that map to the same name, or a name longer than 63 characters, are refused (never shortened
 * or hashed, so the name stays predictable).
 */
import { serviceNameProblem } from '../service-fields.ts';

const PROJECT_RE = /^[a-z0-9][a-z0-9_-]*$/;

/** Why `name` (from -p or name:) is not a project name, or undefined. */
export function projectNameProblem(name: string): string | undefined {
  if (!PROJECT_RE.test(name)) return `"${name}" is not a stack name: lowercase letters, digits, "-" and "_", starting with a letter or digit`;
  return undefined;
}

/** A directory name made into a project name, as compose does (lowercase; other characters dropped). */
export function projectNameFromDir(dir: string): string {
  return dir.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
}

const label = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');

/** A stack's name as a DNS label (`<stack>.<domain>` names its web service: core/mesh/stack-host.ts). */
export const stackHostLabel = (stack: string): string => label(stack);

export function warrenServiceName(stack: string, service: string): string {
  return `${label(stack)}-${label(service)}`;
}

/** Why the Warren name of `service` cannot be used, or undefined. */
export function warrenNameProblem(stack: string, service: string): string | undefined {
  const name = warrenServiceName(stack, service);
  if (label(service) === '') return `the service name "${service}" has no letter or digit`;
  if (name.length > 63) return `the Warren service name "${name}" (<stack>-<service>) is longer than 63 characters: choose a shorter stack name (-p) or service name`;
  return serviceNameProblem(name, 'the Warren service name')?.concat(' (it is <stack>-<service>)');
}
