import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LOGGER = fileURLToPath(new URL('../../src/routing/worker-logger.ts', import.meta.url));

test('the worker logger writes pino-style JSON lines at and above its level', () => {
  const script = `
    const { createWorkerLogger } = await import(${JSON.stringify(LOGGER)});
    const log = createWorkerLogger('info', { name: 'n1', component: 'proxy-worker', worker: 2 });
    log.debug({ a: 1 }, 'hidden');
    log.info({ port: 80 }, 'listening');
    log.warn('plain');
    const e = new Error('boom'); e.code = 'ECONNREFUSED';
    log.error({ err: e, service: 'web' }, 'failed');
    log.child({ extra: true }).info('child');
    console.error(JSON.stringify([log.isLevelEnabled('debug'), log.isLevelEnabled('info'), log.isLevelEnabled('error')]));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 4);
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [[30, 'listening'], [40, 'plain'], [50, 'failed'], [30, 'child']]);
  assert.equal(lines[0].port, 80);
  assert.equal(lines[0].name, 'n1');
  assert.equal(lines[0].worker, 2);
  assert.equal(typeof lines[0].pid, 'number');
  assert.equal(typeof lines[0].time, 'number');
  assert.deepEqual({ message: lines[2].err.message, code: lines[2].err.code, type: lines[2].err.type }, { message: 'boom', code: 'ECONNREFUSED', type: 'Error' });
  assert.equal(lines[3].extra, true);
});
