/**
 * `extends:` — a service built on another one, of the same file or of another file
 * (`extends: { file: common.yml, service: webapp }`, or `extends: webapp`): the base service's
 * keys are copied, and the local ones merged over them by the same rules as `-f` files
 * (merge.ts). Chains are followed; a cycle is an error. Another file is read as the caller
 * passed it (extraFiles), interpolated with the same variables.
 */
import { posix } from 'node:path';
import { Diagnostics } from './diagnostics.ts';
import { isObj, type Obj } from './fields.ts';
import { interpolateTree, type Lookup } from './interpolate.ts';
import { keyPosition, locate, locationOf } from './located.ts';
import { mergeTrees, normaliseListForms } from './merge.ts';
import { parseYamlTree } from './yaml-tree.ts';

export interface ExtendsContext {
  diag: Diagnostics;
  projectDir: string;
  files: Record<string, string>;
  lookup: Lookup;
}

/** The files `extends: { file }` refers to, by absolute path. */
export function extendsFiles(services: unknown, projectDir: string): string[] {
  if (!isObj(services)) return [];
  const out: string[] = [];
  for (const svc of Object.values(services)) {
    if (isObj(svc) && isObj(svc.extends) && typeof svc.extends.file === 'string') out.push(posix.resolve(projectDir, svc.extends.file));
  }
  return out;
}

/** Replaces every service that extends another by the merged result, in place. */
export function resolveExtends(services: Obj, ctx: ExtendsContext): void {
  const trees = new Map<string, Obj>(); // other files' services, parsed once
  const otherFile = (path: string, at: ReturnType<typeof keyPosition>, where: string): Obj | undefined => {
    if (trees.has(path)) return trees.get(path);
    const text = ctx.files[path];
    if (text === undefined) {
      ctx.diag.error(at, where, `${path}: no such file`);
      return undefined;
    }
    const tree = parseYamlTree(text, path);
    interpolateTree(tree, ctx.lookup, ctx.diag, path);
    normaliseListForms(tree);
    const svcs = isObj(tree.services) ? tree.services : {};
    trees.set(path, svcs);
    return svcs;
  };

  const resolve = (pool: Obj, name: string, chain: string[]): Obj | undefined => {
    const svc = pool[name];
    if (!isObj(svc) || svc.extends === undefined) return isObj(svc) ? svc : undefined;
    const where = `services.${name}.extends`;
    const at = keyPosition(svc, 'extends');
    const ext = svc.extends;
    const spec = typeof ext === 'string' ? { service: ext } : isObj(ext) ? ext : undefined;
    if (!spec || typeof spec.service !== 'string' || (spec.file !== undefined && typeof spec.file !== 'string') || Object.keys(spec).some((k) => k !== 'service' && k !== 'file')) {
      ctx.diag.error(at, where, 'must be a service name or { service: NAME, file: PATH }');
      return undefined;
    }
    const basePool = spec.file === undefined ? pool : otherFile(posix.resolve(ctx.projectDir, spec.file), at, where);
    if (!basePool) return undefined;
    const key = `${spec.file ?? ''}#${spec.service}`;
    if (chain.includes(key)) {
      ctx.diag.error(at, where, `extends cycle: ${[...chain, key].map((k) => k.replace(/^#/, '')).join(' -> ')}`);
      return undefined;
    }
    if (!isObj(basePool[spec.service])) {
      ctx.diag.error(at, where, `there is no service "${spec.service}"${spec.file ? ` in ${spec.file}` : ''} to extend`);
      return undefined;
    }
    const base = resolve(basePool, spec.service, [...chain, key]);
    if (!base) return undefined;
    const { extends: _done, ...local } = svc;
    // mergeTrees copies what it merges: the base, shared by every service extending it, stays as it is
    return mergeTrees(base, withPositions(local, svc), ['services', name]) as Obj;
  };

  for (const name of Object.keys(services)) {
    const out = resolve(services, name, [`#${name}`]);
    if (out && out !== services[name]) services[name] = out;
  }
}

function withPositions(copy: Obj, from: Obj): Obj {
  const loc = locationOf(from);
  if (loc) locate(copy, loc);
  return copy;
}
