import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planReconcile, restartDelayMs, type ActualContainer, type DesiredReplica, type ReconcileInput } from '../../src/core/reconcile-plan.ts';
import type { ContainerSpec } from '../../src/core/service-types.ts';

const spec = (restart: ContainerSpec['restart'] = 'always'): ContainerSpec => ({ image: 'img:1', command: [], env: {}, ports: [], volumes: [], restart }) as unknown as ContainerSpec;
const want = (service: string, slot = 0, generation = 1, restart?: ContainerSpec['restart']): DesiredReplica => ({ service, slot, generation, spec: spec(restart) });
const has = (id: string, service: string, state: ActualContainer['state'], slot = 0, generation = 1, exitCode?: number): ActualContainer =>
  ({ id, service, slot, generation, state, ports: [], ...(exitCode === undefined ? {} : { exitCode }) });
const plan = (p: Partial<ReconcileInput>) => planReconcile({ now: 1000, fenced: false, desired: [], actual: [], memory: {}, busy: new Set(), ...p });

test('a wanted replica with no container is created; one with a created container is started', () => {
  assert.deepEqual(plan({ desired: [want('a')] }), [{ kind: 'create', replica: want('a') }]);
  assert.deepEqual(plan({ desired: [want('a')], actual: [has('c1', 'a', 'created')] }), [{ kind: 'start', containerId: 'c1', replica: want('a'), restart: false }]);
});

test('a running container nobody wants is stopped gracefully and removed; a stopped one is just removed', () => {
  for (const state of ['running', 'paused', 'restarting'] as const) {
    assert.deepEqual(plan({ actual: [has('c1', 'a', state)] }), [{ kind: 'remove', containerId: 'c1', reason: 'not assigned to this node', graceful: true }], state);
  }
  for (const state of ['exited', 'created', 'dead'] as const) {
    assert.deepEqual(plan({ actual: [has('c1', 'a', state)] }), [{ kind: 'remove', containerId: 'c1', reason: 'not assigned to this node' }], state);
  }
});

test('an old generation goes gracefully while the new one is created (a rolling update on this node)', () => {
  const actions = plan({ desired: [want('a', 0, 2)], actual: [has('old', 'a', 'running', 0, 1)] });
  assert.deepEqual(actions, [
    { kind: 'remove', containerId: 'old', reason: 'not assigned to this node', graceful: true },
    { kind: 'create', replica: want('a', 0, 2) },
  ]);
});

test('duplicates: the running one is kept, the others go (gracefully when running); a dead one is removed at once', () => {
  const actions = plan({ desired: [want('a')], actual: [has('x', 'a', 'exited'), has('r', 'a', 'running'), has('r2', 'a', 'running')] });
  assert.deepEqual(actions, [
    { kind: 'remove', containerId: 'r2', reason: 'duplicate', graceful: true },
    { kind: 'remove', containerId: 'x', reason: 'duplicate' },
  ]);
  assert.deepEqual(plan({ desired: [want('a')], actual: [has('d', 'a', 'dead')] }), [
    { kind: 'remove', containerId: 'd', reason: 'Docker marked it dead' },
    { kind: 'create', replica: want('a') },
  ]);
});

test('fenced: every active container is stopped, nothing is created or removed', () => {
  const actions = plan({ fenced: true, desired: [want('a')], actual: [has('r', 'a', 'running'), has('p', 'b', 'paused'), has('e', 'c', 'exited')] });
  assert.deepEqual(actions.map((a) => [a.kind, 'containerId' in a ? a.containerId : '']), [['stop', 'r'], ['stop', 'p']]);
});

test('busy replicas and containers being removed are left alone', () => {
  assert.deepEqual(plan({ desired: [want('a')], busy: new Set(['a/0/1']) }), []);
  assert.deepEqual(plan({ actual: [has('c', 'a', 'running')], busy: new Set(['a/0/1']) }), []);
  assert.deepEqual(plan({ actual: [has('c', 'a', 'removing')] }), []);
});

test('an exited replica restarts per its policy, after its back-off', () => {
  const exited = (code: number) => [has('c', 'a', 'exited', 0, 1, code)];
  const restart = { kind: 'start', containerId: 'c', restart: true };
  const pick = (as: ReturnType<typeof plan>) => as.map((a) => ({ kind: a.kind, containerId: 'containerId' in a ? a.containerId : '', restart: 'restart' in a ? a.restart : undefined }));
  assert.deepEqual(pick(plan({ desired: [want('a', 0, 1, 'always')], actual: exited(0) })), [restart]);
  assert.deepEqual(plan({ desired: [want('a', 0, 1, 'on-failure')], actual: exited(0) }), []);
  assert.deepEqual(pick(plan({ desired: [want('a', 0, 1, 'on-failure')], actual: exited(1) })), [restart]);
  assert.deepEqual(plan({ desired: [want('a', 0, 1, 'no')], actual: exited(1) }), []);
  assert.deepEqual(plan({ desired: [want('a')], actual: exited(1), memory: { 'a/0/1': { restarts: 2, notBefore: 1001 } } }), []);
  assert.deepEqual(pick(plan({ desired: [want('a')], actual: exited(1), memory: { 'a/0/1': { restarts: 2, notBefore: 1000 } } })), [restart]);
  assert.deepEqual(plan({ desired: [want('a')], memory: { 'a/0/1': { restarts: 1, notBefore: 5000 } } }), []);
});

test('restart back-off doubles from 0.5 s and stops at 30 s', () => {
  assert.deepEqual([0, 1, 2, 5, 6, 7, 50].map(restartDelayMs), [500, 1000, 2000, 16_000, 30_000, 30_000, 30_000]);
});
