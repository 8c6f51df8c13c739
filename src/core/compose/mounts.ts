/**
 * `volumes:` of a service: named volumes (declared at the top level), anonymous volumes, bind
 * mounts of host paths (relative ones resolved against the project directory), tmpfs; short
 * ("data:/var/lib/x:ro") and long syntax.
 */
import { posix } from 'node:path';
import { volumeTarget } from './merge.ts';
import type { StackMount } from './model.ts';
import { parseBytes } from './units.ts';

export class MountError extends Error {}

const isHostPath = (s: string) => s.startsWith('/') || s.startsWith('.') || s.startsWith('~');

function resolveHost(source: string, projectDir: string, home: string | undefined): string {
  if (source === '~' || source.startsWith('~/')) {
    if (!home) throw new MountError(`"${source}": "~" needs HOME in the environment the stack is deployed with`);
    return posix.normalize(home + source.slice(1));
  }
  return posix.resolve(projectDir, source);
}

function checkTarget(target: string, whole: string): string {
  if (!target.startsWith('/')) throw new MountError(`"${whole}": the path in the container "${target}" must be absolute`);
  return posix.normalize(target).replace(/(.)\/$/, '$1');
}

const MODES = new Set(['ro', 'rw', 'z', 'Z', 'cached', 'delegated', 'consistent', 'nocopy', 'rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave']);

export function parseShortMount(text: string, projectDir: string, home?: string): StackMount {
  const parts = text.split(':');
  if (parts.length === 1) return { type: 'volume', target: checkTarget(parts[0]!, text), readOnly: false };
  if (parts.length > 3) throw new MountError(`"${text}" is not a volume (expected SOURCE:TARGET[:MODE])`);
  const [source, target, mode = 'rw'] = parts as [string, string, string?];
  const modes = mode.split(',');
  const bad = modes.find((m) => !MODES.has(m));
  if (bad) throw new MountError(`"${text}": unknown mode "${bad}" (e.g. ro, rw, z)`);
  const readOnly = modes.includes('ro');
  const t = checkTarget(target ?? volumeTarget(text), text);
  if (isHostPath(source)) return { type: 'bind', source: resolveHost(source, projectDir, home), target: t, readOnly };
  if (source === '') throw new MountError(`"${text}": the source is empty`);
  return { type: 'volume', source, target: t, readOnly };
}

export function parseLongMount(v: Record<string, unknown>, projectDir: string, home?: string): StackMount {
  const whole = JSON.stringify(v);
  const type = v.type === undefined ? 'volume' : String(v.type);
  if (typeof v.target !== 'string') throw new MountError(`${whole}: target (the path in the container) is required`);
  const target = checkTarget(v.target, whole);
  const readOnly = v.read_only === true || v.read_only === 'true';
  const source = v.source === undefined || v.source === null ? undefined : String(v.source);
  switch (type) {
    case 'volume':
      return source ? { type: 'volume', source, target, readOnly } : { type: 'volume', target, readOnly };
    case 'bind':
      if (!source) throw new MountError(`${whole}: a bind mount needs source (the host path)`);
      return { type: 'bind', source: resolveHost(source, projectDir, home), target, readOnly };
    case 'tmpfs': {
      const size = (v.tmpfs as Record<string, unknown> | undefined)?.size;
      const sizeBytes = size === undefined ? undefined : parseBytes(size);
      if (size !== undefined && sizeBytes === undefined) throw new MountError(`${whole}: tmpfs.size must be a size such as 64m`);
      return sizeBytes === undefined ? { type: 'tmpfs', target } : { type: 'tmpfs', target, sizeBytes };
    }
    default:
      throw new MountError(`${whole}: type "${type}" is not supported (volume, bind or tmpfs)`);
  }
}
