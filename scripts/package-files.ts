import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The bundle's files that `entries` load: the entries and every chunk they import, transitively
 * (dist/ also keeps the chunks of older builds, for agents started from them: those stay out).
 */
export function bundleFiles(dist: string, entries: string[]): string[] {
  const found = new Set<string>();
  const visit = (file: string) => {
    if (found.has(file)) return;
    found.add(file);
    const text = readFileSync(join(dist, file), 'utf8');
    for (const m of text.matchAll(/["']\.\/([A-Za-z0-9_.-]+\.mjs)["']/g)) if (existsSync(join(dist, m[1]!))) visit(m[1]!);
  };
  for (const e of entries) visit(e);
  return [...found].sort();
}

/** node_modules directories (relative to root) of `names` and everything they depend on at run time. */
export function modulesClosure(rootDir: string, names: string[]): string[] {
  const root = resolve(rootDir);
  const seen = new Set<string>();
  const find = (name: string, from: string): string | undefined => {
    for (let d = from; d.startsWith(root); d = dirname(d)) {
      const p = join(d, 'node_modules', name);
      if (existsSync(join(p, 'package.json'))) return p;
      if (d === dirname(d)) break;
    }
    return undefined;
  };
  const walk = (dir: string) => {
    const rel = relative(root, dir);
    if (seen.has(rel)) return;
    seen.add(rel);
    const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: object; optionalDependencies?: object };
    for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) {
      // type declarations are never loaded (protobufjs lists @types/node as a dependency)
      if (dep.startsWith('@types/') || dep === 'undici-types') continue;
      const found = find(dep, dir);
      if (found) walk(found);
      else if (!(dep in (pj.optionalDependencies ?? {}))) throw new Error(`${rel} needs ${dep}, which is not installed (run npm ci)`);
    }
  };
  for (const n of names) {
    const dir = find(n, root);
    if (!dir) throw new Error(`${n} is not installed (run npm ci)`);
    walk(dir);
  }
  return [...seen].sort();
}

/**
 * Which files of those packages ship. Not: native addons (built for this machine's Node and
 * architecture; ssh2 and cpu-features load them optionally and fall back), their build trees,
 * type declarations, source maps and docs.
 */
export function keepModuleFile(rel: string): boolean {
  if (/\/build\/(Release|Debug)(\/|$)/.test(rel) || /\.node$/.test(rel)) return false;
  return !/\.(d\.[mc]?ts|map|md|markdown)$/i.test(rel) || /license/i.test(rel);
}
