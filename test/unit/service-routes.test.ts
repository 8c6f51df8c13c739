import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isUserError, UserError } from '../../src/core/errors.ts';
import { applyPatch, newServiceSpec, type ServiceInputParsed, type ServicePatch } from '../../src/core/service-spec.ts';
import type { ServiceView } from '../../src/core/service-types.ts';
import { jsonError } from '../../src/http/errors.ts';
import { serviceRoutes, type ServiceDeps } from '../../src/http/routes/services.ts';

const TOKEN = 'secret-admin-token';
const admin = { authorization: `Bearer ${TOKEN}` };
const json = { 'content-type': 'application/json' };

interface LogCall {
  name: string;
  opts: { follow: boolean; tail: number; replica?: number };
  signal: AbortSignal;
}

/** In-memory deps: this tests the HTTP layer only. */
function fakeApp(logSource?: () => NodeJS.ReadableStream | ReadableStream<Uint8Array>) {
  const services = new Map<string, ServiceView>();
  const patches: ServicePatch[] = [];
  const logCalls: LogCall[] = [];
  const drains: [string, boolean][] = [];
  const view = (spec: ServiceView['spec']): ServiceView => ({ spec, desired: spec.replicas, running: 0, replicas: [] });
  const deps: ServiceDeps = {
    adminToken: TOKEN,
    listServices: async () => [...services.values()],
    getService: async (name) => services.get(name),
    createService: async (spec: ServiceInputParsed) => {
      if (services.has(spec.name)) throw new UserError('service_exists', `a service named "${spec.name}" exists already`, 409);
      const v = view(newServiceSpec(spec, 1000));
      services.set(spec.name, v);
      return v;
    },
    updateService: async (name, patch) => {
      const cur = services.get(name);
      if (!cur) throw new UserError('not_found', `there is no service named "${name}"`, 404);
      patches.push(patch);
      const v = view(applyPatch(cur.spec, patch, 2000));
      services.set(name, v);
      return v;
    },
    removeService: async (name) => services.delete(name),
    serviceLogs: async (name, opts, signal) => {
      if (!services.has(name)) throw new UserError('not_found', `there is no service named "${name}"`, 404);
      logCalls.push({ name, opts, signal });
      return logSource ? logSource() : new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('hello\n')), c.close()) });
    },
    drainNode: async (node, drain) => {
      if (node !== 'nas' && node !== 'id-nas') throw new UserError('not_found', `no node named "${node}"`, 404);
      drains.push([node, drain]);
      return { nodeId: 'id-nas', name: 'nas', draining: drain };
    },
  };
  const app = new Hono();
  serviceRoutes(app, deps);
  // as createApi does (src/http/api.ts)
  app.notFound((c) => jsonError(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    if (isUserError(err)) return jsonError(c, err.status as ContentfulStatusCode, err.code, err.message);
    return jsonError(c, 500, 'internal', `internal error: ${err.message}`);
  });
  return { app, services, patches, logCalls, drains };
}

async function errorOf(res: Response, status: number, code: string): Promise<string> {
  assert.equal(res.status, status);
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  return body.error.message;
}

const create = (app: Hono, body: unknown, headers: Record<string, string> = { ...admin, ...json }) =>
  app.request('/v1/services', { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

test('create, list, get, update, remove', async () => {
  const { app, patches } = fakeApp();
  let res = await create(app, { name: 'web', image: 'nginx', ports: [80] });
  assert.equal(res.status, 201);
  const created = ((await res.json()) as { service: ServiceView }).service;
  assert.equal(created.spec.name, 'web');
  assert.equal(created.spec.generation, 1);
  assert.deepEqual(created.spec.ports, [{ container: 80, protocol: 'tcp' }]);

  res = await app.request('/v1/services');
  assert.equal(res.status, 200);
  assert.deepEqual(((await res.json()) as { services: ServiceView[] }).services.map((s) => s.spec.name), ['web']);

  res = await app.request('/v1/services/web');
  assert.equal(((await res.json()) as { service: ServiceView }).service.spec.image, 'nginx');

  res = await app.request('/v1/services/web', { method: 'PATCH', headers: { ...admin, ...json }, body: JSON.stringify({ image: 'nginx:1.28', memory: '1g' }) });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { service: ServiceView }).service.spec.generation, 2);
  assert.deepEqual(patches, [{ image: 'nginx:1.28', memoryBytes: 1024 ** 3 }]);

  res = await app.request('/v1/services/web', { method: 'DELETE', headers: admin });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { removed: 'web' });
  await errorOf(await app.request('/v1/services/web', { method: 'DELETE', headers: admin }), 404, 'not_found');
});

