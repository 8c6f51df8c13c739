import type { ClusterVersions } from '../core/versions.ts';
import { renderTable, yellow } from './output.ts';

/** `warren status`'s versions part: every node's version, the feature level, what waits for it. */
export function renderVersions(v: ClusterVersions): string {
  const lines = [
    renderTable(['node', 'version'], v.nodes.map((n) => [n.name, n.version])),
    '',
    `cluster feature level: ${v.level ?? 'unknown'}${v.mixed ? yellow(` (upgrade under way: ${new Set(v.nodes.map((n) => n.version)).size} versions)`) : ''}`,
  ];
  for (const f of v.features) {
    if (f.ready) continue;
    lines.push(yellow(`waiting: ${f.what} (needs every node at ${f.since} or later; older: ${f.waitingFor.map((n) => `${n.name} ${n.version}`).join(', ')})`));
  }
  return lines.join('\n');
}
