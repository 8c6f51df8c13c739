/**
 * ServiceManager.create and remove through an ambiguous etcd error: etcd commits the create, the answer is
 * lost ("leader changed"), apiEtcdCall retries, and the retry's compare fails on the write the
 * first attempt made. Found by `npm run chaos -- --seed 7 --nodes 5 --duration 240` (a create
 * answered 409 "already exists" right after the service was removed); and remove likewise (seed
 * 47 with every fault: a remove answered 404 for a service it had removed). A fake etcd (a Map)
 * with the transaction calls create and remove use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { ServiceManager } from '../../src/runtime/service-manager.ts';
import { KEYS } from '../../src/consensus/cluster-store.ts';
import { isUserError } from '../../src/core/errors.ts';

/**
 * A Map behind the calls create and remove make, with a revision per write; `loseAnswers` commits
 * and then throws that many times (our retry sees it), `hiddenRetries` commits and then answers
 * as a second attempt of the same call would (the etcd client's own retry, which we never see).
 */
function fakeEtcd(loseAnswers: number, hiddenRetries = 0) {
  const kv = new Map<string, { value: string; mod: number }>();
  let rev = 1;
  let lose = loseAnswers;
  let hidden = hiddenRetries;
  const answer = async <T>(apply: () => T, again: () => T): Promise<T> => {
    const first = apply();
    if (lose-- > 0) throw new Error('etcdserver: leader changed');
    if (hidden-- > 0) return again();
    return first;
  };
  const client = {
    delete: () => ({ key: (key: string) => ({ key, op: 'delete' as const }) }),
    put: (key: string) => ({ value: (v: string) => ({ key, v, op: 'put' as const }) }),
    get: (key: string) => ({
      string: async () => kv.get(key)?.value ?? null,
      exec: async () => ({ kvs: kv.has(key) ? [{ value: Buffer.from(kv.get(key)!.value), mod_revision: String(kv.get(key)!.mod) }] : [] }),
    }),
    if: (key: string, target: 'Create' | 'Mod', _op: '==', n: number | string) => ({
      then: (w: { key: string; v?: string; op: 'put' | 'delete' }) => ({
        commit: () => {
          const holds = () => (target === 'Create' ? !kv.has(key) : kv.get(key)?.mod === Number(n));
          return answer(
            () => {
              const succeeded = holds();
              if (succeeded && w.op === 'put') kv.set(w.key, { value: w.v!, mod: ++rev });
              if (succeeded && w.op === 'delete') kv.delete(w.key);
              return { succeeded };
            },
            () => ({ succeeded: holds() }),
          );
        },
      }),
    }),
  };
  return { value: (key: string) => kv.get(key)?.value, raw: kv, client: client as unknown as Etcd3 };
}

const put = (etcd: ReturnType<typeof fakeEtcd>, name: string, value: string) => etcd.raw.set(KEYS.servicePrefix + name, { value, mod: 1 });

const catalog = { ready: true, service: (_name: string): unknown => undefined, assignment: () => undefined, status: () => undefined, nodeName: () => undefined };
const manager = (client: Etcd3) => new ServiceManager({ catalog: catalog as never, client: () => client, engine: undefined as never, selfId: 'n1' });
const input = { name: 'web', image: 'nginx', replicas: 1 } as never;

test('a create whose first attempt committed but lost its answer succeeds on the retry (not 409)', async () => {
  const etcd = fakeEtcd(1);
  const view = await manager(etcd.client).create(input);
  assert.equal(view.spec.name, 'web');
  assert.equal(etcd.value(KEYS.servicePrefix + 'web'), JSON.stringify(view.spec));
});

test('a create of a name someone else holds is still 409', async () => {
  const etcd = fakeEtcd(0);
  put(etcd, 'web', JSON.stringify({ name: 'web', image: 'other' }));
  await assert.rejects(manager(etcd.client).create(input), (err: unknown) => isUserError(err) && (err as { status?: number }).status === 409);
  // and after a lost answer too: the stored spec is someone else's
  const lost = fakeEtcd(1);
  put(lost, 'web', JSON.stringify({ name: 'web', image: 'other' }));
  await assert.rejects(manager(lost.client).create(input), (err: unknown) => isUserError(err) && (err as { status?: number }).status === 409);
});

test('a remove whose first attempt committed but lost its answer is a success on the retry (not 404)', async () => {
  const etcd = fakeEtcd(1);
  put(etcd, 'web', '{}');
  assert.equal(await manager(etcd.client).remove('web'), true);
  assert.equal(etcd.raw.has(KEYS.servicePrefix + 'web'), false);
  // a name etcd does not hold is still "not found", retried or not
  assert.equal(await manager(etcd.client).remove('nope'), false);
  assert.equal(await manager(fakeEtcd(1).client).remove('web'), false);
});

test('a remove retried by the etcd client itself (committed, then "nothing to delete") is a success', async () => {
  const etcd = fakeEtcd(0, 1);
  put(etcd, 'web', '{}');
  assert.equal(await manager(etcd.client).remove('web'), true);
  assert.equal(etcd.raw.has(KEYS.servicePrefix + 'web'), false);
});

test('a remove answers from etcd, not from a catalog that has not heard of the service yet', async () => {
  const etcd = fakeEtcd(0);
  put(etcd, 'web', '{}');
  // the test's catalog knows no service at all
  assert.equal(await manager(etcd.client).remove('web'), true);
  assert.equal(etcd.raw.size, 0);
});