test('mutating calls need the admin token', async () => {
  const { app, services } = fakeApp();
  await errorOf(await create(app, { name: 'web', image: 'nginx' }, json), 401, 'unauthorized');
  await errorOf(await create(app, { name: 'web', image: 'nginx' }, { ...json, authorization: 'Bearer wrong' }), 401, 'unauthorized');
  assert.equal(services.size, 0);
  assert.equal((await create(app, { name: 'web', image: 'nginx' })).status, 201);
  await errorOf(await app.request('/v1/services/web', { method: 'PATCH', headers: json, body: '{"replicas":2}' }), 401, 'unauthorized');
  await errorOf(await app.request('/v1/services/web', { method: 'DELETE' }), 401, 'unauthorized');
  await errorOf(await app.request('/v1/nodes/nas/drain', { method: 'POST' }), 401, 'unauthorized');
  await errorOf(await app.request('/v1/nodes/nas/activate', { method: 'POST' }), 401, 'unauthorized');
  assert.equal(services.get('web')!.spec.replicas, 1);
  // reads do not
  assert.equal((await app.request('/v1/services')).status, 200);
  assert.equal((await app.request('/v1/services/web')).status, 200);
});

test('bad bodies: 400 with the JSON error shape', async () => {
  const { app, services } = fakeApp();
  assert.match(await errorOf(await create(app, '{"name": "web",'), 400, 'bad_request'), /^the body is not valid JSON/);
  assert.match(await errorOf(await create(app, ''), 400, 'bad_request'), /needs a JSON body/);
  assert.match(await errorOf(await create(app, { name: 'Web', image: 'nginx' }), 400, 'invalid_service'), /^name "Web" must be a DNS label/);
  assert.match(await errorOf(await create(app, { name: 'web' }), 400, 'invalid_service'), /^image is required/);
  assert.match(await errorOf(await create(app, { name: 'web', image: 'nginx', bogus: 1 }), 400, 'invalid_service'), /unknown field "bogus"/);
  assert.match(await errorOf(await create(app, [1, 2]), 400, 'invalid_service'), /must be a JSON object/);
  assert.equal(services.size, 0);

  await create(app, { name: 'web', image: 'nginx' });
  const patch = (body: string) => app.request('/v1/services/web', { method: 'PATCH', headers: { ...admin, ...json }, body });
  assert.match(await errorOf(await patch('nope'), 400, 'bad_request'), /not valid JSON/);
  assert.match(await errorOf(await patch('{"name":"other"}'), 400, 'invalid_service'), /^name cannot be changed \(the service is "web"\)/);
  assert.match(await errorOf(await patch('{}'), 400, 'invalid_service'), /changes nothing/);
  assert.match(await errorOf(await patch('{"replicas":-1}'), 400, 'invalid_service'), /^replicas must be a whole number/);
  assert.equal((await patch('{"name":"web","replicas":2}')).status, 200);

  const big = JSON.stringify({ name: 'web', image: 'nginx', env: { A: 'x'.repeat(300_000) } });
  await errorOf(await create(app, big), 413, 'payload_too_large');
});

