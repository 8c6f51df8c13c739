/**
 * ServiceManager.create through an ambiguous etcd error: etcd commits the create, the answer is
 * lost ("leader changed"), apiEtcdCall retries, and the retry's compare fails on the write the
 * first attempt made. Found by `npm run chaos -- --seed 7 --nodes 5 --duration 240` (a create
 * answered 409 "already exists" right after the service was removed). A fake etcd (a Map) with
 * the transaction calls create uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { ServiceManager } from '../../src/runtime/service-manager.ts';
import { KEYS } from '../../src/consensus/cluster-store.ts';
import { isUserError } from '../../src/core/errors.ts';

/** A Map behind the calls create makes; `loseAnswers` commits and then throws that many times. */
function fakeEtcd(loseAnswers: number) {
  const kv = new Map<string, string>();
  let lose = loseAnswers;
  const client = {
    delete: () => ({
      key: (key: string) => ({
        exec: async () => {
          const deleted = kv.delete(key) ? 1 : 0;
          if (lose-- > 0) throw new Error('etcdserver: leader changed');
          return { deleted: String(deleted) };
        },
      }),
    }),
    put: (key: string) => ({ value: (v: string) => ({ key, v }) }),
    get: (key: string) => ({ string: async () => kv.get(key) ?? null }),
    if: (key: string, _target: 'Create', _op: '==', _n: 0) => ({
      then: (put: { key: string; v: string }) => ({
        commit: async () => {
          const succeeded = !kv.has(key);
          if (succeeded) kv.set(put.key, put.v);
          if (lose-- > 0) throw new Error('etcdserver: leader changed');
          return { succeeded };
        },
      }),
    }),
  };
  return { kv, client: client as unknown as Etcd3 };
}

const catalog = { ready: true, service: (_name: string): unknown => undefined, assignment: () => undefined, status: () => undefined, nodeName: () => undefined };
const manager = (client: Etcd3) => new ServiceManager({ catalog: catalog as never, client: () => client, engine: undefined as never, selfId: 'n1' });
const input = { name: 'web', image: 'nginx', replicas: 1 } as never;

test('a create whose first attempt committed but lost its answer succeeds on the retry (not 409)', async () => {
  const etcd = fakeEtcd(1);
  const view = await manager(etcd.client).create(input);
  assert.equal(view.spec.name, 'web');
  assert.equal(etcd.kv.get(KEYS.servicePrefix + 'web'), JSON.stringify(view.spec));
});

test('a create of a name someone else holds is still 409', async () => {
  const etcd = fakeEtcd(0);
  etcd.kv.set(KEYS.servicePrefix + 'web', JSON.stringify({ name: 'web', image: 'other' }));
  await assert.rejects(manager(etcd.client).create(input), (err: unknown) => isUserError(err) && (err as { status?: number }).status === 409);
  // and after a lost answer too: the stored spec is someone else's
  const lost = fakeEtcd(1);
  lost.kv.set(KEYS.servicePrefix + 'web', JSON.stringify({ name: 'web', image: 'other' }));
  await assert.rejects(manager(lost.client).create(input), (err: unknown) => isUserError(err) && (err as { status?: number }).status === 409);
});

test('a remove whose first attempt committed but lost its answer is a success on the retry (not 404)', async () => {
  const etcd = fakeEtcd(1);
  etcd.kv.set(KEYS.servicePrefix + 'web', '{}');
  const knows = { ...catalog, service: (name: string) => (name === 'web' ? {} : undefined) };
  const m = new ServiceManager({ catalog: knows as never, client: () => etcd.client, engine: undefined as never, selfId: 'n1' });
  assert.equal(await m.remove('web'), true);
  assert.equal(etcd.kv.has(KEYS.servicePrefix + 'web'), false);
  // a name nobody knows is still "not found", retried or not
  assert.equal(await m.remove('nope'), false);
  assert.equal(await manager(fakeEtcd(1).client).remove('web'), false);
});
