/**
 * Warren's reverse proxy (src/routing/proxy.ts) against plain node http backends on
 * 127.0.0.1, with a RouteSource backed by an in-test map. The streaming tests (50 MB down,
 * range, 50 MB up) run the proxy in a child process so its RSS can be measured alone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { startProxy, startProxyOnFirstFreePort, type ProxyServer } from '../../src/routing/proxy.ts';
import type { Backend, RouteSource } from '../../src/routing/proxy-types.ts';

const DOMAIN = 'warren.internal';
const silent = pino({ level: 'silent' });
const BIG = 50 * 1024 * 1024;

// ---------- backends ----------

interface TestBackend {
  name: string;
  port: number;
  server: http.Server;
  /** TCP connections accepted so far */
  connections: number;
  /** bytes /big has handed to its response so far */
  streamed: number;
  /** /upload?hold=ms is holding (not reading) its request body */
  holding: boolean;
  backend(slot?: number): Backend;
  close(): Promise<void>;
}

/** byte i of the 50 MB test content */
function contentChunk(start: number, end: number): Buffer {
  const b = Buffer.allocUnsafe(end - start);
  for (let i = 0; i < b.length; i++) b[i] = (start + i) % 251;
  return b;
}

function serveBig(t: TestBackend, req: http.IncomingMessage, res: http.ServerResponse): void {
  let start = 0;
  let end = BIG; // exclusive
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (range) {
    start = Number(range[1]);
    end = Number(range[2]) + 1;
    res.writeHead(206, {
      'content-range': `bytes ${start}-${end - 1}/${BIG}`,
      'content-length': end - start,
      'accept-ranges': 'bytes',
    });
  } else {
    // no content-length: chunked, as a generated stream would be
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' });
  }
  const CHUNK = 64 * 1024;
  const pattern = contentChunk(0, 251 * 512); // reused: content at offset o is pattern[o % 251 ...]
  let pos = start;
  const pump = () => {
    while (pos < end) {
      const n = Math.min(CHUNK, end - pos);
      const off = pos % 251;
      const chunk = pattern.subarray(off, off + n);
      pos += n;
      t.streamed += n;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

async function startBackend(name: string, opts: { ws?: boolean } = {}): Promise<TestBackend> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/big') {
      t.streamed = 0;
      return serveBig(t, req, res);
    }
    if (url.pathname === '/upload') {
      let bytes = 0;
      let sum = 0;
      let hold = Number(url.searchParams.get('hold') ?? 0);
      req.on('data', (c: Buffer) => {
        bytes += c.length;
        for (let i = 0; i < c.length; i++) sum += c[i]!;
        if (hold > 0 && bytes >= 1024 * 1024) {
          // a slow reader: stop reading for a while, the proxy must hold the client back
          req.pause();
          t.holding = true;
          setTimeout(() => {
            t.holding = false;
            req.resume();
          }, hold);
          hold = 0;
        }
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ who: name, bytes, sum }));
      });
      return;
    }
    const reply = (body: string) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name, connection: 'keep-alive' });
      res.end(body);
    };
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const info = JSON.stringify({ who: name, method: req.method, url: req.url, headers: req.headers, body });
      const wait = Number(url.searchParams.get('wait') ?? 0);
      if (wait > 0) setTimeout(() => reply(info), wait);
      else reply(info);
    });
  });
  const t: TestBackend = {
    name,
    port: 0,
    server,
    connections: 0,
    streamed: 0,
    holding: false,
    backend: (slot = 0) => ({ host: '127.0.0.1', port: t.port, nodeId: `node-${name}`, slot }),
    close: async () => {
      const done = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      wss?.clients.forEach((c) => c.terminate());
      await done;
    },
  };
  server.on('connection', () => t.connections++);
  let wss: WebSocketServer | undefined;
  if (opts.ws) {
    wss = new WebSocketServer({ server });
    wss.on('connection', (sock, req) => {
      sock.send(`hello from ${name} ${req.headers['x-forwarded-for'] ?? ''}`);
      sock.on('message', (data, isBinary) => sock.send(data, { binary: isBinary }));
    });
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.port = (server.address() as net.AddressInfo).port;
  return t;
}