test('errors from the deps pass through: 409 on an existing name, 404s', async () => {
  const { app } = fakeApp();
  await create(app, { name: 'web', image: 'nginx' });
  assert.match(await errorOf(await create(app, { name: 'web', image: 'nginx' }), 409, 'service_exists'), /exists already/);
  assert.match(await errorOf(await app.request('/v1/services/nope'), 404, 'not_found'), /^there is no service named "nope" \(see warren service ls\)/);
  await errorOf(await app.request('/v1/services/nope', { method: 'PATCH', headers: { ...admin, ...json }, body: '{"replicas":1}' }), 404, 'not_found');
  await errorOf(await app.request('/v1/services/nope/logs'), 404, 'not_found');
  await errorOf(await app.request('/v1/nodes/zzz/drain', { method: 'POST', headers: admin }), 404, 'not_found');
});

test('drain and activate', async () => {
  const { app, drains } = fakeApp();
  let res = await app.request('/v1/nodes/nas/drain', { method: 'POST', headers: admin });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { node: { nodeId: 'id-nas', name: 'nas', draining: true } });
  res = await app.request('/v1/nodes/id-nas/activate', { method: 'POST', headers: admin });
  assert.deepEqual(await res.json(), { node: { nodeId: 'id-nas', name: 'nas', draining: false } });
  assert.deepEqual(drains, [['nas', true], ['id-nas', false]]);
});

test('logs: query options are parsed and checked', async () => {
  const { app, logCalls } = fakeApp();
  await create(app, { name: 'web', image: 'nginx' });
  let res = await app.request('/v1/services/web/logs');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /^text\/plain/);
  assert.equal(await res.text(), 'hello\n');
  res = await app.request('/v1/services/web/logs?follow=1&tail=5&replica=2&local=1');
  await res.text();
  assert.deepEqual(logCalls.map((c) => c.opts), [{ follow: false, tail: 100, local: false }, { follow: true, tail: 5, replica: 2, local: true }]);
  assert.match(await errorOf(await app.request('/v1/services/web/logs?tail=x'), 400, 'bad_request'), /^tail must be a whole number/);
  assert.match(await errorOf(await app.request('/v1/services/web/logs?follow=maybe'), 400, 'bad_request'), /^follow must be 1 or 0/);
  assert.match(await errorOf(await app.request('/v1/services/web/logs?replica=-1'), 400, 'bad_request'), /^replica must be a whole number/);
});

test('logs stream chunk by chunk (no buffering), and the deps learn when the client goes away', async () => {
  let source!: ReadableStreamDefaultController<Uint8Array>;
  const { app, logCalls } = fakeApp(() => new ReadableStream<Uint8Array>({ start: (c) => void (source = c) }));
  await create(app, { name: 'web', image: 'nginx' });
  const res = await app.request('/v1/services/web/logs?follow=1');
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  source.enqueue(new TextEncoder().encode('line 1\n'));
  assert.equal(dec.decode((await reader.read()).value), 'line 1\n');
  source.enqueue(new TextEncoder().encode('line 2\n'));
  assert.equal(dec.decode((await reader.read()).value), 'line 2\n');
  assert.equal(logCalls[0]!.signal.aborted, false);
  await reader.cancel();
  assert.equal(logCalls[0]!.signal.aborted, true);
});

test('logs: a Node stream from the deps is passed through too', async () => {
  const pass = new PassThrough();
  const { app, logCalls } = fakeApp(() => pass);
  await create(app, { name: 'web', image: 'nginx' });
  const res = await app.request('/v1/services/web/logs?follow=1');
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  pass.write('a\n');
  assert.equal(dec.decode((await reader.read()).value), 'a\n');
  pass.write(Buffer.from('b\n'));
  assert.equal(dec.decode((await reader.read()).value), 'b\n');
  pass.end();
  assert.equal((await reader.read()).done, true);
  assert.equal(logCalls[0]!.signal.aborted, true, 'the end of the stream releases the deps too');
});

