/** The stack commands' pure rendering: plan lines, service lines, ls and ps rows. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replicaRows, stackRows } from '../../src/cli/stack-commands.ts';
import { describeStep, serviceLine } from '../../src/cli/stack-deploy.ts';
import type { ReplicaView, ServiceView } from '../../src/core/service-types.ts';

process.env.NO_COLOR = '1';

const replica = (r: Partial<ReplicaView>): ReplicaView => ({ slot: 0, nodeId: 'n1', nodeName: 'nas', generation: 2, state: 'running', ports: [], restarts: 0, since: 0, ...r });
const view = (name: string, replicas: ReplicaView[], extra: Partial<ServiceView> = {}): ServiceView => ({
  spec: { name, stack: 'shop', image: 'x', command: [], env: {}, ports: [], volumes: [], restart: 'always', replicas: replicas.length, constraints: [], generation: 2, createdAt: 0, updatedAt: 0 },
  desired: replicas.length,
  running: replicas.filter((r) => r.state === 'running').length,
  replicas,
  ...extra,
});

test('plan lines', () => {
  assert.equal(describeStep({ service: 'shop-web', action: 'create' }), 'shop-web: create');
  assert.equal(describeStep({ service: 'shop-web', action: 'update', restarts: true }), 'shop-web: update (containers replaced, one replica at a time)');
  assert.equal(describeStep({ service: 'shop-web', action: 'update', restarts: false }), 'shop-web: update (replicas or placement only)');
  assert.equal(describeStep({ service: 'shop-old', action: 'remove' }), 'shop-old: remove');
});

test('a service line counts only replicas of the current generation, and says why one is not running', () => {
  assert.equal(serviceLine(view('shop-web', [replica({}), replica({ slot: 1, generation: 1 })])), 'shop-web: 1/2 running');
  assert.equal(serviceLine(view('shop-web', [replica({ state: 'pending', reason: 'waiting for shop-db to be healthy (it is starting)' })])), 'shop-web: 0/1 running (waiting for shop-db to be healthy (it is starting))');
  assert.equal(serviceLine(view('shop-web', [replica({ state: 'pulling', progress: '3.0 MB / 9.0 MB' })])), 'shop-web: 0/1 running (pulling 3.0 MB / 9.0 MB)');
  assert.equal(serviceLine(view('shop-web', [replica({ state: 'unassigned', nodeId: null, nodeName: undefined })], { pending: 'no alive node' })), 'shop-web: 0/1 running (no alive node)');
});

test('ls and ps rows', () => {
  const stack = { name: 'shop', createdAt: 0, updatedAt: 1000, services: [view('shop-web', [replica({})]), view('shop-db', [replica({ state: 'starting' })])] };
  assert.deepEqual(stackRows([stack], 61_000), [['shop', '2', '1/2', '1m0s ago']]);
  assert.deepEqual(replicaRows([view('shop-db', [replica({ health: 'unhealthy', addr: '10.0.0.2', ports: [{ container: 5432, protocol: 'tcp', hostPort: 32768 }] }), replica({ slot: 1, state: 'pulling', progress: '1.0 MB / 9.0 MB' })])]), [
    ['shop-db', '0', 'nas', 'running (unhealthy)', '10.0.0.2:32768 -> 5432/tcp'],
    ['shop-db', '1', 'nas', 'pulling', 'pulling: 1.0 MB / 9.0 MB'],
  ]);
});
