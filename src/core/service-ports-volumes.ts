/**
 * The ports and volumes of a service: container ports (Warren chooses the host ports) and named
 * volumes mounted at absolute paths (host paths are refused: the data must follow the service).
 */
import { fail, isObject, show } from './invalid-service.ts';
import { DNS_LABEL_RE } from './service-fields.ts';
import type { PortSpec, VolumeSpec } from './service-types.ts';

// ---------------------------------------------------------------------------------------------
// ports

/** One container port: 80, "80", "80/tcp", "53/udp" or { container, protocol }. */
export function parsePortEntry(value: unknown, field = 'ports'): PortSpec {
  let portPart: string;
  let protocol: string = 'tcp';
  if (typeof value === 'number') portPart = String(value);
  else if (typeof value === 'string') {
    const slash = value.indexOf('/');
    portPart = slash < 0 ? value : value.slice(0, slash);
    if (slash >= 0) protocol = value.slice(slash + 1).toLowerCase();
    if (portPart.includes(':')) {
      fail(`${field} ${show(value)}: give only the container port (e.g. ${show(portPart.split(':').pop())}); Warren chooses the host port and shows it in "warren service inspect"`);
    }
  } else if (isObject(value)) {
    const extra = Object.keys(value).filter((k) => k !== 'container' && k !== 'protocol');
    if (extra.length) fail(`${field} ${show(value)}: unknown field ${show(extra[0])} (a port is {"container": 80, "protocol": "tcp"})`);
    portPart = typeof value.container === 'number' ? String(value.container) : typeof value.container === 'string' ? value.container : '';
    if (value.protocol !== undefined) protocol = typeof value.protocol === 'string' ? value.protocol.toLowerCase() : '?';
  } else {
    return fail(`${field} entries must be container ports such as 80, "8080" or "53/udp", got ${show(value)}`);
  }
  if (!/^\d{1,5}$/.test(portPart) || Number(portPart) < 1 || Number(portPart) > 65535) {
    fail(`${field} ${show(value)} must be a container port from 1 to 65535, optionally with /tcp or /udp (e.g. 80, 53/udp)`);
  }
  if (protocol !== 'tcp' && protocol !== 'udp') fail(`${field} ${show(value)}: the protocol must be tcp or udp`);
  return { container: Number(portPart), protocol: protocol as 'tcp' | 'udp' };
}

export function parsePorts(ports: unknown, field = 'ports'): PortSpec[] {
  if (!Array.isArray(ports)) return fail(`${field} must be a list of container ports such as [80, "53/udp"], got ${show(ports)}`);
  const out: PortSpec[] = [];
  for (const p of ports) {
    const port = parsePortEntry(p, field);
    if (out.some((q) => q.container === port.container && q.protocol === port.protocol)) fail(`${field} lists ${formatPort(port)} twice`);
    out.push(port);
  }
  return out;
}

export const formatPort = (p: PortSpec): string => `${p.container}/${p.protocol}`;

// ---------------------------------------------------------------------------------------------
// volumes

function checkVolumePath(path: string, field: string, whole: unknown): void {
  const where = `${field} ${show(whole)}`;
  if (path.includes(':')) fail(`${where}: mount options such as ":ro" are not supported; use NAME:/path (or NAME:/path:local for a volume that is not replicated)`);
  if (!path.startsWith('/')) fail(`${where}: the path in the container ${show(path)} must be absolute (start with "/")`);
  if (path === '/' || /^\/+$/.test(path)) fail(`${where}: a volume cannot be mounted at "/"`);
  if (path.split('/').some((seg) => seg === '..' || seg === '.')) fail(`${where}: the path must not contain "." or ".." segments`);
  if (/[\0\n]/.test(path) || path.length > 4096) fail(`${where}: the path is not a usable container path`);
}

export const normalisePath = (p: string) => p.replace(/\/+/g, '/').replace(/\/$/, '');

/** One volume: "NAME:/path" or { name, path }. Host paths are refused: the data must follow the service. */
export function parseVolumeEntry(value: unknown, field = 'volumes'): VolumeSpec {
  let name: string;
  let path: string;
  let local = false;
  if (typeof value === 'string') {
    const colon = value.indexOf(':');
    if (value.startsWith('/') || value.startsWith('.') || value.startsWith('~')) {
      fail(`${field} ${show(value)}: host paths are not supported; use a named volume (e.g. data:/data) so the data can follow the service to another machine`);
    }
    if (colon <= 0) return fail(`${field} ${show(value)} must be NAME:/path (a named volume and an absolute path in the container, e.g. data:/data)`);
    name = value.slice(0, colon);
    path = value.slice(colon + 1);
    if (path.endsWith(':local')) (path = path.slice(0, -':local'.length)), (local = true);
  } else if (isObject(value)) {
    const extra = Object.keys(value).filter((k) => k !== 'name' && k !== 'path' && k !== 'local');
    if (value.local !== undefined && typeof value.local !== 'boolean') fail(`${field} ${show(value)}: local must be true or false`);
    local = value.local === true;
    if (extra.length) fail(`${field} ${show(value)}: unknown field ${show(extra[0])} (a volume is {"name": "data", "path": "/data"})`);
    if (typeof value.name !== 'string' || typeof value.path !== 'string') return fail(`${field} ${show(value)} must have a string name and path (e.g. {"name": "data", "path": "/data"})`);
    name = value.name;
    path = value.path;
  } else {
    return fail(`${field} entries must be "NAME:/path" strings (e.g. "data:/data"), got ${show(value)}`);
  }
  if (!DNS_LABEL_RE.test(name)) fail(`${field} ${show(value)}: the volume name ${show(name)} must be a DNS label: 1-63 lowercase letters, digits and "-", not starting or ending with "-"`);
  checkVolumePath(path, field, value);
  return { name, path: normalisePath(path), ...(local ? { local: true as const } : {}) };
}

export function parseVolumes(volumes: unknown, field = 'volumes'): VolumeSpec[] {
  if (!Array.isArray(volumes)) return fail(`${field} must be a list of "NAME:/path" strings such as ["data:/data"], got ${show(volumes)}`);
  const out: VolumeSpec[] = [];
  for (const v of volumes) {
    const vol = parseVolumeEntry(v, field);
    if (out.some((w) => w.path === vol.path)) fail(`${field} mounts two volumes at ${vol.path}`);
    out.push(vol);
  }
  return out;
}

export const formatVolume = (v: VolumeSpec): string => `${v.name}:${v.path}${v.local ? ':local' : ''}`;
