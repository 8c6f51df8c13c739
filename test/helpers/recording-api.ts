import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import pino from 'pino';
import type { UiSessions } from '../../src/consensus/ui-sessions.ts';
import { UserError } from '../../src/core/errors.ts';
import { createApi, type ApiDeps } from '../../src/http/api.ts';
import { requireMember } from '../../src/http/node-auth.ts';

export const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';
const TOKEN = ADMIN_TOKEN;
/** API tokens the recording deps accept: one of each scope (any other wat_ token is unknown) */
export const API_TOKENS = {
  admin: `wat_AdminToken01.${'a'.repeat(43)}`,
  read: `wat_ReadToken001.${'r'.repeat(43)}`,
} as const;
/** web UI sessions the recording deps know: one that can change things, one read-only */
export const UI_SESSIONS = {
  full: `ws_FullSession1.${'f'.repeat(43)}`,
  readOnly: `ws_ReadSession1.${'o'.repeat(43)}`,
} as const;
/** the login ticket the recording deps accept (any other is unknown) */
export const UI_TICKET = 'good-ticket-0123456789';
/** with the web UI: the names this node answers to, and every member's API */
export const UI_HOST_NAMES = ['n1', 'n1.warren'];
export const UI_MEMBER_APIS = ['http://10.0.0.1:7370', 'http://10.0.0.2:7370'];

/** A built UI of two files (index and one hashed asset), in the layout scripts/build-ui.mjs writes. */
function uiFixtureDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-ui-fixture-'));
  const files: Record<string, { file: string; type: string; immutable: boolean; text: string }> = {
    '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8', immutable: false, text: '<!doctype html><meta name="connect" content="%CONNECT%"><script src="/assets/app-1a2b3c4d.js"></script>' },
    '/assets/app-1a2b3c4d.js': { file: 'app-1a2b3c4d.js', type: 'text/javascript; charset=utf-8', immutable: true, text: 'console.log(1)' },
  };
  for (const f of Object.values(files)) {
    writeFileSync(join(dir, f.file), f.text);
    writeFileSync(join(dir, `${f.file}.gz`), gzipSync(f.text));
    writeFileSync(join(dir, `${f.file}.br`), brotliCompressSync(f.text));
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ files: Object.fromEntries(Object.entries(files).map(([path, { text: _t, ...f }]) => [path, f])) }));
  return dir;
}

/**
 * The whole HTTP API (createApi) over deps that only record which of them were called and count
 * the event subscriptions and log streams still open.
 */
/** an export's answer: a small tar stream */
const tarStream = () => ({ snapshot: 'a', sizeBytes: 0, body: Readable.from([Buffer.alloc(1024)]) });

export function recordingApi(opts: { ui?: boolean } = {}) {
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
    health: rec('health', { status: 'ok', node: { id: 'id', name: 'n', addr: '10.0.0.1' }, etcd: { role: 'voter', healthy: true }, catalog: { ready: true }, uptimeMs: 1, version: '0' }),
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
      policy: () => (calls.push('volumePolicy'), { volume: 'web_data', policy: { intervalMs: 2000, retention: {} }, defaults: [] }),
      setPolicy: rec('setVolumePolicy', {}),
      remove: rec('removeVolume', {}),
      localSnapshots: () => (calls.push('localSnapshots'), []),
      transfers: rec('volumeTransfers', []),
      localTransfers: () => (calls.push('localTransfers'), []),
      snapshot: rec('snapshotVolume', {}),
      snapshotHere: rec('snapshotHere', {}),
      sync: {
        receiver: { offer: () => (calls.push('volumeOffer'), { missing: [], missingBytes: 0, phase: 'data' }), receive: rec('volumeReceive', { stored: 0, bytes: 0 }) } as never,
        commit: rec('volumeCommit', {} as never),
        held: () => (calls.push('heldChunks'), (async function* () {})()),
      },
      scrub: rec('scrubVolumes', {}),
      ops: {
        restore: rec('restoreVolume', { volume: 'web_data', restored: 'a', before: 'b' }),
        restoreHere: rec('restoreHere', {}),
        clone: rec('cloneVolume', { volume: 'web2_data', from: 'web_data', snapshot: 'a' }),
        cloneHere: rec('cloneHere', {}),
        export: async () => (calls.push('exportVolume'), tarStream()),
        exportHere: () => (calls.push('exportHere'), tarStream()),
        importDocker: rec('importDockerVolume', { volume: 'web_data', from: 'old_data' }),
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
  if (opts.ui) deps.ui = recordingUi(calls);
  const app = createApi(deps);
  // createApi read the UI's files into memory
  if (deps.ui?.uiDir) rmSync(deps.ui.uiDir, { recursive: true, force: true });
  return { app, calls, open };
}

/**
 * The web UI's deps: sessions that only record their calls. A session revoking itself (logout) is
 * recorded apart from a revocation of another session, which only the admin token may ask for
 * (`calls` is emptied per request: a session verified for this request is the request's own).
 */
function recordingUi(calls: string[]): NonNullable<ApiDeps['ui']> {
  let verified: string | undefined;
  const sessions = {
    createTicket: async () => (calls.push('createTicket'), { ticket: 't', expiresAt: 1 }),
    moveTicket: async () => (calls.push('moveTicket'), { ticket: 't', expiresAt: 1 }),
    redeem: async (ticket: string) => {
      calls.push('redeem');
      if (ticket !== UI_TICKET) throw new UserError('ticket_unknown', 'unknown ticket', 401);
      return { token: UI_SESSIONS.full, session: { id: 'FullSession1', hash: 'h', readOnly: false, createdAt: 1, expiresAt: 2, via: 'x' } };
    },
    verify: async (token: string) => {
      calls.push('verifySession');
      const session = token === UI_SESSIONS.full ? { id: 'FullSession1', readOnly: false } : token === UI_SESSIONS.readOnly ? { id: 'ReadSession1', readOnly: true } : undefined;
      verified = session?.id;
      return session;
    },
    list: async () => (calls.push('listSessions'), []),
    revoke: async (id: string) => (calls.push(calls.includes('verifySession') && id === verified ? 'revokeOwnSession' : 'revokeSession'), id === 'FullSession1' || id === 'ReadSession1'),
  };
  return {
    uiSessions: sessions as unknown as UiSessions,
    hostNames: () => UI_HOST_NAMES,
    memberApis: () => UI_MEMBER_APIS,
    apiUrl: UI_MEMBER_APIS[0]!,
    uiDir: uiFixtureDir(),
    liveMembers: () => (calls.push('liveMembers'), []),
    drainingNodes: () => (calls.push('drainingNodes'), []),
    // once, when the routes are made (the stream fans it out to its readers)
    onMemberChange: () => (calls.push('onMemberChange'), () => undefined),
  };
}