test('over a real socket: chunks arrive as written, and a client that leaves aborts the deps', async () => {
  const { listen, closeServer } = await import('../../src/http/server.ts');
  const pass = new PassThrough();
  const { app, logCalls } = fakeApp(() => pass);
  await create(app, { name: 'web', image: 'nginx' });
  const server = await listen(app, '127.0.0.1', 0);
  try {
    const port = (server.address() as { port: number }).port;
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/v1/services/web/logs?follow=1`, { signal: controller.signal });
    const reader = res.body!.getReader();
    pass.write('first\n');
    assert.equal(new TextDecoder().decode((await reader.read()).value), 'first\n');
    controller.abort();
    await reader.read().catch(() => undefined);
    for (let i = 0; i < 100 && !logCalls[0]!.signal.aborted; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(logCalls[0]!.signal.aborted, true);
  } finally {
    await closeServer(server);
  }
});

// ---------------------------------------------------------------------------------------------
// the CLI commands end to end, against these routes on a real socket (fake deps that "roll out")

import { Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { registerServiceCommands } from '../../src/cli/service-commands.ts';
import { registerNodeCommands } from '../../src/cli/node-commands.ts';

/** Runs `warren ARGS` in this process as main.ts would (one-line errors), capturing its output. */
async function runCli(api: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) => new Writable({ write: (chunk: Buffer, _enc, cb) => (add(chunk.toString()), cb()) });
  const io = { out: sink((t) => (stdout += t)), err: sink((t) => (stderr += t)) };
  const program = new Command('warren')
    .option('--api <url>')
    .option('--data-dir <dir>')
    .exitOverride()
    .configureOutput({ writeOut: (t) => void io.out.write(t), writeErr: (t) => void io.err.write(t), outputError: () => undefined });
  registerServiceCommands(program, io);
  registerNodeCommands(program, io);
  let code = 0;
  try {
    await program.parseAsync(['--api', api, '--data-dir', '/nonexistent', ...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      code = err.exitCode === 0 ? 0 : 2;
      if (code) stderr += `warren: ${err.message}\n`;
    } else if (isUserError(err)) {
      code = 1;
      stderr += `warren: ${err.message}\n`;
    } else {
      code = 99;
      stderr += `unexpected: ${(err as Error).stack}\n`;
    }
  }
  return { code, stdout, stderr };
}

/** Deps whose services go pending -> pulling -> running over successive polls. */
function rollingApp() {
  const specs = new Map<string, ServiceView['spec']>();
  const polls = new Map<string, number>();
  const drained = new Set<string>();
  let listPolls = 0;
  const replicasOf = (spec: ServiceView['spec'], step: number): ServiceView['replicas'] =>
    Array.from({ length: spec.replicas }, (_, slot) => {
      const node = slot % 2 === 0 ? { nodeId: 'id-nas', nodeName: 'nas' } : { nodeId: 'id-pi', nodeName: 'pi' };
      const common = { slot, ...node, generation: spec.generation, restarts: 0, since: 1000, ports: [] as ServiceView['replicas'][number]['ports'] };
      if (spec.image.startsWith('broken')) return step < 1 ? { ...common, state: 'pending' as const } : { ...common, state: 'failed' as const, reason: 'manifest for broken not found' };
      if (spec.constraints.length) return { ...common, nodeId: null, nodeName: undefined, state: 'unassigned' as const, reason: `no node matches ${spec.constraints.map((c) => (c.kind === 'node' ? `node=${c.value}` : '')).join('')}` };
      if (step < 1) return { ...common, state: 'pending' as const };
      if (step < 3) return { ...common, state: 'pulling' as const, progress: `${step} MB / 4 MB` };
      return { ...common, state: 'running' as const, addr: '192.168.1.5', ports: spec.ports.map((p, i) => ({ ...p, hostPort: 32768 + i })) };
    });
  const viewOf = (name: string): ServiceView | undefined => {
    const spec = specs.get(name);
    if (!spec) return undefined;
    const step = polls.get(name) ?? 0;
    polls.set(name, step + 1);
    const replicas = replicasOf(spec, step);
    return { spec, desired: spec.replicas, running: replicas.filter((r) => r.state === 'running').length, replicas };
  };
  const deps: ServiceDeps = {
    adminToken: TOKEN,
    listServices: async () => {
      listPolls++;
      return [...specs.keys()].map((n) => {
        const v = { ...viewOf(n)! };
        // after two polls of a drain, replicas leave the drained node
        if (drained.size && listPolls > 2) v.replicas = v.replicas.map((r) => (r.nodeId && drained.has(r.nodeId) ? { ...r, nodeId: 'id-pi', nodeName: 'pi', state: 'pending' as const } : r));
        return v;
      });
    },
    getService: async (name) => viewOf(name),
    createService: async (input) => {
      if (specs.has(input.name)) throw new UserError('service_exists', `a service named "${input.name}" exists already`, 409);
      specs.set(input.name, newServiceSpec(input, Date.now()));
      polls.set(input.name, 0);
      return viewOf(input.name)!;
    },
    updateService: async (name, patch) => {
      const spec = specs.get(name);
      if (!spec) throw new UserError('not_found', `there is no service named "${name}"`, 404);
      const next = applyPatch(spec, patch, Date.now());
      specs.set(name, next);
      if (next.generation !== spec.generation) polls.set(name, 0);
      return viewOf(name)!;
    },
    removeService: async (name) => specs.delete(name),
    serviceLogs: async (name) => {
      if (!specs.has(name)) throw new UserError('not_found', `there is no service named "${name}"`, 404);
      return new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(`${name} says hi\n`)), c.close()) });
    },
    drainNode: async (node, drain) => {
      if (node !== 'nas') throw new UserError('not_found', `no node named "${node}" (see warren members)`, 404);
      if (drain) drained.add('id-nas');
      else drained.delete('id-nas');
      listPolls = 0;
      return { nodeId: 'id-nas', name: 'nas', draining: drain };
    },
  };
  const app = new Hono();
  serviceRoutes(app, deps);
  app.onError((err, c) => (isUserError(err) ? jsonError(c, err.status as ContentfulStatusCode, err.code, err.message) : jsonError(c, 500, 'internal', err.message)));
  return { app, specs };
}

test('CLI: create waits for the rollout, ls / inspect / update / logs / rm / drain', { timeout: 60_000 }, async () => {
  const { listen, closeServer } = await import('../../src/http/server.ts');
  const { app, specs } = rollingApp();
  const server = await listen(app, '127.0.0.1', 0);
  const api = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const savedToken = process.env.WARREN_ADMIN_TOKEN;
  process.env.WARREN_ADMIN_TOKEN = TOKEN;
  try {
    let r = await runCli(api, ['service', 'create', 'web', '--image', 'nginx:1.27', '-p', '80', '-e', 'A=1', '--replicas', '2', '--', 'nginx', '-g', 'daemon off;']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'created web (generation 1); waiting for 2 replicas to run (Ctrl-C stops waiting, not the service)',
      'replica 0: assigned to nas',
      'replica 1: assigned to pi',
      'replica 0: pulling on nas (1 MB / 4 MB)',
      'replica 1: pulling on pi (1 MB / 4 MB)',
      'replica 0: running on nas at 192.168.1.5:32768 -> 80/tcp',
      'replica 1: running on pi at 192.168.1.5:32768 -> 80/tcp',
      'web is running: 2/2 replicas',
    ]);
    assert.deepEqual(specs.get('web')!.command, ['nginx', '-g', 'daemon off;']);

    // independent calls run side by side (each is a process start)
    const [exists, badPort, oops, pinned, quick] = await Promise.all([
      runCli(api, ['service', 'create', 'web', '--image', 'nginx']),
      runCli(api, ['service', 'create', 'bad', '--image', 'nginx', '-p', '8080:80']),
      runCli(api, ['service', 'create', 'oops', '--image', 'broken:1']),
      runCli(api, ['service', 'create', 'pinned', '--image', 'nginx', '--constraint', 'node=nowhere', '--timeout', '30']),
      runCli(api, ['service', 'create', 'quick', '--image', 'nginx', '--detach', '--json']),
    ]);
    assert.equal(exists.code, 1);
    assert.equal(exists.stderr, 'warren: a service named "web" exists already\n');
    assert.equal(badPort.code, 1);
    assert.match(badPort.stderr, /^warren: -p "8080:80": give only the container port/);
    assert.equal(oops.code, 1);
    assert.equal(oops.stderr, 'warren: oops did not start: replica 0: failed on nas: manifest for broken not found (see warren service inspect oops)\n');
    assert.equal(pinned.code, 1);
    assert.match(pinned.stderr, /^warren: pinned: replica 0 cannot be placed: no node matches node=nowhere/);
    assert.equal(quick.code, 0);
    assert.equal((JSON.parse(quick.stdout) as ServiceView).spec.name, 'quick');

    const [ls, lsJson, inspect, inspectNope, logs, logsNope] = await Promise.all([
      runCli(api, ['service', 'ls']),
      runCli(api, ['service', 'ls', '--json']),
      runCli(api, ['service', 'inspect', 'web']),
      runCli(api, ['service', 'inspect', 'nope']),
      runCli(api, ['service', 'logs', 'web', '--tail', '5']),
      runCli(api, ['service', 'logs', 'nope']),
    ]);
    assert.equal(ls.code, 0);
    assert.match(ls.stdout, /^NAME +IMAGE +REPLICAS +NODES +PORTS +PENDING$/m);
    assert.match(ls.stdout, /^web +nginx:1\.27 +2\/2 +nas, pi +80\/tcp$/m);
    assert.deepEqual((JSON.parse(lsJson.stdout) as ServiceView[]).map((v) => v.spec.name).sort(), ['oops', 'pinned', 'quick', 'web']);
    assert.equal(inspect.code, 0);
    assert.match(inspect.stdout, /^command +nginx -g "daemon off;"$/m);
    assert.match(inspect.stdout, /^0 +nas +running +192\.168\.1\.5:32768->80\/tcp/m);
    assert.equal(inspectNope.code, 1);
    assert.equal(inspectNope.stderr, 'warren: there is no service named "nope" (see warren service ls)\n');
    assert.equal(logs.code, 0);
    assert.equal(logs.stdout, 'web says hi\n');
    assert.equal(logsNope.code, 1);
    assert.equal(logsNope.stderr, 'warren: there is no service named "nope"\n');

    r = await runCli(api, ['service', 'update', 'web', '-e', 'B=2', '--env-rm', 'A', '--timeout', '30']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.deepEqual(specs.get('web')!.env, { B: '2' });
    assert.equal(specs.get('web')!.generation, 2);
    assert.match(r.stdout, /^updated web \(generation 2\)/);
    assert.match(r.stdout, /web is running: 2\/2 replicas\n$/);
    r = await runCli(api, ['service', 'update', 'web', '-e', 'B=2']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^warren: nothing to change in web/);

    for (const rm of await Promise.all(['oops', 'pinned', 'quick'].map((n) => runCli(api, ['service', 'rm', n])))) assert.equal(rm.code, 0);
    r = await runCli(api, ['node', 'drain', 'nas', '--timeout', '30']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'draining nas: no new replica goes there; moving the ones it runs (Ctrl-C stops waiting, not the drain)',
      'moving web/0 off nas...',
      'web/0 moved to pi (pending)',
      'nas is drained: no replica runs there (use it again with: warren node activate nas)',
    ]);
    r = await runCli(api, ['node', 'activate', 'nas']);
    assert.equal(r.stdout, 'nas is active: replicas may be placed on it again\n');
    r = await runCli(api, ['node', 'drain', 'zzz']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'warren: no node named "zzz" (see warren members)\n');

    r = await runCli(api, ['service', 'rm', 'web']);
    assert.equal(r.stdout, 'removed service web\n');

    r = await runCli(api, ['service', 'create', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Examples:\n +warren service create web --image nginx:1\.27 -p 80/);
    r = await runCli(api, ['service', 'create', 'web']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /required option '--image <image>' not specified/);
  } finally {
    if (savedToken === undefined) delete process.env.WARREN_ADMIN_TOKEN;
    else process.env.WARREN_ADMIN_TOKEN = savedToken;
    await closeServer(server);
  }
});
