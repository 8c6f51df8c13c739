/**
 * Node labels (`KEY=VALUE`, as a node's `--label`) and a service's placement constraints
 * (`node=NAME`, `label=KEY=VALUE`): every one must hold on a node for a replica to run there.
 */
import { fail, isObject, show } from './invalid-service.ts';
import { DNS_LABEL_RE } from './service-fields.ts';
import type { Constraint } from './service-types.ts';

// ---------------------------------------------------------------------------------------------
// labels and constraints

// the same grammar as the agent's `--label` (src/core/agent-config.ts), so every label a node can carry can be asked for
const LABEL_KEY_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
const LABEL_VALUE_RE = /^[^\s]{0,253}$/;

/** Why a node label's key or value is not acceptable (the agent's --label uses it too). */
export function labelProblem(key: string, value: string): string | undefined {
  if (!LABEL_KEY_RE.test(key)) return `the label key ${show(key)} must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit`;
  if (!LABEL_VALUE_RE.test(value)) return `the label value ${show(value)} must have no spaces (at most 253 characters)`;
  return undefined;
}

/** A node label `KEY=VALUE` (as a node's `--label` and in `label=KEY=VALUE` constraints). */
export function parseLabel(text: string, field = '--label'): [string, string] {
  const eq = typeof text === 'string' ? text.indexOf('=') : -1;
  if (eq < 0) return fail(`${field} ${show(text)} must be KEY=VALUE (e.g. disk=ssd)`);
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const problem = labelProblem(key, value);
  if (problem) fail(`${field} ${show(text)}: ${problem}`);
  return [key, value];
}

/** One constraint: "node=NAME", "label=KEY=VALUE", or the Constraint object. */
export function parseConstraintEntry(value: unknown, field = 'constraints'): Constraint {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (isObject(value) && value.kind === 'node' && typeof value.value === 'string' && Object.keys(value).length === 2) text = `node=${value.value}`;
  else if (isObject(value) && value.kind === 'label' && typeof value.key === 'string' && typeof value.value === 'string' && Object.keys(value).length === 3) {
    text = `label=${value.key}=${value.value}`;
  } else return fail(`${field} entries must be "node=NAME" or "label=KEY=VALUE", got ${show(value)}`);
  const eq = text.indexOf('=');
  if (eq < 0) return fail(`${field} ${show(text)} must be node=NAME or label=KEY=VALUE`);
  const kind = text.slice(0, eq);
  const rest = text.slice(eq + 1);
  if (kind === 'node') {
    if (!DNS_LABEL_RE.test(rest)) fail(`${field} ${show(text)}: ${show(rest)} is not a node name (node names are DNS labels, see "warren members")`);
    return { kind: 'node', value: rest };
  }
  if (kind === 'label') {
    const eq2 = rest.indexOf('=');
    if (eq2 < 0) return fail(`${field} ${show(text)} must be label=KEY=VALUE (e.g. label=disk=ssd)`);
    const key = rest.slice(0, eq2);
    const v = rest.slice(eq2 + 1);
    const problem = labelProblem(key, v);
    if (problem) fail(`${field} ${show(text)}: ${problem}`);
    return { kind: 'label', key, value: v };
  }
  return fail(`${field} ${show(text)}: unknown kind ${show(kind)} (expected node=NAME or label=KEY=VALUE)`);
}

export function parseConstraints(constraints: unknown, field = 'constraints'): Constraint[] {
  if (!Array.isArray(constraints)) return fail(`${field} must be a list such as ["node=nas", "label=disk=ssd"], got ${show(constraints)}`);
  const out: Constraint[] = [];
  for (const c of constraints) {
    const parsed = parseConstraintEntry(c, field);
    if (out.some((d) => formatConstraint(d) === formatConstraint(parsed))) fail(`${field} lists ${formatConstraint(parsed)} twice`);
    out.push(parsed);
  }
  return out;
}

export const formatConstraint = (c: Constraint): string => (c.kind === 'node' ? `node=${c.value}` : `label=${c.key}=${c.value}`);