/** a port nothing listens on (bound then released) */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * A backend in a child process (answers "child", closing each connection) whose connects can be
 * made to hang, like a dead container's address (SYNs unanswered): `hang()` stops the child
 * (SIGSTOP) and fills its accept queue (backlog 1), so the kernel drops further SYNs.
 */
async function hangableBackend(): Promise<{ port: number; hang: () => Promise<void>; close: () => Promise<void> }> {
  const code = `const s = require('http').createServer((req, res) => {
      res.setHeader('connection', 'close');
      res.end('child');
    });
    s.keepAliveTimeout = 1;
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => process.stdout.write(s.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  const fillers: net.Socket[] = [];
  return {
    port,
    hang: async () => {
      child.kill('SIGSTOP');
      for (let i = 0; i < 3; i++) fillers.push(net.connect({ host: '127.0.0.1', port }).on('error', () => undefined));
      await new Promise((r) => setTimeout(r, 200));
    },
    close: async () => {
      for (const f of fillers) f.destroy();
      if (child.exitCode !== null || child.signalCode !== null) return; // already gone: no exit event to wait for
      const gone = once(child, 'exit');
      child.kill('SIGKILL');
      await gone;
    },
  };
}

// ---------- routes ----------

const table = new Map<string, Backend[]>();
/** the proxy's reports of unreachable container addresses go here, when a test listens */
let onUnreachable: ((b: Backend) => void) | undefined;
const routes: RouteSource = {
  backends: (s) => table.get(s) ?? [],
  hasService: (s) => table.has(s),
  services: () => [...table.keys()],
  unreachable: (b) => onUnreachable?.(b),
};

// ---------- client ----------

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

function call(
  port: number,
  path: string,
  o: { host?: string; method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.method ?? 'GET',
        headers: { host: o.host ?? `web.${DOMAIN}`, ...o.headers },
        agent: o.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

const json = (r: Reply) => JSON.parse(r.text) as Record<string, any>;

// ---------- in-process proxy tests ----------

describe('proxy (in process)', { timeout: 180_000 }, () => {
  let proxy: ProxyServer;
  let a: TestBackend;
  let b: TestBackend;
  const extra: TestBackend[] = [];

  before(async () => {
    a = await startBackend('A', { ws: true });
    b = await startBackend('B');
    table.set('web', [a.backend()]);
    table.set('pair', [a.backend(0), b.backend(1)]);
    proxy = await startProxy({ bind: '127.0.0.1', port: 0, domain: DOMAIN, routes, logger: silent });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all([a, b, ...extra].map((t) => t?.close()));
    table.clear();
  });

  test('routes by full name, short name, any case, port in Host ignored', async () => {
    for (const host of [`web.${DOMAIN}`, `WEB.Warren.Internal:${proxy.port}`, 'web', `web:8080`, `web.${DOMAIN}.`]) {
      const r = await call(proxy.port, '/echo?x=1', { host });
      assert.equal(r.status, 200, host);
      const info = json(r);
      assert.equal(info.who, 'A');
      assert.equal(info.url, '/echo?x=1');
      assert.equal(r.headers['x-backend'], 'A');
    }
  });

  test('spreads requests round robin across two backends', async () => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < 10; i++) {
      const r = await call(proxy.port, '/', { host: `pair.${DOMAIN}` });
      assert.equal(r.status, 200);
      const who = json(r).who as string;
      seen[who] = (seen[who] ?? 0) + 1;
    }
    assert.deepEqual(seen, { A: 5, B: 5 });
  });

  test('a refused backend is retried on another (GET and POST with a body)', async () => {
    const dead = await deadPort();
    table.set('half', [{ host: '127.0.0.1', port: dead, nodeId: 'gone', slot: 0 }, b.backend(1)]);
    const before = proxy.stats().retries;
    for (let i = 0; i < 4; i++) {
      const r = await call(proxy.port, '/', { host: `half.${DOMAIN}` });
      assert.equal(r.status, 200);
      assert.equal(json(r).who, 'B');
    }
    const body = 'x'.repeat(100_000);
    const r = await call(proxy.port, '/post', { host: `half.${DOMAIN}`, method: 'POST', body });
    assert.equal(r.status, 200);
    assert.equal(json(r).body, body);
    assert.ok(proxy.stats().retries > before, 'retries counted');
  });

  test('a container address whose connect hangs is reported unreachable after the connect timeout, and the retry goes where the table then says (the published port); a refusing one is not reported', async () => {
    const hung = await hangableBackend();
    await hung.hang();
    const reported: Backend[] = [];
    try {
      const container: Backend = { host: '127.0.0.1', port: hung.port, nodeId: 'self', slot: 0, container: { id: 'c1', epoch: 3 } };
      table.set('local', [container]);
      onUnreachable = (x) => {
        reported.push(x);
        table.set('local', [a.backend()]); // the route table falls back to the published port
      };
      const before = proxy.stats();
      const t0 = performance.now();
      const r = await call(proxy.port, '/', { host: `local.${DOMAIN}` });
      const ms = performance.now() - t0;
      assert.equal(r.status, 200);
      assert.equal(json(r).who, 'A');
      assert.deepEqual(reported, [container]);
      assert.ok(ms >= 900 && ms < 3000, `one connect timeout (1 s), then the published port: ${Math.round(ms)} ms`);
      const after = proxy.stats();
      assert.equal(after.containerTries - before.containerTries, 1);
      assert.equal(after.publishedTries - before.publishedTries, 1);
      // refused: the address is reachable (the app is not listening yet): retried, not reported
      reported.length = 0;
      table.set('local', [{ ...container, port: await deadPort() }, b.backend(1)]);
      const r2 = await call(proxy.port, '/', { host: `local.${DOMAIN}` });
      assert.equal(r2.status, 200);
      assert.equal(json(r2).who, 'B');
      assert.deepEqual(reported, []);
    } finally {
      onUnreachable = undefined;
      table.delete('local');
      await hung.close();
    }
  });

  test('a container address that answered before and then hangs (an overloaded or dying backend) is not reported: the path works', async () => {
    const busy = await hangableBackend();
    const reported: Backend[] = [];
    try {
      const container: Backend = { host: '127.0.0.1', port: busy.port, nodeId: 'self', slot: 0, container: { id: 'c2', epoch: 1 } };
      table.set('local2', [container]);
      onUnreachable = (x) => void reported.push(x);
      const ok = await call(proxy.port, '/', { host: `local2.${DOMAIN}` });
      assert.equal(ok.text, 'child');
      await busy.hang();
      table.set('local2', [container, b.backend(1)]);
      // round robin: one of two requests starts at the hanging address, times out, goes to B
      const t0 = performance.now();
      for (let i = 0; i < 2; i++) assert.equal(json(await call(proxy.port, '/', { host: `local2.${DOMAIN}` })).who, 'B');
      assert.ok(performance.now() - t0 >= 900, 'the hanging address was tried (one connect timeout)');
      assert.deepEqual(reported, []);
    } finally {
      onUnreachable = undefined;
      table.delete('local2');
      await busy.close();
    }
  });

  test('reset before the response: a GET is retried, a POST whose body went out gets 502', async () => {
    // accepts, reads the request, and drops the connection without answering
    const resetter = net.createServer((sock) => sock.once('data', () => sock.destroy()));
    resetter.listen(0, '127.0.0.1');
    await once(resetter, 'listening');
    const rport = (resetter.address() as net.AddressInfo).port;
    try {
      table.set('flaky', [{ host: '127.0.0.1', port: rport, nodeId: 'r', slot: 0 }, b.backend(1)]);
      for (let i = 0; i < 3; i++) {
        const r = await call(proxy.port, '/', { host: `flaky.${DOMAIN}` });
        assert.equal(r.status, 200);
        assert.equal(json(r).who, 'B');
      }
      table.set('flaky', [{ host: '127.0.0.1', port: rport, nodeId: 'r', slot: 0 }]);
      const r = await call(proxy.port, '/', {
        host: `flaky.${DOMAIN}`,
        method: 'POST',
        body: 'not replayable',
        headers: { accept: 'application/json' },
      });
      assert.equal(r.status, 502);
      assert.equal(json(r).error.code, 'bad_gateway');
    } finally {
      await new Promise<void>((r) => resetter.close(() => r()));
    }
  });

  test('a throwing route source answers 502 and the proxy keeps serving', async () => {
    table.set('boom', [a.backend()]);
    const original = routes.backends;
    routes.backends = (s) => {
      if (s === 'boom') throw new Error('route table exploded');
      return original(s);
    };
    try {
      assert.equal((await call(proxy.port, '/', { host: `boom.${DOMAIN}` })).status, 502);
      assert.equal((await call(proxy.port, '/')).status, 200);
    } finally {
      routes.backends = original;
    }
  });

  test('failover: the only backend dies and the table moves to a new one 1 s later', async () => {
    const c = await startBackend('C');
    const d = await startBackend('D');
    extra.push(c, d);
    table.set('fo', [c.backend()]);
    assert.equal(json(await call(proxy.port, '/', { host: `fo.${DOMAIN}` })).who, 'C');
    await c.close();
    const switched = setTimeout(() => table.set('fo', [d.backend()]), 1000);
    try {
      const t0 = Date.now();
      const r = await call(proxy.port, '/after', { host: `fo.${DOMAIN}` });
      const took = Date.now() - t0;
      assert.equal(r.status, 200);
      assert.equal(json(r).who, 'D');
      assert.ok(took >= 900 && took < 5000, `answered after ${took} ms`);
    } finally {
      clearTimeout(switched);
    }
    // the same while the table is empty in between
    table.set('fo', []);
    const back = setTimeout(() => table.set('fo', [d.backend()]), 500);
    try {
      const r = await call(proxy.port, '/', { host: `fo.${DOMAIN}`, method: 'PUT', body: 'payload' });
      assert.equal(r.status, 200);
      assert.equal(json(r).body, 'payload');
    } finally {
      clearTimeout(back);
    }
  });

  test('a service removed while a request waits for a backend answers 404 at once, not after the retry window', async () => {
    const g = await startBackend('G');
    extra.push(g);
    table.set('gone', [g.backend()]);
    assert.equal(json(await call(proxy.port, '/', { host: `gone.${DOMAIN}` })).who, 'G');
    // its container stopped (the try is refused: the request waits for the table), then the service goes
    await g.close();
    const removed = setTimeout(() => table.delete('gone'), 300);
    try {
      const t0 = Date.now();
      const r = await call(proxy.port, '/', { host: `gone.${DOMAIN}`, headers: { accept: 'application/json' } });
      const took = Date.now() - t0;
      assert.equal(r.status, 404);
      assert.equal(json(r).error.code, 'unknown_service');
      // the retry window is 5 s: the 404 came with the table's change (it came after 5 s before)
      assert.ok(took >= 250 && took < 2000, `answered after ${took} ms`);
    } finally {
      clearTimeout(removed);
    }
  });

  test('404 page lists the services (HTML, escaped, and JSON)', async () => {
    const host = `nope.${DOMAIN}:${proxy.port}`;
    const html = await call(proxy.port, '/', { host, headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    assert.equal(html.status, 404);
    assert.match(String(html.headers['content-type']), /text\/html/);
    assert.ok(html.text.includes(`href="http://web.${DOMAIN}:${proxy.port}/"`), html.text);
    assert.ok(html.text.includes(`href="http://pair.${DOMAIN}:${proxy.port}/"`));

    const j = await call(proxy.port, '/', { host, headers: { accept: 'application/json' } });
    assert.equal(j.status, 404);
    const err = json(j).error;
    assert.equal(err.code, 'unknown_service');
    assert.ok(err.services.some((s: { name: string; url: string }) => s.name === 'web' && s.url.startsWith('http://web.')));

    const evil = await call(proxy.port, '/', { host: `<script>x</script>.${DOMAIN}` });
    assert.equal(evil.status, 404);
    assert.ok(!evil.text.includes('<script>'), 'host is escaped');
    assert.ok(evil.text.includes('&lt;script&gt;'));

    const ip = await call(proxy.port, '/', { host: `127.0.0.1:${proxy.port}` });
    assert.equal(ip.status, 404);
  });

  test('X-Forwarded-For is appended, -Proto and -Host set, hop-by-hop headers dropped', async () => {
    const r = await call(proxy.port, '/echo', {
      headers: {
        'x-forwarded-for': '203.0.113.7',
        connection: 'keep-alive, x-secret',
        'x-secret': 'hop',
        'x-kept': 'yes',
      },
    });
    assert.equal(r.status, 200);
    const h = json(r).headers as Record<string, string>;
    assert.equal(h['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], `web.${DOMAIN}`);
    assert.equal(h.host, `web.${DOMAIN}`);
    assert.equal(h['x-kept'], 'yes');
    assert.equal(h['x-secret'], undefined);

    const plain = json(await call(proxy.port, '/echo')).headers as Record<string, string>;
    assert.equal(plain['x-forwarded-for'], '127.0.0.1');
  });

  test('WebSocket echo through the proxy', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/chat`, { headers: { host: `web.${DOMAIN}` } });
    const messages: WebSocket.RawData[] = [];
    const waiters: Array<() => void> = [];
    ws.on('message', (m) => {
      messages.push(m);
      waiters.shift()?.();
    });
    const nextMessage = async () => {
      if (messages.length === 0) await new Promise<void>((r) => waiters.push(r));
      return messages.shift()!;
    };
    try {
      await once(ws, 'open');
      assert.equal((await nextMessage()).toString(), 'hello from A 127.0.0.1');
      ws.send('ping 1');
      assert.equal((await nextMessage()).toString(), 'ping 1');
      const big = contentChunk(0, 1024 * 1024);
      ws.send(big);
      assert.ok(Buffer.from((await nextMessage()) as Buffer).equals(big));
    } finally {
      ws.close();
      await once(ws, 'close');
    }

    // an Upgrade to an unknown host gets the 404 page and a closed socket
    const bad = new WebSocket(`ws://127.0.0.1:${proxy.port}/`, { headers: { host: `nope.${DOMAIN}` } });
    bad.on('error', () => {});
    const [, res] = (await once(bad, 'unexpected-response')) as [unknown, http.IncomingMessage];
    assert.equal(res.statusCode, 404);
    bad.terminate();
  });

  test('a long-poll answered after 3 s is not cut', async () => {
    const t0 = Date.now();
    const r = await call(proxy.port, '/poll?wait=3000');
    assert.equal(r.status, 200);
    assert.equal(json(r).who, 'A');
    assert.ok(Date.now() - t0 >= 2900);
  });

  test('keep-alive: sequential requests reuse few backend connections', async () => {
    const k = await startBackend('K');
    extra.push(k);
    table.set('ka', [k.backend()]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 200; i++) {
        const r = await call(proxy.port, `/n/${i}`, { host: `ka.${DOMAIN}`, agent });
        assert.equal(r.status, 200);
      }
    } finally {
      agent.destroy();
    }
    assert.ok(k.connections <= 2, `backend saw ${k.connections} connections for 200 requests`);
  });

  test('startProxyOnFirstFreePort falls back when the preferred port is taken', async () => {
    const blocker = net.createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const taken = (blocker.address() as net.AddressInfo).port;
    const p = await startProxyOnFirstFreePort({
      bind: '127.0.0.1',
      domain: DOMAIN,
      routes,
      logger: silent,
      preferred: taken,
      fallback: 0,
    });
    try {
      assert.notEqual(p.port, taken);
      assert.equal((await call(p.port, '/')).status, 200);
    } finally {
      await p.close();
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});

describe('proxy: no running replica', { timeout: 120_000 }, () => {
  let proxy: ProxyServer;

  before(async () => {
    table.set('empty', []);
    proxy = await startProxy({ bind: '127.0.0.1', port: 0, domain: DOMAIN, routes, logger: silent, retryWindowMs: 400 });
  });
  after(async () => {
    await proxy?.close();
    table.clear();
  });

  test('503 page (HTML and JSON) after the retry window', async () => {
    const t0 = Date.now();
    const [html, j] = await Promise.all([
      call(proxy.port, '/', { host: `empty.${DOMAIN}`, headers: { accept: 'text/html' } }),
      call(proxy.port, '/', { host: 'empty', headers: { accept: 'application/json, text/plain, */*' } }),
    ]);
    assert.ok(Date.now() - t0 >= 350, 'waited for a replica first');
    assert.equal(html.status, 503);
    assert.match(String(html.headers['content-type']), /text\/html/);
    assert.ok(html.text.includes('empty has no running replica right now; Warren is starting one'), html.text);
    assert.equal(j.status, 503);
    assert.deepEqual(json(j).error.code, 'no_replica');
    assert.match(json(j).error.message, /empty has no running replica/);
    assert.ok(proxy.stats().errors >= 2);
  });

  test('503 when every listed backend refuses', async () => {
    table.set('refusing', [{ host: '127.0.0.1', port: await deadPort(), nodeId: 'n', slot: 0 }]);
    const r = await call(proxy.port, '/', { host: `refusing.${DOMAIN}`, headers: { accept: 'application/json' } });
    assert.equal(r.status, 503);
    assert.equal(json(r).error.code, 'replica_unreachable');
  });
});

// ---------- streaming, in a child process proxy (its RSS measured alone) ----------

const PROXY_MODULE = fileURLToPath(new URL('../../src/routing/proxy.ts', import.meta.url));
const CHILD = `
const { startProxy } = await import(process.env.PROXY_MODULE);
const { pino } = await import('pino');
const table = JSON.parse(process.env.PROXY_ROUTES);
const p = await startProxy({
  bind: '127.0.0.1', port: 0, domain: 'warren.internal', logger: pino({ level: 'silent' }),
  routes: { backends: (s) => table[s] ?? [], hasService: (s) => s in table, services: () => Object.keys(table) },
});
process.on('message', async (m) => {
  if (m === 'mem') {
    // after a full GC: what the proxy really holds, not garbage waiting for collection
    global.gc();
    const u = process.memoryUsage();
    process.send({ rss: u.rss, live: u.heapUsed + u.external });
  }
  if (m === 'close') { await p.close(); process.disconnect(); }
});
process.send({ port: p.port });
`;

describe('proxy: streaming (child process)', { timeout: 300_000 }, () => {
  let child: ChildProcess;
  let port = 0;
  let backend: TestBackend;

  interface Mem {
    rss: number;
    live: number;
  }
  const mem = async (): Promise<Mem> => {
    const reply = once(child, 'message');
    child.send('mem');
    return (await reply)[0] as Mem;
  };
  const MB = 1024 * 1024;
  /**
   * Samples the child's memory while a transfer is stalled (reader paused) and asserts that
   * it holds no more than socket-buffer-sized amounts: live memory (heap + buffers after a GC)
   * and settled RSS (the last sample; the first ones still carry V8's young-generation growth).
   */
  const assertFlat = async (t: { diagnostic(s: string): void }, base: Mem, samples: number) => {
    let peak = base.rss;
    let last = base;
    for (let i = 0; i < samples; i++) {
      await new Promise((r) => setTimeout(r, 75));
      last = await mem();
      peak = Math.max(peak, last.rss);
    }
    const live = last.live - base.live;
    const rssGrowth = last.rss - base.rss;
    t.diagnostic(
      `proxy while stalled: live +${(live / MB).toFixed(1)} MB, RSS +${(rssGrowth / MB).toFixed(1)} MB (peak +${((peak - base.rss) / MB).toFixed(1)} MB)`,
    );
    assert.ok(live < 16 * MB, `proxy holds ${(live / MB).toFixed(1)} MB more while the transfer is stalled`);
    assert.ok(rssGrowth < 30 * MB, `proxy RSS grew ${(rssGrowth / MB).toFixed(1)} MB`);
  };

  before(async () => {
    backend = await startBackend('S');
    child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', CHILD], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, PROXY_MODULE, PROXY_ROUTES: JSON.stringify({ files: [backend.backend()] }) },
    });
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`proxy child exited early (code ${code})`);
    });
    port = ((await Promise.race([once(child, 'message'), exited]))[0] as { port: number }).port;
    exited.catch(() => {});
    // warm up (loads undici's parser, opens the pool) before measuring
    const r = await call(port, '/big', { host: `files.${DOMAIN}`, headers: { range: 'bytes=0-65535' } });
    assert.equal(r.status, 206);
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exit = once(child, 'exit');
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      if (child.connected) child.send('close');
      else child.kill();
      await exit;
      clearTimeout(kill);
    }
    await backend?.close();
  });

  test('50 MB streamed download: backpressure holds while the client pauses, RSS flat', async (t) => {
    const base = await mem();
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/big', headers: { host: `files.${DOMAIN}` }, agent: false }, resolve)
        .on('error', reject);
    });
    assert.equal(res.statusCode, 200);
    let bytes = 0;
    let inOrder = true;
    let paused = false;
    const ended = new Promise<void>((resolve, reject) => {
      res.on('end', resolve).on('error', reject);
    });
    await new Promise<void>((resolve) => {
      res.on('data', (c: Buffer) => {
        if (c[0] !== bytes % 251) inOrder = false; // byte at offset o is o % 251
        bytes += c.length;
        if (!paused && bytes >= 1024 * 1024) {
          paused = true;
          res.pause();
          resolve();
        }
      });
    });
    // the client reads nothing now: the proxy must stop reading from the backend
    await assertFlat(t, base, 6);
    const streamedWhilePaused = backend.streamed;
    res.resume();
    await ended;
    assert.equal(bytes, BIG);
    assert.ok(inOrder, 'content in order');
    // what the backend got to write is bounded by (loopback-autotuned) socket buffers, not by
    // the body size; the proxy itself holds next to nothing (assertFlat above)
    assert.ok(streamedWhilePaused < 40 * MB, `backend wrote ${streamedWhilePaused} bytes while the client paused`);
    t.diagnostic(`backend got ahead of the paused client by ${((streamedWhilePaused - MB) / MB).toFixed(1)} MB (socket buffers)`);
  });

  test('Range request gets 206 with the right bytes', async () => {
    const from = 10 * 1024 * 1024 + 17;
    const to = from + 99_999;
    const r = await call(port, '/big', { host: `files.${DOMAIN}`, headers: { range: `bytes=${from}-${to}` } });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes ${from}-${to}/${BIG}`);
    assert.equal(r.headers['content-length'], '100000');
    assert.ok(r.body.equals(contentChunk(from, to + 1)));
  });

  test('50 MB streamed upload: reaches the backend whole, backpressure while it stalls, RSS flat', async (t) => {
    const chunk = contentChunk(0, 64 * 1024);
    const chunks = BIG / chunk.length;
    const expectedSum = chunk.reduce((acc, x) => acc + x, 0) * chunks;
    const base = await mem();
    let written = 0;
    const done = new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/upload?hold=600',
          method: 'POST',
          agent: false,
          // no content-length: chunked, as a client streaming a file of unknown size
          headers: { host: `files.${DOMAIN}`, 'content-type': 'application/octet-stream' },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => {
            const body = Buffer.concat(parts);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString() });
          });
        },
      );
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent < chunks) {
          sent++;
          written += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    while (!backend.holding) await new Promise((r) => setTimeout(r, 10));
    await assertFlat(t, base, 5);
    const writtenWhileHeld = written;
    const result = await done;
    assert.equal(result.status, 200);
    const info = json(result);
    assert.equal(info.bytes, BIG);
    assert.equal(info.sum, expectedSum);
    assert.ok(writtenWhileHeld < 40 * MB, `client got to write ${writtenWhileHeld} bytes while the backend stalled`);
    t.diagnostic(`client got ahead of the stalled backend by ${((writtenWhileHeld - MB) / MB).toFixed(1)} MB (socket buffers)`);
  });
});
