import { Readable } from 'node:stream';
import pino from 'pino';
import { createApi, type ApiDeps } from '../../src/http/api.ts';
import { requireMember } from '../../src/http/node-auth.ts';

export const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';
const TOKEN = ADMIN_TOKEN;
/** API tokens the recording deps accept: one of each scope (any other wat_ token is unknown) */
export const API_TOKENS = {
  admin: `wat_AdminToken01.${'a'.repeat(43)}`,
  read: `wat_ReadToken001.${'r'.repeat(43)}`,
} as const;

/**
 * The whole HTTP API (createApi) over deps that only record which of them were called and count
 * the event subscriptions and log streams still open.
 */
/** an export's answer: a small tar stream */
const tarStream = () => ({ snapshot: 'a', sizeBytes: 0, body: Readable.from([Buffer.alloc(1024)]) });

export function recordingApi() {
  const calls: string[] = [];
  /** event subscriptions and log streams open now: each answer must close its own */
  const open = { streams: 0 };
  const rec =
    <T>(name: string, result: T) =>
    async (..._args: unknown[]): Promise<T> => {
      calls.push(name);
      return result;
    };
  const tokenView = { id: 'AdminToken01', name: 'api', scope: 'admin' as const, createdAt: 1, expiresAt: null, revokedAt: null, lastUsedAt: null, state: 'active' as const };
  const service = { spec: { name: 'web' }, desired: 1, running: 0, replicas: [] };
  const deps: ApiDeps = {
    adminToken: TOKEN,
    logger: pino({ level: process.env.FUZZ_LOG ?? 'silent' }),
    health: rec('health', { status: 'ok', node: { id: 'id', name: 'n', addr: '10.0.0.1' }, etcd: { role: 'voter', healthy: true }, uptimeMs: 1, version: '0' }),
    members: rec('members', []),
    subscribe: (..._args) => {
      calls.push('subscribe');
      open.streams++;
      let closed = false;
      return () => {
        if (!closed) open.streams--;
        closed = true;
      };
    },
    publishUserEvent: rec('publishUserEvent', { id: 'e', topic: 't', name: 't', time: 1, source: { id: 'id', name: 'n' }, payload: null }),
    p2pInfo: () => (calls.push('p2pInfo'), { id: 'id', addrs: [] }),
    pingForPeer: rec('pingForPeer', false),
    leave: rec('leave', undefined),
    metrics: rec('metrics', '# nothing\n'),
    handleJoin: rec('handleJoin', { state: 'waiting' }),
    handleAdmit: rec('handleAdmit', { ok: true }),
    approve: rec('approve', { id: 'x' }),
    joinToken: rec('joinToken', 'wrn1.x.y'),
    admissionView: rec('admissionView', { queue: [] }),
    listServices: rec('listServices', []),
    getService: rec('getService', undefined),
    createService: rec('createService', service as never),
    updateService: rec('updateService', service as never),
    removeService: rec('removeService', false),
    serviceLogs: async () => {
      calls.push('serviceLogs');
      open.streams++;
      // a followed log: it ends only when the reader goes away
      return new ReadableStream<Uint8Array>({ pull: () => new Promise(() => undefined), cancel: () => void open.streams-- });
    },
    drainNode: rec('drainNode', { nodeId: 'id', name: 'n', draining: true }),
    recover: rec('recover', { node: 'id', lost: [] }),
    caPem: rec('caPem', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'),
    backup: rec('backup', Buffer.from('bundle')),
    listStacks: rec('listStacks', []),
    getStack: rec('getStack', undefined),
    deployStack: rec('deployStack', { dryRun: false }),
    removeStack: rec('removeStack', { removed: true }),
    hooks: rec('hooks', { hooks: [] } as never),
    volumes: {
      list: () => (calls.push('listVolumes'), []),
      get: () => (calls.push('getVolume'), { name: 'web_data', service: 'web', sizeBytes: 0, node: null, state: 'new', atRiskMs: null, copies: [] }),
      snapshots: rec('volumeSnapshots', []),
      remove: rec('removeVolume', {}),
      localSnapshots: () => (calls.push('localSnapshots'), []),
      snapshot: rec('snapshotVolume', {}),
      snapshotHere: rec('snapshotHere', {}),
      sync: {
        receiver: { offer: () => (calls.push('volumeOffer'), { missing: [], missingBytes: 0, phase: 'data' }), receive: rec('volumeReceive', { stored: 0, bytes: 0 }) } as never,
        commit: rec('volumeCommit', {} as never),
      },
      ops: {
        restore: rec('restoreVolume', { volume: 'web_data', restored: 'a', before: 'b' }),
        restoreHere: rec('restoreHere', {}),
        clone: rec('cloneVolume', { volume: 'web2_data', from: 'web_data', snapshot: 'a' }),
        cloneHere: rec('cloneHere', {}),
        export: async () => (calls.push('exportVolume'), tarStream()),
        exportHere: () => (calls.push('exportHere'), tarStream()),
        importTar: async (_name, body) => {
          calls.push('importVolume');
          body.resume();
          return { volume: 'web_data' };
        },
        handoverHere: rec('handoverHere', {}),
      },
      // the real check: a fuzzed request never carries a member's signature
      member: { json: requireMember(() => true, { bodyHash: true }), stream: requireMember(() => true) },
    },
    createToken: rec('createToken', { token: API_TOKENS.admin, view: tokenView }),
    listTokens: rec('listTokens', [tokenView]),
    revokeToken: rec('revokeToken', tokenView),
    verifyToken: async (token) => {
      calls.push('verifyToken');
      if (token === API_TOKENS.admin) return { ok: true, id: 'AdminToken01', scope: 'admin' };
      if (token === API_TOKENS.read) return { ok: true, id: 'ReadToken001', scope: 'read' };
      return { ok: false, code: 'token_unknown', message: 'unknown' };
    },
  };
  return { app: createApi(deps), calls, open };
}
