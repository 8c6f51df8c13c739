import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gateReason, healthOf, type Dependency, type GateView } from '../../src/core/depends-gate.ts';
import type { ReplicaStatus } from '../../src/core/service-types.ts';

const st = (service: string, state: ReplicaStatus['state'], extra: Partial<ReplicaStatus> = {}): ReplicaStatus => ({
  service, slot: 0, nodeId: 'n', generation: 1, state, addr: '127.0.0.1', ports: [], restarts: 0, updatedAt: 0, ...extra,
});
const view = (services: Record<string, ReplicaStatus[]>): GateView => ({ exists: (s) => s in services, statuses: (s) => services[s] ?? [] });
const dep = (service: string, condition: Dependency['condition'], required = true): Dependency => ({ service, condition, required });

test('service_started: any running (or completed) replica opens the gate', () => {
  assert.equal(gateReason([dep('db', 'service_started')], view({ db: [st('db', 'pending')] })), 'waiting for db to start');
  assert.equal(gateReason([dep('db', 'service_started')], view({ db: [st('db', 'pending'), st('db', 'running')] })), undefined);
  assert.equal(gateReason([dep('db', 'service_started')], view({ db: [st('db', 'exited', { reason: 'exited with code 0' })] })), undefined);
});

test('service_healthy: only a running, healthy replica opens it; the reason says what is missing', () => {
  const d = [dep('db', 'service_healthy')];
  assert.equal(gateReason(d, view({ db: [] })), 'waiting for db to be healthy (it is not running yet)');
  assert.equal(gateReason(d, view({ db: [st('db', 'running')] })), 'waiting for db to be healthy (it has no healthcheck)');
  assert.equal(gateReason(d, view({ db: [st('db', 'running', { health: 'starting' })] })), 'waiting for db to be healthy (it is starting)');
  assert.equal(gateReason(d, view({ db: [st('db', 'running', { health: 'unhealthy' })] })), 'waiting for db to be healthy (it is unhealthy)');
  assert.equal(gateReason(d, view({ db: [st('db', 'running', { health: 'healthy' })] })), undefined);
});

test('service_completed_successfully: an exit with code 0', () => {
  const d = [dep('init', 'service_completed_successfully')];
  assert.equal(gateReason(d, view({ init: [st('init', 'running')] })), 'waiting for init to complete successfully');
  assert.equal(gateReason(d, view({ init: [st('init', 'exited', { reason: 'exited with code 1' })] })), 'waiting for init to complete successfully (exited with code 1)');
  assert.equal(gateReason(d, view({ init: [st('init', 'exited', { reason: 'exited with code 0' })] })), undefined);
  assert.equal(gateReason(d, view({ init: [st('init', 'exited', { reason: 'exited with code 01' })] })), 'waiting for init to complete successfully (exited with code 01)');
});

test('a missing dependency holds only when required; every dependency must hold', () => {
  assert.equal(gateReason([dep('gone', 'service_started')], view({})), 'waiting for gone (it is not deployed)');
  assert.equal(gateReason([dep('gone', 'service_started', false)], view({})), undefined);
  const both = [dep('a', 'service_started'), dep('b', 'service_healthy')];
  assert.equal(gateReason(both, view({ a: [st('a', 'running')], b: [st('b', 'running', { health: 'starting' })] })), 'waiting for b to be healthy (it is starting)');
  assert.equal(gateReason(undefined, view({})), undefined);
});

test("Docker's status text → health", () => {
  assert.equal(healthOf('Up 5 seconds (healthy)'), 'healthy');
  assert.equal(healthOf('Up 2 minutes (unhealthy)'), 'unhealthy');
  assert.equal(healthOf('Up 1 second (health: starting)'), 'starting');
  assert.equal(healthOf('Up 3 hours'), undefined);
  assert.equal(healthOf('Exited (0) 2 seconds ago'), undefined);
});
