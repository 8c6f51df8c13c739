import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';

/**
 * The addresses this node gave its stacks' services (stack-mesh.ts), kept in the data dir across
 * restarts of the agent: a container or resolver that cached an address must still reach the
 * same service there after an upgrade. Given afresh, the addresses follow the sorted names of the
 * services that exist now, and one added since (or removed) shifts the others: a cached address
 * would then lead to another service.
 */
export const MESH_ADDRS_FILE = 'mesh-addrs.json';

/** stack → Warren service → address */
export type MeshAddrs = Map<string, Map<string, string>>;

/** What the file holds; an empty map when it is missing or not what it should be (addresses are then given afresh). */
export function readMeshAddrs(file: string): MeshAddrs {
  const out: MeshAddrs = new Map();
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return out;
    for (const [stack, services] of Object.entries(doc)) {
      if (typeof services !== 'object' || services === null || Array.isArray(services)) continue;
      const m = new Map<string, string>();
      for (const [service, addr] of Object.entries(services)) if (typeof addr === 'string') m.set(service, addr);
      out.set(stack, m);
    }
  } catch {
    // none yet, or unreadable
  }
  return out;
}

/** The file's text for `addrs` (keys sorted: an unchanged allocation gives the same text). */
export function meshAddrsText(addrs: MeshAddrs): string {
  const doc: Record<string, Record<string, string>> = {};
  for (const stack of [...addrs.keys()].sort()) doc[stack] = Object.fromEntries([...addrs.get(stack)!].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return `${JSON.stringify(doc)}\n`;
}

export async function writeMeshAddrs(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}
